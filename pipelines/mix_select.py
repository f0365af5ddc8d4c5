"""Which document copies the mix takes, decided in tasks from per-part counts: no step reads every
document's length in one process (no Ray here; pipelines/stages/mix.py runs these as phases).

Every decision is a function of the seed, the source, a part's ordinal within its source (parts
sorted by path) and a row, so it is the same whatever the number of tasks or nodes:
- **Validation hold-out**: `validation_count` documents of a source, a uniformly random subset,
  drawn as per-part quotas (a seeded multivariate hypergeometric draw over the parts' document
  counts, which the tokenize stage's stats already hold) and then a uniform choice in each part.
- **Selection keys**: every document gets a seeded 64-bit key; the source's training documents in
  key order (ties by part, then row) are a uniformly random order.
- **Selection**, on that order: every document floor(epochs) times, then
  `mixture.fill_fraction` for the remainder: the longest key-order prefix that fits, then top-ups
  within the gap. The prefix is found from per-part histograms of tokens over 1,024 key bins
  (`count_group` writes them); only the window from the bin where the prefix ends to at least
  WINDOW_DOCS documents further is read document by document (`plan_selection`). The top-ups
  are looked for in that window, which is the whole rest of the source when the source is small,
  so there the choice equals the rule applied to the whole source (tests/pipelines/test_mix_select.py).
  The result is a threshold (key, part, row) below which a document is in the prefix, plus a
  short list of top-up documents, in plan.json.
"""
from __future__ import annotations

import io
import math
from collections import defaultdict

import numpy as np

from pipelines.mix_io import check_part, put_bytes, token_counts
from pipelines.mixture import (MixConfig, fill_fraction, plan_mixture, seeded_rng, validation_count,
                               validation_warnings)
from tokenization.tokenizer import TokenizerSpec

BIN_BITS = 10  # 1,024 key bins per source in each group's histogram
NUM_BINS = 1 << BIN_BITS
WINDOW_DOCS = 65_536  # documents past the prefix's bin that the top-up may look at
MIN_TASK_TOKENS = 16_000_000
MAX_TASKS_PER_PHASE = 1024
U64_MAX = np.iinfo(np.uint64).max
# A training document in a group's key file: sorted by (source, key, part, row).
KEY_RECORD = np.dtype([("key", "<u8"), ("part", "<i4"), ("row", "<i8"), ("length", "<i8")])


def task_tokens_for(total_tokens: int, config: MixConfig) -> int:
    """Tokens per mix task: the recipe's `task_tokens`, or 16M raised so that a phase has at most
    1,024 tasks (the scatter writes one piece per (group, bucket): at most ~1M pieces)."""
    if config.task_tokens is not None:
        return config.task_tokens
    return max(MIN_TASK_TOKENS, math.ceil(total_tokens / MAX_TASKS_PER_PHASE))


def consecutive_groups(sizes, target: float) -> list[list[int]]:
    """[first, end) runs of consecutive items, each closed once it holds >= target (the last one
    holds the rest); no items, no groups."""
    groups, first, held = [], 0, 0
    for i, size in enumerate(sizes):
        held += size
        if held >= target:
            groups.append([first, i + 1])
            first, held = i + 1, 0
    if first < len(sizes):
        groups.append([first, len(sizes)])
    return groups


def mix_layout(parts: list[dict], config: MixConfig) -> dict:
    """From the tokenized parts ({path, source, num_docs, num_tokens}, as the tokenize stage's stats
    give them): the parts in a fixed order with their ordinal in their source and their val quota,
    and the groups of consecutive parts that one count/scatter task takes."""
    if not parts:
        raise ValueError("the mix got no sources; the tokenize stage produced no parts")
    ordered = sorted(parts, key=lambda p: (p["source"], p["path"]))
    sources = sorted({p["source"] for p in ordered})
    laid_out, ordinals = [], defaultdict(int)
    for index, part in enumerate(ordered):
        laid_out.append({**part, "index": index, "ordinal": ordinals[part["source"]]})
        ordinals[part["source"]] += 1
    for name in sources:
        members = [p for p in laid_out if p["source"] == name]
        counts = [int(p["num_docs"]) for p in members]
        num_val = validation_count(sum(counts), config)
        quotas = (seeded_rng(config.seed, "val", name).multivariate_hypergeometric(counts, num_val)
                  if num_val else np.zeros(len(counts), np.int64))
        for part, quota in zip(members, quotas):
            part["val_docs"] = int(quota)
    task_tokens = task_tokens_for(sum(int(p["num_tokens"]) for p in laid_out), config)
    return {"sources": sources, "parts": laid_out,
            "groups": consecutive_groups([int(p["num_tokens"]) for p in laid_out], task_tokens)}


def part_keys(seed: int, part: dict, num_docs: int) -> tuple[np.ndarray, np.ndarray]:
    """(val mask, selection keys) of a part's rows: the same in the count and the scatter."""
    ordinal = part["ordinal"]
    keys = seeded_rng(seed, "select", part["source"], ordinal).integers(
        0, U64_MAX, size=num_docs, dtype=np.uint64, endpoint=True)
    val = np.zeros(num_docs, bool)
    val[seeded_rng(seed, "val", part["source"], ordinal).choice(num_docs, part["val_docs"], replace=False)] = True
    return val, keys


def _counted_lengths(fs, part: dict, spec: TokenizerSpec | None) -> np.ndarray:
    if spec is not None:
        check_part(fs, part["path"], spec)
    lengths = token_counts(fs, part["path"])
    if len(lengths) != part["num_docs"]:
        raise RuntimeError(f"{part['path']} holds {len(lengths)} documents but the tokenize stage's stats say "
                           f"{part['num_docs']}; remove the run's _done/tokenize folder and rerun the build")
    return lengths


def _keys_path(staging: str, group: int, suffix: str) -> str:
    return f"{staging}/keys/{group:05d}.{suffix}"


def count_group(fs, staging: str, group: int, parts: list[dict], sources: list[str], seed: int,
                spec: TokenizerSpec | None = None) -> dict[str, list[int]]:
    """Step 1, per group of parts: split each part's val rows, key its training rows, and write
    keys/<group>.records (the training documents, sorted by source then key) and
    keys/<group>.hist.npy ([source, (tokens, documents), key bin]). Returns per source
    [train docs, train tokens, val docs, val tokens]."""
    totals = {name: [0, 0, 0, 0] for name in sources}
    pieces, source_ids = [], []
    for part in parts:
        lengths = _counted_lengths(fs, part, spec)
        val, keys = part_keys(seed, part, len(lengths))
        train = np.flatnonzero(~val)
        records = np.empty(len(train), KEY_RECORD)
        records["key"], records["part"], records["row"], records["length"] = keys[train], part["index"], train, lengths[train]
        pieces.append(records)
        source_ids.append(np.full(len(train), sources.index(part["source"]), np.int32))
        entry = totals[part["source"]]
        entry[0] += len(train)
        entry[1] += int(lengths[train].sum())
        entry[2] += int(val.sum())
        entry[3] += int(lengths[val].sum())
    records = np.concatenate(pieces) if pieces else np.empty(0, KEY_RECORD)
    source_of = np.concatenate(source_ids) if source_ids else np.zeros(0, np.int32)
    order = np.lexsort((records["row"], records["part"], records["key"], source_of))
    records, source_of = records[order], source_of[order]
    cells = source_of.astype(np.int64) * NUM_BINS + (records["key"] >> np.uint64(64 - BIN_BITS)).astype(np.int64)
    size = len(sources) * NUM_BINS
    # float64 weights are exact: a group's tokens are far below 2**53
    tokens = np.bincount(cells, weights=records["length"], minlength=size).round().astype(np.int64)
    histogram = np.stack([tokens, np.bincount(cells, minlength=size)]).reshape(2, len(sources), NUM_BINS)
    histogram = histogram.transpose(1, 0, 2).copy()  # [source, (tokens, documents), bin]
    put_bytes(fs, _keys_path(staging, group, "records"), records.tobytes())
    buffer = io.BytesIO()
    np.save(buffer, histogram)
    put_bytes(fs, _keys_path(staging, group, "hist.npy"), buffer.getvalue())
    return totals


def sum_totals(sources: list[str], per_group: list[dict[str, list[int]]]) -> dict[str, list[int]]:
    """The count tasks' per-source [train docs, train tokens, val docs, val tokens], summed."""
    return {name: [sum(group[name][i] for group in per_group) for i in range(4)] for name in sources}


def _read_histogram(fs, staging: str, group: int) -> np.ndarray:
    path = _keys_path(staging, group, "hist.npy")
    if not fs.exists(path):
        raise RuntimeError(f"{path} is missing; remove the run's _done/mix-count folder and rerun the build")
    return np.load(io.BytesIO(fs.cat_file(path)))


def _window_bins(histogram: np.ndarray, remainder: int) -> tuple[int, int]:
    """[first, end) key bins of a source's window: first is the bin where the prefix of
    `remainder` tokens ends; end leaves at least WINDOW_DOCS documents after that bin."""
    cumulative = np.cumsum(histogram[0])
    first = int(np.searchsorted(cumulative, remainder, side="right"))
    after = np.cumsum(histogram[1][first + 1:])
    return first, min(first + 2 + int(np.searchsorted(after, WINDOW_DOCS, side="left")), NUM_BINS)


def plan_selection(fs, staging: str, layout: dict, totals: dict[str, list[int]], config: MixConfig) -> dict:
    """Step 2 (one task, reading per-group histograms and one window per source): the mixture plan
    on the training tokens, and each source's selection rule {full_epochs, threshold, topups}."""
    sources, groups = layout["sources"], layout["groups"]
    plan = plan_mixture({name: totals[name][1] for name in sources}, config)
    fractions = {}  # source -> (remainder, room under the cap)
    rules, selected = {}, {}
    for name in sources:
        available, planned = totals[name][1], plan.sources[name].planned_tokens
        full, remainder = divmod(planned, available) if planned > 0 and available else (0, 0)
        rules[name] = {"full_epochs": full, "threshold": None, "topups": []}
        selected[name] = [full * totals[name][0], full * available]
        if remainder:
            fractions[name] = (remainder, math.floor(config.cap(name) * available) - full * available)
    if fractions:
        summed = sum((_read_histogram(fs, staging, g) for g in range(len(groups))),
                     np.zeros((len(sources), 2, NUM_BINS), np.int64))
        windows = {name: _window_bins(summed[sources.index(name)], remainder)
                   for name, (remainder, _) in fractions.items()}
        found = _read_windows(fs, staging, len(groups), sources, windows)
        for name, (remainder, room) in fractions.items():
            histogram, (first, _) = summed[sources.index(name)], windows[name]
            before_tokens, before_docs = int(histogram[0][:first].sum()), int(histogram[1][:first].sum())
            window = found[name]
            prefix, extra = fill_fraction(window["length"], remainder - before_tokens, room - before_tokens)
            assert prefix < len(window), "the prefix ends inside its window's first bin"
            head = window[prefix]
            rules[name]["threshold"] = [int(head["key"]), int(head["part"]), int(head["row"])]
            rules[name]["topups"] = sorted([int(window["part"][i]), int(window["row"][i])] for i in extra)
            selected[name][0] += before_docs + prefix + len(extra)
            selected[name][1] += before_tokens + int(window["length"][:prefix].sum()) + \
                int(window["length"][extra].sum())
    plan_record = plan.to_json()
    val_stats = {name: totals[name][2:4] for name in sources}
    plan_record["warnings"] += validation_warnings(val_stats, {name: selected[name][1] for name in sources})
    split_tokens = {"train": sum(t for _, t in selected.values()), "val": sum(v[1] for v in val_stats.values())}
    num_shards = {split: math.ceil(tokens / config.shard_tokens) for split, tokens in split_tokens.items()}
    task_tokens = task_tokens_for(sum(split_tokens.values()), config)
    buckets = {split: consecutive_groups([tokens / num_shards[split]] * num_shards[split], task_tokens)
               if num_shards[split] else [] for split, tokens in split_tokens.items()}
    return {"seed": config.seed, "sources": sources, "parts": layout["parts"], "groups": groups,
            "selection": rules, "num_shards": num_shards, "buckets": buckets, "plan": plan_record,
            "train_docs": {name: selected[name][0] for name in sources}, "val_stats": val_stats,
            "config": config.model_dump(mode="json", exclude={"task_tokens"})}


def _read_windows(fs, staging: str, num_groups: int, sources: list[str],
                  windows: dict[str, tuple[int, int]]) -> dict[str, np.ndarray]:
    """Each source's training documents in its window of key bins, from every group's key file
    (ranged reads: the histogram says where a (source, bin) run starts), in key order."""
    found = {name: [] for name in windows}
    for group in range(num_groups):
        docs = _read_histogram(fs, staging, group)[:, 1, :]
        source_starts = np.concatenate([[0], np.cumsum(docs.sum(axis=1))])
        for name, (first, end) in windows.items():
            s = sources.index(name)
            start = int(source_starts[s] + docs[s, :first].sum())
            stop = int(source_starts[s] + docs[s, :end].sum())
            if stop > start:
                data = fs.cat_file(_keys_path(staging, group, "records"), start=start * KEY_RECORD.itemsize,
                                   end=stop * KEY_RECORD.itemsize)
                found[name].append(np.frombuffer(data, KEY_RECORD))
    result = {}
    for name, pieces in found.items():
        window = np.concatenate(pieces) if pieces else np.empty(0, KEY_RECORD)
        result[name] = window[np.lexsort((window["row"], window["part"], window["key"]))]
    return result


def train_copies(rule: dict, part_index: int, keys: np.ndarray, val: np.ndarray) -> np.ndarray:
    """How many times each row of a part goes into training under its source's rule."""
    copies = np.where(val, 0, rule["full_epochs"]).astype(np.int64)
    if rule["threshold"] is not None:
        key, part, row = rule["threshold"]
        rows = np.arange(len(keys))
        key = np.uint64(key)
        before = (keys < key) | ((keys == key) & ((part_index < part) | ((part_index == part) & (rows < row))))
        copies += before & ~val
        for top_part, top_row in rule["topups"]:
            if top_part == part_index:
                copies[top_row] += 1
    return copies
