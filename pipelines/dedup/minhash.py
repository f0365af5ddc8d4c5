"""Vectorized MinHash signatures and LSH band hashes.

The permutations are datasketch's (2.0) "affine" schemes, drawn the same way from the same seed:
a shingle hash h is pre-mixed with MurmurHash3's finalizer, then permutation k maps it to
a_k * h + b_k mod 2^w (a_k odd, so each is a bijection). With `num_bits=64` a signature equals
`datasketch.MinHash(num_perm, seed, hashfunc=<our shingle hash>, scheme="affine64")` value for
value; with `num_bits=32` (shingle hashes truncated to their low 32 bits) it equals
`scheme="affine32"`. Instead of one Python call per shingle, a batch of documents is one array of
shingle hashes, and each block of documents is one (permutations x shingles) broadcast followed by
a per-document `np.minimum.reduceat`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipelines.dedup.shingles import _PRIME, fmix64

# Shingle-hash x permutation cells computed at once (bounds a worker's memory: 1M cells = 8 MB).
_BLOCK_CELLS = 1 << 20

_FMIX32 = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35))


def fmix32(values: np.ndarray) -> np.ndarray:
    s1, m1, s2, m2 = _FMIX32
    values = values ^ (values >> s1)
    values = values * m1
    values = values ^ (values >> s2)
    values = values * m2
    return values ^ (values >> s1)


def datasketch_permutations(num_perm: int, seed: int, num_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) exactly as datasketch 2.0 draws them for scheme affine{num_bits}."""
    dtype = np.uint64 if num_bits == 64 else np.uint32
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << (num_bits - 1), num_perm, dtype=dtype) * dtype(2) + dtype(1)
    b = gen.randint(0, 1 << num_bits, num_perm, dtype=dtype)
    return a, b


@dataclass(frozen=True)
class MinHasher:
    """MinHash of shingle-hash arrays. `num_perm` = bands x rows of the LSH that uses it."""

    num_perm: int = 112
    seed: int = 1  # datasketch's default seed
    num_bits: int = 64  # 64: datasketch affine64; 32: affine32 (hashes truncated to 32 bits)
    _a: np.ndarray = field(init=False, repr=False, compare=False)
    _b: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.num_bits not in (32, 64):
            raise ValueError(f"num_bits must be 32 or 64, not {self.num_bits}")
        a, b = datasketch_permutations(self.num_perm, self.seed, self.num_bits)
        object.__setattr__(self, "_a", a)
        object.__setattr__(self, "_b", b)

    @property
    def dtype(self):
        return np.uint64 if self.num_bits == 64 else np.uint32

    @property
    def empty_value(self) -> int:
        """The value of every slot of an empty document's signature (datasketch's too)."""
        return (1 << self.num_bits) - 1

    def _premix(self, hashes: np.ndarray) -> np.ndarray:
        if self.num_bits == 64:
            return fmix64(hashes.astype(np.uint64, copy=False))
        return fmix32((hashes & np.uint64(0xFFFFFFFF)).astype(np.uint32))

    def signatures(self, shingle_arrays: list[np.ndarray]) -> np.ndarray:
        """(num_docs, num_perm) signatures; a document without shingles gets `empty_value`."""
        out = np.full((len(shingle_arrays), self.num_perm), self.empty_value, dtype=self.dtype)
        sizes = np.array([len(s) for s in shingle_arrays], dtype=np.int64)
        rows = np.flatnonzero(sizes)
        if len(rows) == 0:
            return out
        # Groups of documents whose shingles fit one block, so memory stays bounded.
        cells_per_perm = max(1, _BLOCK_CELLS // self.num_perm)
        start = 0
        while start < len(rows):
            stop, total = start, 0
            while stop < len(rows) and (stop == start or total + sizes[rows[stop]] <= cells_per_perm):
                total += sizes[rows[stop]]
                stop += 1
            group = rows[start:stop]
            if sizes[group[0]] > cells_per_perm:  # one huge document: its minimum over slices
                hashes = shingle_arrays[group[0]]
                for first in range(0, len(hashes), cells_per_perm):
                    piece = hashes[first:first + cells_per_perm]
                    out[group[0]] = np.minimum(out[group[0]], self._signatures_of(piece, np.array([len(piece)]))[0])
            else:
                out[group] = self._signatures_of(np.concatenate([shingle_arrays[i] for i in group]), sizes[group])
            start = stop
        return out

    def _signatures_of(self, hashes: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        """Signatures of documents whose shingles fit one block: (num_perm, num_shingles) permuted
        values, row-major so each document's minimum is a contiguous reduceat along the rows."""
        mixed = self._premix(hashes)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        permuted = np.multiply(self._a[:, None], mixed[None, :])
        np.add(permuted, self._b[:, None], out=permuted)
        return np.minimum.reduceat(permuted, offsets, axis=1).T


def band_hashes(signatures: np.ndarray, num_bands: int, rows_per_band: int) -> np.ndarray:
    """(num_docs, num_bands) uint64: one hash per band of `rows_per_band` consecutive signature
    values (two documents share a bucket in band i iff their rows of band i are all equal, up to
    64-bit hash collisions)."""
    if signatures.shape[1] < num_bands * rows_per_band:
        raise ValueError(f"signatures have {signatures.shape[1]} values; {num_bands} bands x "
                         f"{rows_per_band} rows need {num_bands * rows_per_band}")
    values = signatures.astype(np.uint64, copy=False)
    out = np.empty((len(signatures), num_bands), dtype=np.uint64)
    for band in range(num_bands):
        block = values[:, band * rows_per_band: (band + 1) * rows_per_band]
        digest = fmix64(block[:, 0] + np.uint64(band))
        for row in range(1, rows_per_band):
            digest = fmix64(digest * _PRIME + block[:, row])
        out[:, band] = digest
    return out
