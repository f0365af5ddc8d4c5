"""`corpusmill dedup-plan`: what a bands x rows choice catches, before running anything."""
from __future__ import annotations

from pipelines.dedup.lsh_params import catch_probability, optimal_params, s_curve_table, threshold_estimate

MARKED_SIMILARITIES = (0.7, 0.8, 0.9)


def render_plan(num_bands: int, rows_per_band: int, threshold: float | None = None) -> str:
    """The S-curve P(s) = 1 - (1 - s^r)^b as a table with a bar per row, and P at 0.7/0.8/0.9;
    with `threshold`, also the (b, r) datasketch's optimizer picks for it with the same num_perm."""
    num_perm = num_bands * rows_per_band
    lines = [f"MinHash LSH: {num_bands} bands x {rows_per_band} rows = {num_perm} hashes per document",
             f"P(s) = 1 - (1 - s^{rows_per_band})^{num_bands}; steepest near s = (1/b)^(1/r) = "
             f"{threshold_estimate(num_bands, rows_per_band):.3f}", "",
             "  Jaccard s   P(candidate)"]
    for similarity, probability in s_curve_table(num_bands, rows_per_band):
        lines.append(f"  {similarity:9.2f}   {probability:12.4f}  {'#' * round(probability * 40)}")
    lines.append("")
    for similarity in MARKED_SIMILARITIES:
        probability = float(catch_probability(similarity, num_bands, rows_per_band))
        lines.append(f"  P({similarity:.1f}) = {probability:.4f}: a pair at Jaccard {similarity:.1f} is missed "
                     f"with probability {1 - probability:.4f}")
    if threshold is not None:
        bands, rows = optimal_params(threshold, num_perm)
        lines += ["", f"datasketch's optimizer for threshold {threshold} and {num_perm} hashes: "
                      f"{bands} bands x {rows} rows (P({threshold}) = "
                      f"{float(catch_probability(threshold, bands, rows)):.4f})"]
    return "\n".join(lines)
