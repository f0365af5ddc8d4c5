"""Kept/rejects split (deterministic sampling) and the per-source counts."""
from __future__ import annotations

import pyarrow as pa

from pipelines.filters import filter_stats, sample_mask, split_rejects


def _decided(num: int = 1000) -> pa.Table:
    reasons = [None if i % 4 == 0 else ("gopher_short_doc" if i % 4 == 1 else "lid_wrong_language")
               for i in range(num)]
    return pa.table({
        "id": [f"doc{i}" for i in range(num)], "source": ["web" if i < num // 2 else "forum" for i in range(num)],
        "text": ["x" * (i % 7 + 1) for i in range(num)], "num_chars": [i % 7 + 1 for i in range(num)],
        "drop_reason": pa.array(reasons, type=pa.string())})


def test_split_keeps_all_kept_and_groups_rejects_by_reason():
    decided = _decided()
    kept, rejects = split_rejects(decided, 1.0, 0)
    assert kept.num_rows == 250 and kept.column("drop_reason").null_count == 250
    assert sorted(rejects) == ["gopher_short_doc", "lid_wrong_language"]
    assert rejects["gopher_short_doc"].num_rows == 250 and rejects["lid_wrong_language"].num_rows == 500
    assert rejects["gopher_short_doc"].column_names == decided.column_names  # scores and source kept
    assert split_rejects(decided, 0.0, 0)[1] == {}


def test_sampling_is_deterministic_by_seed_and_id_not_by_order():
    decided = _decided()
    _, first = split_rejects(decided, 0.3, seed=7)
    _, shuffled = split_rejects(decided.take(pa.array(list(range(999, -1, -1)))), 0.3, seed=7)
    ids = sorted(first["lid_wrong_language"].column("id").to_pylist())
    assert ids == sorted(shuffled["lid_wrong_language"].column("id").to_pylist())
    assert 120 <= len(ids) <= 180  # ~30 % of 500
    _, other_seed = split_rejects(decided, 0.3, seed=8)
    assert ids != sorted(other_seed["lid_wrong_language"].column("id").to_pylist())
    # the mask is xxh64("<seed>\x1f<id>") / 2**64 < rate; the quantiles by hand for seed 1:
    # a .892, b .595, c .290, d .372, e .326, f .182, g .133, h .212
    ids = ["a", "b", "c", "d", "e", "f", "g", "h"]
    assert sample_mask(ids, 0.5, 1).tolist() == [False, False, True, True, True, True, True, True]
    assert sample_mask(ids, 0.3, 1).tolist() == [False, False, True, False, False, True, True, True]
    assert sample_mask(list(reversed(ids)), 0.3, 1).tolist() == [True, True, True, False, False, True, False, False]


def test_filter_stats_counts_documents_and_characters():
    decided = _decided(8)
    stats = filter_stats(decided)
    # rows 0-3 web (reasons None, short, lid, lid; chars 1-4); rows 4-7 forum (None, short, lid, lid; chars 5-8)
    assert stats == {
        "forum": {"num_documents_in": 4, "num_chars_in": 5 + 6 + 7 + 1, "num_documents_out": 1, "num_chars_out": 5,
                  "removed": {"gopher_short_doc": {"num_documents": 1, "num_chars": 6},
                              "lid_wrong_language": {"num_documents": 2, "num_chars": 7 + 1}}},
        "web": {"num_documents_in": 4, "num_chars_in": 1 + 2 + 3 + 4, "num_documents_out": 1, "num_chars_out": 1,
                "removed": {"gopher_short_doc": {"num_documents": 1, "num_chars": 2},
                            "lid_wrong_language": {"num_documents": 2, "num_chars": 3 + 4}}},
    }
