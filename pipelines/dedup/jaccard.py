"""Exact Jaccard similarity of shingle sets (sorted unique uint64 arrays)."""
from __future__ import annotations

import numpy as np


def shingle_set(hashes: np.ndarray) -> np.ndarray:
    return np.unique(hashes)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """|A & B| / |A | B| of two sorted unique arrays; two empty sets are identical (1.0)."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    common = len(np.intersect1d(a, b, assume_unique=True))
    return common / (len(a) + len(b) - common)
