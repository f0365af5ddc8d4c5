"""Document keys that sort in keep-rule order, and hash partitions.

A document's key is 128 bits, compared as (high, low) unsigned integers:
  high = source priority (8 bits) | 2^24 - 1 - min(num_chars, 2^24 - 1) (24 bits) | id bits 0-31
  low  = id bits 32-95
where the id is corpusmill's 24-hex-digit document id (96 bits; another id is replaced by the
blake2b-96 digest of its UTF-8 bytes). The smallest key in a cluster is therefore the document to
keep: highest-priority source first (the recipe's order), then the longest (lengths above
16,777,215 characters count as equal), then the smallest id. Min-label propagation over these keys
ends with every document labelled by its cluster's kept document, with no extra step to choose it.

Keys travel as two uint64 columns and are compared in numpy as 16-byte big-endian strings ('S16'),
whose byte order is the numeric order.
"""
from __future__ import annotations

import hashlib
import re

import numpy as np

from pipelines.dedup.shingles import fmix64

KEY_DTYPE = np.dtype([("hi", ">u8"), ("lo", ">u8")])
MAX_PRIORITY = 255
MAX_KEYED_CHARS = (1 << 24) - 1
_HEX_ID = re.compile(r"^[0-9a-f]{24}$")


def id_bits(doc_id: str) -> int:
    if _HEX_ID.match(doc_id):
        return int(doc_id, 16)
    return int.from_bytes(hashlib.blake2b(doc_id.encode("utf-8", "surrogatepass"), digest_size=12).digest(), "big")


def rank_keys(priorities, num_chars, doc_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(high, low) uint64 keys of documents (see the module docstring)."""
    priorities = np.asarray(priorities, dtype=np.uint64)
    if len(priorities) and int(priorities.max()) > MAX_PRIORITY:
        raise ValueError(f"at most {MAX_PRIORITY + 1} source priorities")
    inverted_length = np.uint64(MAX_KEYED_CHARS) - np.minimum(np.asarray(num_chars, dtype=np.uint64),
                                                               np.uint64(MAX_KEYED_CHARS))
    bits = [id_bits(i) for i in doc_ids]
    id_high = np.fromiter((b >> 64 for b in bits), dtype=np.uint64, count=len(bits))
    id_low = np.fromiter((b & ((1 << 64) - 1) for b in bits), dtype=np.uint64, count=len(bits))
    high = (priorities << np.uint64(56)) | (inverted_length << np.uint64(32)) | id_high
    return high, id_low


def as_bytes(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """'S16' array (sortable, joinable) of (high, low) keys."""
    packed = np.empty(len(high), dtype=KEY_DTYPE)
    packed["hi"] = high
    packed["lo"] = low
    return packed.view("S16")


def from_bytes(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    packed = np.ascontiguousarray(keys).view(KEY_DTYPE)
    return packed["hi"].astype(np.uint64), packed["lo"].astype(np.uint64)


def partition_of(high: np.ndarray, low: np.ndarray, num_partitions: int) -> np.ndarray:
    """Hash partition (int64) of 128-bit values: which task of a shuffle owns them."""
    mixed = fmix64(np.asarray(high, dtype=np.uint64) ^ fmix64(np.asarray(low, dtype=np.uint64)))
    return (mixed % np.uint64(num_partitions)).astype(np.int64)
