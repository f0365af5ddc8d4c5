"""Near-duplicate accuracy on a ground-truth set built from the real shared data
(benchmarks/dedup_groundtruth.py: >= 20,000 real documents, near-duplicates with known edits, hard
negatives; truth = exact Jaccard of word 5-gram sets for every pair >= 0.5, by prefix filtering).

Measured with the stage's own worker functions (shingles, signatures, band buckets, candidate pairs,
exact-Jaccard verification) and FineWeb's 14 bands x 8 rows:
  * LSH candidates (pairs sharing a band bucket) recall >= 0.95 of the pairs with Jaccard >= 0.8;
  * after verification at 0.8 (`verify_threshold: 0.8`) precision >= 0.98 at the same recall;
  * the recall curve rises with similarity: >= 0.98 from 0.85 up, <= 0.15 below 0.6. It is printed
    beside the S-curve P(s) = 1 - (1 - s^8)^14 averaged over each bin's pairs; they are not compared
    with a binomial bound because the pairs come in families (chunks of one book, pages of one site
    template, several edits of one document) whose catches are correlated through shared documents.
Run with -s to see the table."""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from pipelines.dedup.graph import bucket_pairs
from pipelines.dedup.jaccard import jaccard
from pipelines.dedup.lsh_params import catch_probability
from pipelines.dedup.minhash import MinHasher, band_hashes
from pipelines.dedup.shingles import shingle_hashes

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from dedup_groundtruth import build_set, similar_pairs, truth_shingle_sets  # noqa: E402

BINS = [(0.5, 0.6), (0.6, 0.7), (0.7, 0.75), (0.75, 0.8), (0.8, 0.85), (0.85, 0.9), (0.9, 0.95), (0.95, 1.0),
        (1.0, 1.01)]


def _lsh_candidates(texts: list[str], num_bands: int = 14, rows: int = 8) -> tuple[set, list[np.ndarray]]:
    shingles = [shingle_hashes(t) for t in texts]
    bands = band_hashes(MinHasher(num_bands * rows, 1, 64).signatures(shingles), num_bands, rows)
    keys = np.zeros(len(texts), dtype=[("hi", ">u8"), ("lo", ">u8")])
    keys["lo"] = np.arange(len(texts))
    keys = keys.view("S16")
    has_shingles = np.repeat([len(s) > 0 for s in shingles], num_bands)
    buckets = np.empty(len(texts) * num_bands, dtype=[("band", "u1"), ("hash", ">u8")])
    buckets["band"], buckets["hash"] = np.tile(np.arange(num_bands), len(texts)), bands.reshape(-1)
    u, v = bucket_pairs(buckets.view("S9")[has_shingles], np.repeat(keys, num_bands)[has_shingles], 10**9)
    index = lambda k: k.view([("hi", ">u8"), ("lo", ">u8")])["lo"].astype(np.int64).tolist()
    return set(zip(index(u), index(v))), [np.unique(s) for s in shingles]


@pytest.mark.slow
def test_recall_precision_and_s_curve_on_real_ground_truth(shared_data):
    docs = build_set(shared_data, seed=0)
    edits = Counter(d["edit"] for d in docs)
    assert edits["original"] >= 20_000
    assert all(edits[kind] >= 300 for kind in ("header_footer", "paragraph_drop", "paragraph_reorder", "typos",
                                                "ocr_noise", "truncation", "rewrap", "encoding", "same_template"))
    texts = [d["text"] for d in docs]
    truth_sets = truth_shingle_sets(texts)
    truth = similar_pairs(truth_sets, threshold=0.5)
    positives = {pair for pair, value in truth.items() if value >= 0.8}
    candidates, our_sets = _lsh_candidates(texts)

    # Verification computes the same Jaccard as the truth, through the stage's own hashing.
    candidate_jaccard = {pair: jaccard(our_sets[pair[0]], our_sets[pair[1]]) for pair in candidates}
    assert max(abs(candidate_jaccard[p] - truth[p]) for p in candidates if p in truth) < 1e-12
    assert all(value < 0.5 for p, value in candidate_jaccard.items() if p not in truth)

    lsh_recall = len(positives & candidates) / len(positives)
    lsh_precision = sum(candidate_jaccard[p] >= 0.8 for p in candidates) / len(candidates)
    verified = {p for p in candidates if candidate_jaccard[p] >= 0.8}
    precision = len(verified & positives) / len(verified)
    recall = len(verified & positives) / len(positives)
    print(f"\n{len(docs)} docs ({edits['original']} real); truth pairs >= 0.5: {len(truth)}, >= 0.8: "
          f"{len(positives)}; LSH candidates {len(candidates)}")
    print(f"LSH only: recall {lsh_recall:.4f} precision {lsh_precision:.4f}; verified at 0.8: recall "
          f"{recall:.4f} precision {precision:.4f}")
    print(f"{'Jaccard':>12} {'pairs':>7} {'recall':>8} {'S-curve':>8}")
    curve = []
    for low, high in BINS:
        members = [p for p, value in truth.items() if low <= value < high]
        caught = sum(p in candidates for p in members) / len(members)
        expected = float(np.mean(catch_probability([truth[p] for p in members], 14, 8)))
        print(f"{low:5.2f}-{min(high, 1.0):4.2f} {len(members):7d} {caught:8.4f} {expected:8.4f}")
        assert len(members) >= 100
        curve.append((low, caught))
    assert [c for _, c in curve] == sorted(c for _, c in curve)
    assert all(c >= 0.98 for low, c in curve if low >= 0.85) and all(c <= 0.15 for low, c in curve if low < 0.6)
    assert lsh_recall >= 0.95
    assert recall >= 0.95 and precision >= 0.98
