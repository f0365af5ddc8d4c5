"""MinHash signatures, bands and LSH parameters against datasketch, the reference library.

The text is real (the Python reference manual's topic pages that ship with Python), so these tests
need no shared data. datasketch gets our shingle hash function as its `hashfunc` and our shingles
as its inputs: what is compared is the permutation scheme, seeds, minimum and banding."""
from __future__ import annotations

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH
from datasketch.lsh import _optimal_param
from pydoc_data.topics import topics

from pipelines.dedup.graph import bucket_pairs
from pipelines.dedup.keys import as_bytes, rank_keys
from pipelines.dedup.lsh_params import catch_probability, optimal_params
from pipelines.dedup.minhash import MinHasher, band_hashes
from pipelines.dedup.shingles import normalize_exact, normalize_words, shingle_hash_of_tokens, shingle_hashes, shingle_tuples

TEXTS = [topics[name] for name in sorted(topics)[:40]]
EDGE_TEXTS = ["", "   ", "two words", "Ünïcödé naïve café — 2024, 1999!", "x" * 3]


def _datasketch_signature(text: str, *, seed: int, num_bits: int, shingle: str = "word", ngram: int = 5):
    if num_bits == 64:
        hashfunc, scheme = (lambda s: shingle_hash_of_tokens(s, shingle)), "affine64"
    else:
        hashfunc, scheme = (lambda s: shingle_hash_of_tokens(s, shingle) & 0xFFFFFFFF), "affine32"
    reference = MinHash(num_perm=112, seed=seed, hashfunc=hashfunc, scheme=scheme)
    reference.update_batch(shingle_tuples(text, shingle=shingle, ngram=ngram))
    return reference.hashvalues


@pytest.mark.parametrize("num_bits", [64, 32])
@pytest.mark.parametrize("seed", [1, 42])
def test_word_signatures_equal_datasketch(num_bits, seed):
    texts = TEXTS + EDGE_TEXTS
    ours = MinHasher(112, seed, num_bits).signatures([shingle_hashes(t) for t in texts])
    for text, row in zip(texts, ours):
        expected = _datasketch_signature(text, seed=seed, num_bits=num_bits)
        assert row.dtype == expected.dtype
        assert np.array_equal(row, expected)


def test_a_document_larger_than_one_block_equals_datasketch():
    book = " ".join(topics[name] for name in sorted(topics))  # ~65k words: several blocks of shingles
    ours = MinHasher(112, 1, 64).signatures([shingle_hashes(TEXTS[0]), shingle_hashes(book), shingle_hashes("")])
    assert len(shingle_hashes(book)) * 112 > 2 * (1 << 20)
    assert np.array_equal(ours[1], _datasketch_signature(book, seed=1, num_bits=64))
    assert np.array_equal(ours[0], _datasketch_signature(TEXTS[0], seed=1, num_bits=64))


def test_char_signatures_equal_datasketch():
    texts = TEXTS[:10] + EDGE_TEXTS
    ours = MinHasher(112, 1, 64).signatures([shingle_hashes(t, shingle="char", ngram=7) for t in texts])
    for text, row in zip(texts, ours):
        assert np.array_equal(row, _datasketch_signature(text, seed=1, num_bits=64, shingle="char", ngram=7))


def test_empty_document_signature_is_datasketch_empty_value():
    ours = MinHasher(112, 1, 64).signatures([shingle_hashes("")])
    assert ours[0].tolist() == [2**64 - 1] * 112
    assert np.array_equal(ours[0], MinHash(num_perm=112, seed=1, scheme="affine64").hashvalues)


def test_normalization_examples():
    assert normalize_words("Héllo, WORLD! 2024 café\tnaïve--x") == ["hello", "world", "0", "cafe", "naive", "x"]
    assert normalize_exact("  The\u00a0Cat\n\n sat ") == "the cat sat"
    assert shingle_tuples("a b c d e f", ngram=5) == [("a", "b", "c", "d", "e"), ("b", "c", "d", "e", "f")]
    assert shingle_tuples("a b", ngram=5) == [("a", "b")]


@pytest.mark.parametrize("num_perm", [64, 112, 128, 256])
def test_bands_and_rows_match_datasketch_optimizer(num_perm):
    for threshold in (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95):
        assert optimal_params(threshold, num_perm) == _optimal_param(threshold, num_perm, 0.5, 0.5)
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        assert optimal_params(threshold, num_perm) == (lsh.b, lsh.r)
    assert optimal_params(0.8, 112, 0.2, 0.8) == _optimal_param(0.8, 112, 0.2, 0.8)


def test_s_curve_values_by_hand():
    # 1 - (1 - 0.8**8)**14: 0.8**8 = 0.16777216, (0.83222784)**14 = 0.07645...
    assert float(catch_probability(0.8, 14, 8)) == pytest.approx(1 - (1 - 0.16777216) ** 14, abs=1e-12)
    assert float(catch_probability(0.8, 14, 8)) == pytest.approx(0.92355, abs=1e-5)
    assert float(catch_probability(0.7, 14, 8)) == pytest.approx(0.56450, abs=1e-5)
    assert float(catch_probability(0.9, 14, 8)) == pytest.approx(0.99962, abs=1e-5)


def test_band_buckets_give_datasketch_lsh_candidates():
    """Same signatures in datasketch's MinHashLSH(params=(14, 8)) and in our band buckets: the
    candidate pairs are the same (the set includes near-duplicates, so there are some)."""
    base = TEXTS[:30]
    edited = [t.replace(" the ", " a ", 3) for t in base[:10]] + [t[: int(len(t) * 0.9)] for t in base[10:20]]
    texts = base + edited
    ids = [f"{i:024x}" for i in range(len(texts))]
    hasher = MinHasher(112, 1, 64)
    signatures = hasher.signatures([shingle_hashes(t) for t in texts])
    lsh = MinHashLSH(num_perm=112, params=(14, 8))
    for doc_id, signature in zip(ids, signatures):
        lsh.insert(doc_id, MinHash(num_perm=112, seed=1, hashvalues=signature, scheme="affine64"))
    expected = {tuple(sorted((a, b))) for a in ids for b in lsh.query(
        MinHash(num_perm=112, seed=1, hashvalues=signatures[ids.index(a)], scheme="affine64")) if a != b}
    high, low = rank_keys(np.zeros(len(ids)), np.zeros(len(ids)), ids)
    keys = as_bytes(high, low)
    bands = band_hashes(signatures, 14, 8)
    buckets = np.empty(len(ids) * 14, dtype=[("band", "u1"), ("hash", ">u8")])
    buckets["band"], buckets["hash"] = np.tile(np.arange(14), len(ids)), bands.reshape(-1)
    u, v = bucket_pairs(buckets.view("S9"), np.repeat(keys, 14), max_clique=1000)
    key_to_id = {k: i for k, i in zip(keys.tolist(), ids)}
    ours = {tuple(sorted((key_to_id[a], key_to_id[b]))) for a, b in zip(u.tolist(), v.tolist())}
    assert len(expected) >= 15
    assert ours == expected
