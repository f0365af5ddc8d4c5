"""LSH banding: the S-curve and the bands x rows a threshold calls for.

A pair with Jaccard s shares at least one of b bands of r rows with probability
P(s) = 1 - (1 - s^r)^b. `optimal_params` picks (b, r) with b * r <= num_perm minimizing
fp_weight * integral_0^t P(s) ds + fn_weight * integral_t^1 (1 - P(s)) ds, the rule of
datasketch's `MinHashLSH` (`datasketch.lsh._optimal_param`), with the integrals by 64-point
Gauss-Legendre quadrature instead of scipy (the integrands are smooth polynomials).
"""
from __future__ import annotations

import numpy as np

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(64)


def catch_probability(similarity, num_bands: int, rows_per_band: int):
    """P(s) = 1 - (1 - s^r)^b: the chance a pair of Jaccard s becomes a candidate."""
    s = np.asarray(similarity, dtype=np.float64)
    return 1.0 - (1.0 - s ** rows_per_band) ** num_bands


def _integral(fn, low: float, high: float) -> float:
    half = (high - low) / 2
    return float(half * np.sum(_WEIGHTS * fn(half * _NODES + (low + high) / 2)))


def false_positive_area(threshold: float, num_bands: int, rows_per_band: int) -> float:
    return _integral(lambda s: catch_probability(s, num_bands, rows_per_band), 0.0, threshold)


def false_negative_area(threshold: float, num_bands: int, rows_per_band: int) -> float:
    return _integral(lambda s: 1.0 - catch_probability(s, num_bands, rows_per_band), threshold, 1.0)


def optimal_params(threshold: float, num_perm: int, fp_weight: float = 0.5,
                   fn_weight: float = 0.5) -> tuple[int, int]:
    """(num_bands, rows_per_band) as datasketch's MinHashLSH(threshold, num_perm, weights) picks."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be between 0 and 1 (exclusive), not {threshold}")
    best, best_error = (0, 0), float("inf")
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            error = (fp_weight * false_positive_area(threshold, bands, rows)
                     + fn_weight * false_negative_area(threshold, bands, rows))
            if error < best_error:
                best, best_error = (bands, rows), error
    return best


def s_curve_table(num_bands: int, rows_per_band: int, step: float = 0.05) -> list[tuple[float, float]]:
    """(similarity, P) from 0 to 1 in `step`s, for `corpusmill dedup-plan`."""
    points = np.round(np.arange(0.0, 1.0 + step / 2, step), 10)
    return [(float(s), float(p)) for s, p in zip(points, catch_probability(points, num_bands, rows_per_band))]


def threshold_estimate(num_bands: int, rows_per_band: int) -> float:
    """(1/b)^(1/r): roughly where the S-curve is steepest (P about 1 - 1/e)."""
    return (1.0 / num_bands) ** (1.0 / rows_per_band)
