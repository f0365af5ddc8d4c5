"""Near-duplicate accuracy of the DEFAULT dedup configuration on a ground-truth set built from the
real shared data (benchmarks/dedup_groundtruth.py: >= 20,000 real documents, near-duplicates with
known edits, hard negatives; truth = exact Jaccard of word 5-gram sets for every pair >= 0.5, by
prefix filtering, with a hash path independent of the one under test).

test_default_pairs: the stage's own worker functions (shingles, signatures, band buckets,
candidate pairs, exact-Jaccard verification) with every parameter taken from `DedupConfig()`
(FineWeb's 14 bands x 8 rows, seed 1, 64-bit, verify_threshold 0.8):
  * LSH candidates (pairs sharing a band bucket) recall >= 0.95 of the pairs with Jaccard >= 0.8,
    at a pair precision of only ~0.65 (many candidates lie in 0.5-0.8);
  * after the default verification, recall >= 0.95 at precision >= 0.98 (the issue's target).
test_default_build: the same set through `build` with the default recipe section (embedded Ray):
the pairs with Jaccard >= 0.8 that end in one cluster (recall), and the removed documents that have
a partner of Jaccard >= 0.8 in their cluster (precision).

test_recall_curve_follows_the_s_curve_over_seeds: why the recall in the 0.5-0.8 bins sits below the
S-curve P(s) = 1 - (1 - s^8)^14 at the default seed. Not the normalization (the candidates' Jaccard
equals the truth's to 1e-12), not the bins (P is averaged over each bin's own pairs), not the hash
family (a non-linear per-slot hash, fmix64(fmix64(h) ^ k), measured the same shortfall at seed 1):
the pairs in those bins are not independent trials. They come in families -- 4,505 of the 8,274
pairs in 0.5-0.8 are code/code pairs (files of one package sharing a licence header and
boilerplate), the largest connected family in 0.5-0.6 has 116 documents -- and every pair of a
family is decided by the same few minima, so the bin's recall at one seed is a draw with a spread
of ~0.05 around the curve. Measured over seeds 1-20 (recall at seed 1 / mean of 20 / standard
deviation across seeds / S-curve):
    0.50-0.60  0.038 / 0.099 / 0.051 / 0.105      0.60-0.70  0.259 / 0.342 / 0.058 / 0.366
    0.70-0.75  0.537 / 0.658 / 0.047 / 0.666      0.75-0.80  0.804 / 0.847 / 0.027 / 0.853
    0.80-0.85  0.944 / 0.961 / 0.013 / 0.962      0.85-0.90  0.994 / 0.995 / 0.003 / 0.996
Seed 1 is the lowest of the 20 seeds in 0.5-0.75. The test asserts that the mean over 20 seeds is
within 3 standard errors of the S-curve in every bin from 0.5 to 0.9 (above 0.9 both are 1.0).
Run with -s to see the tables."""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.dedup.config import DedupConfig
from pipelines.dedup.graph import bucket_pairs
from pipelines.dedup.jaccard import jaccard
from pipelines.dedup.lsh_params import catch_probability
from pipelines.dedup.minhash import MinHasher, band_hashes
from pipelines.dedup.shingles import shingle_hashes

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from dedup_groundtruth import build_set, similar_pairs, truth_shingle_sets  # noqa: E402

BINS = [(0.5, 0.6), (0.6, 0.7), (0.7, 0.75), (0.75, 0.8), (0.8, 0.85), (0.85, 0.9), (0.9, 0.95), (0.95, 1.0),
        (1.0, 1.01)]
NUM_SEEDS = 20


@pytest.fixture(scope="module")
def ground_truth(shared_data):
    docs = build_set(shared_data, seed=0)
    texts = [d["text"] for d in docs]
    return docs, similar_pairs(truth_shingle_sets(texts), threshold=0.5)


def _shingles(texts: list[str], config: DedupConfig) -> list[np.ndarray]:
    return [shingle_hashes(t, shingle=config.shingle, ngram=config.ngram) for t in texts]


def _band_hashes(shingles: list[np.ndarray], config: DedupConfig, seed: int | None = None) -> np.ndarray:
    hasher = MinHasher(config.num_perm, config.seed if seed is None else seed, config.num_bits)
    return band_hashes(hasher.signatures(shingles), config.num_bands, config.rows_per_band)


def _lsh_candidates(shingles: list[np.ndarray], config: DedupConfig) -> set:
    num_docs, num_bands = len(shingles), config.num_bands
    bands = _band_hashes(shingles, config)
    keys = np.zeros(num_docs, dtype=[("hi", ">u8"), ("lo", ">u8")])
    keys["lo"] = np.arange(num_docs)
    keys = keys.view("S16")
    has_shingles = np.repeat([len(s) > 0 for s in shingles], num_bands)
    buckets = np.empty(num_docs * num_bands, dtype=[("band", "u1"), ("hash", ">u8")])
    buckets["band"], buckets["hash"] = np.tile(np.arange(num_bands), num_docs), bands.reshape(-1)
    u, v = bucket_pairs(buckets.view("S9")[has_shingles], np.repeat(keys, num_bands)[has_shingles], 10**9)
    index = lambda k: k.view([("hi", ">u8"), ("lo", ">u8")])["lo"].astype(np.int64).tolist()
    return set(zip(index(u), index(v)))


@pytest.mark.slow
def test_default_pairs_reach_the_target_on_real_ground_truth(ground_truth):
    docs, truth = ground_truth
    config = DedupConfig()
    edits = Counter(d["edit"] for d in docs)
    assert edits["original"] >= 20_000
    assert all(edits[kind] >= 300 for kind in ("header_footer", "paragraph_drop", "paragraph_reorder", "typos",
                                                "ocr_noise", "truncation", "rewrap", "encoding", "same_template"))
    assert (config.num_bands, config.rows_per_band, config.ngram, config.verify_threshold) == (14, 8, 5, 0.8)
    positives = {pair for pair, value in truth.items() if value >= 0.8}
    shingles = _shingles([d["text"] for d in docs], config)
    candidates = _lsh_candidates(shingles, config)

    # Verification computes the same Jaccard as the truth, through the stage's own hashing.
    candidate_jaccard = {p: jaccard(np.unique(shingles[p[0]]), np.unique(shingles[p[1]])) for p in candidates}
    assert max(abs(candidate_jaccard[p] - truth[p]) for p in candidates if p in truth) < 1e-12
    assert all(value < 0.5 for p, value in candidate_jaccard.items() if p not in truth)

    lsh_recall = len(positives & candidates) / len(positives)
    lsh_precision = len(positives & candidates) / len(candidates)
    verified = {p for p in candidates if candidate_jaccard[p] >= config.verify_threshold}  # verify_check's rule
    precision = len(verified & positives) / len(verified)
    recall = len(verified & positives) / len(positives)
    print(f"\n{len(docs)} docs ({edits['original']} real); truth pairs >= 0.5: {len(truth)}, >= 0.8: "
          f"{len(positives)}; LSH candidates {len(candidates)}")
    print(f"LSH candidates: recall {lsh_recall:.4f} precision {lsh_precision:.4f}; default (verified at "
          f"{config.verify_threshold}): recall {recall:.4f} precision {precision:.4f}")
    print(f"{'Jaccard':>12} {'pairs':>7} {'recall':>8} {'S-curve':>8}")
    curve = []
    for low, high in BINS:
        members = [p for p, value in truth.items() if low <= value < high]
        caught = sum(p in candidates for p in members) / len(members)
        expected = float(np.mean(catch_probability([truth[p] for p in members], config.num_bands, config.rows_per_band)))
        print(f"{low:5.2f}-{min(high, 1.0):4.2f} {len(members):7d} {caught:8.4f} {expected:8.4f}")
        assert len(members) >= 100
        curve.append((low, caught))
    assert [c for _, c in curve] == sorted(c for _, c in curve)
    assert all(c >= 0.98 for low, c in curve if low >= 0.85) and all(c <= 0.15 for low, c in curve if low < 0.6)
    assert lsh_recall >= 0.95
    assert lsh_precision < 0.98  # why the default verifies
    assert recall >= 0.95 and precision >= 0.98


@pytest.mark.slow
def test_recall_curve_follows_the_s_curve_over_seeds(ground_truth):
    docs, truth = ground_truth
    config = DedupConfig()
    bins = [b for b in BINS if b[1] <= 0.9]
    pairs = [p for p, value in truth.items() if bins[0][0] <= value < bins[-1][1]]
    involved = sorted({i for pair in pairs for i in pair})
    position = {doc: k for k, doc in enumerate(involved)}
    shingles = _shingles([docs[i]["text"] for i in involved], config)
    left = np.array([position[a] for a, _ in pairs])
    right = np.array([position[b] for _, b in pairs])
    similarity = np.array([truth[p] for p in pairs])
    caught_by_seed = []
    for seed in range(1, NUM_SEEDS + 1):
        bands = _band_hashes(shingles, config, seed)
        caught_by_seed.append((bands[left] == bands[right]).any(axis=1))
    caught_by_seed = np.array(caught_by_seed)  # (seeds, pairs)
    print(f"\n{'Jaccard':>12} {'pairs':>6} {'seed 1':>7} {'mean':>7} {'sd':>6} {'S-curve':>8}")
    for low, high in bins:
        members = (similarity >= low) & (similarity < high)
        rates = caught_by_seed[:, members].mean(axis=1)
        expected = float(catch_probability(similarity[members], config.num_bands, config.rows_per_band).mean())
        standard_error = rates.std(ddof=1) / np.sqrt(NUM_SEEDS)
        print(f"{low:5.2f}-{high:4.2f} {members.sum():6d} {rates[0]:7.4f} {rates.mean():7.4f} {rates.std(ddof=1):6.4f} "
              f"{expected:8.4f}")
        assert abs(rates.mean() - expected) <= 3 * standard_error


@pytest.mark.slow
def test_default_build_on_real_ground_truth(ground_truth, ray_cluster, tmp_path):
    """`build` with the default dedup section: clusters against the exact truth."""
    from pipelines.build import build
    from pipelines.recipe import load_recipe

    docs, truth = ground_truth
    for rank in range(2):
        rows = list(range(rank, len(docs), 2))
        pq.write_table(pa.table({"text": [docs[i]["text"] for i in rows], "gid": rows}), tmp_path / f"in-{rank}.parquet")
    recipe = {"run_dir": str(tmp_path / "run"), "runner": {"num_cpus": 2},
              "sources": [{"name": "docs", "kind": "parquet", "paths": [str(tmp_path / "in-*.parquet")]}]}
    (tmp_path / "recipe.yaml").write_text(json.dumps(recipe))
    build(load_recipe(tmp_path / "recipe.yaml"), show_progress=False)
    cluster_of, removed = {}, []
    for path in sorted((tmp_path / "run/dedup").rglob("part-*.parquet")):
        if "_work" in path.parts:
            continue
        table = pq.read_table(path, columns=["meta", "dedup_cluster_id"]).to_pydict()
        for meta, cluster in zip(table["meta"], table["dedup_cluster_id"]):
            gid = int((json.loads(meta) if isinstance(meta, str) else meta)["gid"])
            cluster_of[gid] = cluster
            if "rejects" in path.parts:
                removed.append(gid)
    assert sorted(cluster_of) == list(range(len(docs)))
    positives = [pair for pair, value in truth.items() if value >= 0.8]
    recall = sum(cluster_of[a] == cluster_of[b] for a, b in positives) / len(positives)
    partners_in_cluster = {i for a, b in positives if cluster_of[a] == cluster_of[b] for i in (a, b)}
    precision = sum(i in partners_in_cluster for i in removed) / len(removed)
    print(f"\ndefault build: {len(removed)} removed; pairs >= 0.8 in one cluster {recall:.4f}; removed documents "
          f"with a partner >= 0.8 in their cluster {precision:.4f}")
    assert recall >= 0.95 and precision >= 0.98
