"""Export a split to Megatron-LM's indexed dataset (`<prefix>.bin` + `<prefix>.idx`), and read one.

The layout is that of megatron/core/datasets/indexed_dataset.py (_IndexWriter / _IndexReader):

    .idx: b"MMIDIDX\\x00\\x00"  | <Q version = 1 | <B dtype code | <Q sequence count
          | <Q document count | int32 sequence lengths | int64 sequence pointers (byte offsets
          into .bin) | int64 document indices (sequence index where each document starts, plus
          the end: [0, 1, ..., n] here, one sequence per document)
    .bin: the tokens of every sequence, back to back, in that dtype.

One corpusmill document (EOS included, as in the shards) becomes one sequence and one document.
Dtype: uint16 (code 8) when the shards are uint16; uint32 shards become int32 (code 4) because
Megatron has no uint32 code (ids stay < 2**31).
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tokenization.atomic_files import atomic_path
from tokenization.manifest import Manifest, load_manifest

INDEX_HEADER = b"MMIDIDX\x00\x00"
INDEX_VERSION = 1
DTYPE_CODES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64, 7: np.float32, 8: np.uint16}


def _megatron_dtype(shard_dtype: np.dtype) -> tuple[np.dtype, int]:
    if shard_dtype == np.uint16:
        return np.dtype(np.uint16), 8
    return np.dtype(np.int32), 4


def export_megatron(
    manifest_or_run: Manifest | str | os.PathLike, out_prefix: str | os.PathLike, split: str = "train"
) -> tuple[Path, Path]:
    """Write `<out_prefix>.bin` and `.idx` for one split, shard by shard; return both paths."""
    manifest = manifest_or_run if isinstance(manifest_or_run, Manifest) else load_manifest(manifest_or_run)
    dtype, code = _megatron_dtype(manifest.header.dtype)
    out_prefix = Path(out_prefix)
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    bin_path, idx_path = Path(f"{out_prefix}.bin"), Path(f"{out_prefix}.idx")
    with atomic_path(bin_path) as bin_tmp, atomic_path(idx_path) as idx_tmp:
        _write_bin_and_idx(manifest, split, dtype, code, bin_tmp, idx_tmp)
    return bin_path, idx_path


def _write_bin_and_idx(manifest, split: str, dtype, code: int, bin_path: Path, idx_path: Path) -> None:
    lengths = []
    with open(bin_path, "wb") as data:
        for reader in manifest.open_shards(split):  # one mapped shard at a time
            tokens = reader.tokens[reader.offsets[0] : reader.offsets[-1]]
            data.write(tokens.astype(dtype, copy=False).tobytes())
            lengths.append(np.diff(reader.offsets).astype(np.int32))
    sequence_lengths = np.concatenate(lengths) if lengths else np.zeros(0, np.int32)
    pointers = np.zeros(len(sequence_lengths), dtype=np.int64)
    np.cumsum(sequence_lengths[:-1].astype(np.int64) * dtype.itemsize, out=pointers[1:])
    document_indices = np.arange(len(sequence_lengths) + 1, dtype=np.int64)
    with open(idx_path, "wb") as index:
        index.write(INDEX_HEADER)
        index.write(struct.pack("<Q", INDEX_VERSION))
        index.write(struct.pack("<B", code))
        index.write(struct.pack("<Q", len(sequence_lengths)))
        index.write(struct.pack("<Q", len(document_indices)))
        index.write(sequence_lengths.tobytes(order="C"))
        index.write(pointers.tobytes(order="C"))
        index.write(document_indices.tobytes(order="C"))


@dataclass(frozen=True, slots=True)
class MegatronDataset:
    """A memory-mapped Megatron indexed dataset."""

    dtype: np.dtype
    sequence_lengths: np.ndarray  # int32
    sequence_pointers: np.ndarray  # int64, byte offsets into .bin
    document_indices: np.ndarray  # int64
    tokens: np.ndarray  # the whole .bin as dtype

    def __len__(self) -> int:
        return len(self.sequence_lengths)

    def __getitem__(self, index: int) -> np.ndarray:
        start = int(self.sequence_pointers[index]) // self.dtype.itemsize
        return self.tokens[start : start + int(self.sequence_lengths[index])]


def read_megatron(prefix: str | os.PathLike) -> MegatronDataset:
    """Read `<prefix>.idx` / `.bin` as Megatron's _IndexReader does (header checked)."""
    idx_path = f"{prefix}.idx"
    with open(idx_path, "rb") as stream:
        header = stream.read(len(INDEX_HEADER))
        if header != INDEX_HEADER:
            raise ValueError(f"{idx_path}: not a Megatron index (header {header!r})")
        (version,) = struct.unpack("<Q", stream.read(8))
        if version != INDEX_VERSION:
            raise ValueError(f"{idx_path}: index version {version}, expected {INDEX_VERSION}")
        (code,) = struct.unpack("<B", stream.read(1))
        (sequence_count,) = struct.unpack("<Q", stream.read(8))
        (document_count,) = struct.unpack("<Q", stream.read(8))
        offset = stream.tell()
    buffer = np.memmap(idx_path, mode="r", dtype=np.uint8)
    lengths = np.frombuffer(buffer, dtype=np.int32, count=sequence_count, offset=offset)
    offset += lengths.nbytes
    pointers = np.frombuffer(buffer, dtype=np.int64, count=sequence_count, offset=offset)
    offset += pointers.nbytes
    documents = np.frombuffer(buffer, dtype=np.int64, count=document_count, offset=offset)
    dtype = np.dtype(DTYPE_CODES[code])
    bin_path = f"{prefix}.bin"
    if os.path.getsize(bin_path) == 0:
        tokens = np.zeros(0, dtype=dtype)
    else:
        tokens = np.memmap(bin_path, mode="r", dtype=dtype)
    return MegatronDataset(dtype, lengths, pointers, documents, tokens)
