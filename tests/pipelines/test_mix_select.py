"""The mix's selection in tasks (pipelines/mix_select.py, pipelines/mix_scatter.shard_of), checked
against references written out here: Python's big-int arithmetic, the selection rule spelled out
document by document over the whole source, and frequencies over many seeds."""
from __future__ import annotations

import collections
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from pipelines import mix_select
from pipelines.mix_scatter import shard_of
from pipelines.mix_select import count_group, mix_layout, part_keys, plan_selection, sum_totals, task_tokens_for, train_copies
from pipelines.mixture import MixConfig


class CountingFS(LocalFileSystem):
    """The local filesystem, counting the bytes read from the key files (the per-document data)."""

    record_bytes = 0

    def cat_file(self, path, start=None, end=None, **kwargs):
        data = super().cat_file(path, start=start, end=end, **kwargs)
        if str(path).endswith(".records"):
            CountingFS.record_bytes += len(data)
        return data


def test_shard_of_is_the_floor_of_key_times_n_over_2_to_the_64():
    rng = np.random.default_rng(5)
    edges = np.array([0, 1, 2**32 - 1, 2**32, 2**63, 2**64 - 1], np.uint64)
    keys = np.concatenate([rng.integers(0, 2**64 - 1, size=2000, dtype=np.uint64, endpoint=True), edges])
    for n in (1, 2, 3, 7, 1000, 123_457, 2**32 - 1):
        assert shard_of(keys, n).tolist() == [int(k) * n >> 64 for k in keys.tolist()], n


def test_task_tokens_default_grows_past_1024_tasks_and_a_given_value_is_kept():
    auto = MixConfig(natural=True)
    # 16M until 1,024 tasks of 16M; then ceil(tokens / 1024): 16,384,000,001 / 1024 = 16,000,000.001
    assert [task_tokens_for(t, auto) for t in (0, 16_000_000 * 1024, 16_000_000 * 1024 + 1, 1_400_000_000_000)] == [
        16_000_000, 16_000_000, 16_000_001, 1_367_187_500]
    assert task_tokens_for(10**15, MixConfig(natural=True, task_tokens=5)) == 5


def test_validation_is_a_uniform_subset_of_the_source_across_parts():
    """10 of 200 documents in parts of 1, 5, 50 and 144: over 2,000 seeds every document is held
    out ~100 times (p = 0.05; sd 9.7), the one-document part as often as the others."""
    sizes = (1, 5, 50, 144)
    parts = [{"path": f"tokenize/s/part-{i}.parquet", "source": "s", "num_docs": n, "num_tokens": 10 * n}
             for i, n in enumerate(sizes)]
    held = np.zeros(sum(sizes))
    for seed in range(2000):
        layout = mix_layout(parts, MixConfig(natural=True, val_fraction=0.05, seed=seed))
        start = 0
        for part in layout["parts"]:
            val, _ = part_keys(seed, part, part["num_docs"])
            assert int(val.sum()) == part["val_docs"]
            held[start:start + part["num_docs"]] += val
            start += part["num_docs"]
        assert sum(p["val_docs"] for p in layout["parts"]) == 10
    assert held.sum() == 20_000
    sd = math.sqrt(2000 * 0.05 * 0.95)
    assert np.abs(held - 100).max() <= 5 * sd, held


def _write_parts(root, sizes: dict[str, tuple[int, ...]], seed: int) -> tuple[list[dict], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    parts, lengths = [], {}
    for source, counts in sizes.items():
        for j, n in enumerate(counts):
            path = root / source / f"part-{j:05d}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            # long-tailed like real documents: mostly short, a few 50x longer
            values = np.where(rng.random(n) < 0.05, rng.integers(2_000, 20_000, n), rng.integers(1, 400, n))
            pq.write_table(pa.table({"num_tokens": values.astype(np.int32)}), path)
            parts.append({"path": str(path), "source": source, "num_docs": n, "num_tokens": int(values.sum())})
            lengths[str(path)] = values.astype(np.int64)
    return parts, lengths


def _plan(fs, parts, config, staging):
    layout = mix_layout(parts, config)
    totals = sum_totals(layout["sources"], [
        count_group(fs, str(staging), g, layout["parts"][a:b], layout["sources"], config.seed)
        for g, (a, b) in enumerate(layout["groups"])])
    return layout, totals, plan_selection(fs, str(staging), layout, totals, config)


def _reference_copies(docs, full: int, remainder: int, limit: int) -> collections.Counter:
    """The rule over the whole source, one document at a time: docs are (key, part, row, length)
    of the training documents; every one `full` times, then in key order the longest prefix within
    `remainder`, then every later document that still fits the gap, then the smallest document
    past the gap if it is nearer than the gap and within `limit`."""
    copies = collections.Counter({(part, row): full for _, part, row, _ in docs})
    ordered = sorted(docs)
    taken, i = 0, 0
    while i < len(ordered) and taken + ordered[i][3] <= remainder:
        copies[ordered[i][1:3]] += 1
        taken += ordered[i][3]
        i += 1
    gap, room, best = remainder - taken, limit - taken, None
    for _, part, row, length in ordered[i:]:
        if gap == 0:
            break
        if length <= gap:
            copies[(part, row)] += 1
            gap -= length
            room -= length
        elif best is None or length < best[0]:
            best = (length, (part, row))
    if gap and best and best[0] - gap < gap and best[0] <= room:
        copies[best[1]] += 1
    return copies


def _copies(plan, lengths) -> dict[str, collections.Counter]:
    got = {name: collections.Counter() for name in plan["sources"]}
    for part in plan["parts"]:
        n = len(lengths[part["path"]])
        val, keys = part_keys(plan["seed"], part, n)
        for row, count in enumerate(train_copies(plan["selection"][part["source"]], part["index"], keys, val)):
            if count:
                got[part["source"]][(part["index"], row)] = int(count)
    return got


def test_selection_follows_the_rule_over_the_whole_source_whatever_the_grouping(tmp_path):
    """Upsampled (a: 2.x epochs under a 2.5 cap) and subsampled (b) sources spread over parts: the
    plan's rule picks exactly the copies the reference picks over each whole source, and one task
    per part gives the same plan as one task for everything."""
    fs = LocalFileSystem()
    parts, lengths = _write_parts(tmp_path / "parts", {"a": (40, 25, 60), "b": (300, 200, 1)}, seed=3)
    config = MixConfig(weights={"a": 0.6, "b": 0.4}, max_epochs={"a": 2.5}, val_fraction=0.02, seed=9)
    plans = {}
    for task_tokens in (1, 10**12):
        layout, totals, plan = _plan(fs, parts, config.model_copy(update={"task_tokens": task_tokens}),
                                     tmp_path / f"staging-{task_tokens}")
        assert len(layout["groups"]) == (len(parts) if task_tokens == 1 else 1)
        plans[task_tokens] = plan
    assert plans[1]["selection"] == plans[10**12]["selection"] and plans[1]["train_docs"] == plans[10**12]["train_docs"]
    plan, got = plans[1], _copies(plans[1], lengths)
    for name in ("a", "b"):
        docs = []
        for part in (p for p in plan["parts"] if p["source"] == name):
            val, keys = part_keys(plan["seed"], part, part["num_docs"])
            docs += [(int(keys[r]), part["index"], r, int(lengths[part["path"]][r])) for r in np.flatnonzero(~val)]
        available = sum(d[3] for d in docs)
        planned = plan["plan"]["sources"][name]["planned_tokens"]
        full, remainder = divmod(planned, available)
        cap = math.floor(config.cap(name) * available)
        expected = _reference_copies(docs, full, remainder, cap - full * available)
        assert +got[name] == +expected, name
        selected = sum(count * lengths[plan["parts"][p]["path"]][r] for (p, r), count in got[name].items())
        assert selected <= cap and abs(selected - planned) < max(d[3] for d in docs)
        assert plan["train_docs"][name] == sum(got[name].values())
    assert plan["selection"]["a"]["full_epochs"] == 2 and plan["selection"]["b"]["full_epochs"] == 0


def test_the_plan_reads_one_window_of_documents_not_the_source(tmp_path, monkeypatch):
    """30,000 documents, window 50: the plan reads a few key bins' records (the bin where the prefix
    ends and the ones after it up to 50 documents), and the prefix is still exactly the reference's;
    the top-ups come from the window, so the total stays within one document of the plan."""
    monkeypatch.setattr(mix_select, "WINDOW_DOCS", 50)
    fs = CountingFS()
    CountingFS.record_bytes = 0
    parts, lengths = _write_parts(tmp_path / "parts", {"web": (5000,) * 6}, seed=4)
    config = MixConfig(natural=True, total_tokens=1_000_000, val_fraction=0, seed=2)
    _, totals, plan = _plan(fs, parts, config, tmp_path / "staging")
    read_docs = CountingFS.record_bytes // mix_select.KEY_RECORD.itemsize
    assert 50 < read_docs < 400, read_docs  # vs 30,000 documents: ~29 per bin
    docs = []
    for part in plan["parts"]:
        _, keys = part_keys(plan["seed"], part, part["num_docs"])
        docs += [(int(keys[r]), part["index"], r, int(lengths[part["path"]][r])) for r in range(part["num_docs"])]
    ordered = sorted(docs)
    prefix, taken = 0, 0
    while taken + ordered[prefix][3] <= 1_000_000:
        taken += ordered[prefix][3]
        prefix += 1
    assert plan["selection"]["web"]["threshold"] == list(ordered[prefix][:3])
    got = _copies(plan, lengths)["web"]
    position = {doc[1:3]: i for i, doc in enumerate(ordered)}
    assert {position[k] for k in got if position[k] >= prefix} == {position[tuple(t)] for t in plan["selection"]["web"]["topups"]}
    selected = sum(lengths[plan["parts"][p]["path"]][r] for p, r in got)
    assert selected <= totals["web"][1] and abs(selected - 1_000_000) < max(d[3] for d in docs)
