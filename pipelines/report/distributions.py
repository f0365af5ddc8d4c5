"""Per-source distributions: document length, top languages, each score with its threshold,
duplicate cluster sizes.

Columns are read one at a time across a source's parts (parquet is columnar: only that column's
bytes are read), so memory holds one column of one source, never the texts.
- length: `num_tokens` of the tokenize parts (kept documents); before tokenize, `num_chars` of
  the last document stage, labelled as characters;
- languages: `lid_lang` (or `code_language`) of the annotate parts (every document the filter saw)
  and of the kept documents;
- scores: every annotate column a filter rule reads, histogram over the documents that have a value
  (LID's quality gate leaves later scores null for documents already failing LID), each rule's
  limit marked;
- duplicate clusters: `dedup_cluster_size` per distinct `dedup_cluster_id` among the kept
  documents, when the dedup stage wrote those columns.
Bin edges: powers of two from 0 for counts spanning more than two decades (lengths, words), one
bin per value for counts over a short range (stop words, cluster sizes), else 20 equal bins over
the values and the thresholds. Each histogram is numpy.histogram on those edges.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.report.runstate import RunState
from pipelines.report.thresholds import score_rules

NUM_LINEAR_BINS = 20
TOP_LANGUAGES = 10
LANGUAGE_COLUMNS = ("lid_lang", "code_language")


def _column(state: RunState, paths: list[str], name: str) -> pa.ChunkedArray | None:
    chunks = []
    for path in paths:
        if name not in pq.read_schema(path, filesystem=state.run.fs).names:
            return None
        chunks += pq.read_table(path, filesystem=state.run.fs, columns=[name]).column(name).chunks
    return pa.chunked_array(chunks) if chunks else None


def numeric_values(column: pa.ChunkedArray) -> np.ndarray:
    """Float64 values without nulls and NaNs."""
    values = pc.drop_null(column).to_numpy(zero_copy_only=False).astype(np.float64)
    return values[~np.isnan(values)]


def bin_edges(values: np.ndarray, limits: list[float], integer: bool) -> list[float]:
    points = np.concatenate([values, np.asarray(limits, dtype=np.float64)])
    low, high = float(points.min()), float(points.max())
    if integer and low >= 0 and high > 100 * max(low, 1):
        top = int(np.ceil(np.log2(high + 1)))
        return [0.0] + [float(2 ** k) for k in range(top + 1)]
    if integer and high - low <= 2 * NUM_LINEAR_BINS:  # one bin per value: [k, k + 1)
        return [float(k) for k in range(int(np.floor(low)), int(np.ceil(high)) + 2)]
    if high == low:
        high = low + 1.0
    return np.linspace(low, high, NUM_LINEAR_BINS + 1).tolist()


def histogram(values: np.ndarray, edges: list[float]) -> list[int]:
    counts, _ = np.histogram(values, bins=np.asarray(edges))
    return [int(c) for c in counts]


def _length(state: RunState, source: str) -> dict | None:
    if state.has("tokenize"):
        paths, column, unit = state.part_paths("tokenize", source), "num_tokens", "tokens"
    else:
        stage = state.last_document_stage()
        paths, column, unit = (state.part_paths(stage, source) if stage else []), "num_chars", "characters"
    values = _column(state, paths, column) if paths else None
    if values is None or len(values) == 0:
        return None
    numbers = numeric_values(values)
    edges = bin_edges(numbers, [], integer=True)
    return {"unit": unit, "column": column, "num_docs": int(numbers.size), "edges": edges,
            "counts": histogram(numbers, edges), "median": float(np.median(numbers)),
            "mean": float(numbers.mean())}


def _top(values: list) -> list[list]:
    counts = Counter(v if v is not None else "(none)" for v in values)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    top = [[name, int(count)] for name, count in ranked[:TOP_LANGUAGES]]
    rest = sum(count for _, count in ranked[TOP_LANGUAGES:])
    return top + ([["(other)", int(rest)]] if rest else [])


def _languages(state: RunState, source: str) -> dict | None:
    kept_stage = state.last_document_stage()
    for column in LANGUAGE_COLUMNS:
        seen = _column(state, state.part_paths("annotate", source), column) if state.has("annotate") else None
        if seen is None:
            continue
        kept = _column(state, state.part_paths(kept_stage, source), column) if kept_stage else None
        return {"column": column, "all": _top(seen.to_pylist()),
                "kept": _top(kept.to_pylist()) if kept is not None else [], "kept_stage": kept_stage}
    return None


def _scores(state: RunState, source: str) -> list[dict]:
    if not state.has("annotate"):
        return []
    paths = state.part_paths("annotate", source)
    if not paths:
        return []
    by_column: dict[str, list] = {}
    for rule in score_rules(state.recipe, source, pq.read_schema(paths[0], filesystem=state.run.fs)):
        by_column.setdefault(rule.column, []).append(rule)
    out = []
    for name, rules in by_column.items():
        column = _column(state, paths, name) if paths else None
        if column is None:
            continue
        values = numeric_values(column.cast(pa.float64()) if pa.types.is_boolean(column.type) else column)
        if values.size == 0:
            out.append({"column": name, "num_docs": 0, "num_missing": len(column), "edges": [], "counts": [],
                        "thresholds": [_rule_json(r) for r in rules]})
            continue
        edges = bin_edges(values, [r.limit for r in rules], integer=pa.types.is_integer(column.type))
        out.append({"column": name, "num_docs": int(values.size), "num_missing": len(column) - int(values.size),
                    "edges": edges, "counts": histogram(values, edges),
                    "thresholds": [_rule_json(r) for r in rules]})
    return out


def _rule_json(rule) -> dict:
    return {"limit": float(rule.limit), "drop_when": rule.drop_when, "reason": rule.reason, "note": rule.note}


def _dup_clusters(state: RunState, source: str) -> dict | None:
    if not state.has("dedup"):
        return None
    paths = state.part_paths("dedup", source)
    ids = _column(state, paths, "dedup_cluster_id") if paths else None
    sizes = _column(state, paths, "dedup_cluster_size") if paths else None
    if ids is None or sizes is None:
        return None
    clusters: dict = {}
    for cluster, size in zip(ids.to_pylist(), sizes.to_pylist()):
        if cluster is not None and size is not None and size > 1:
            clusters[cluster] = max(int(size), clusters.get(cluster, 0))
    values = np.asarray(list(clusters.values()), dtype=np.float64)
    edges = bin_edges(values, [2.0], integer=True) if values.size else []
    return {"num_clusters": len(clusters), "num_kept_docs": len(ids),
            "num_docs_in_clusters": int(values.sum()) if values.size else 0,
            "largest": int(values.max()) if values.size else 0,
            "edges": edges, "counts": histogram(values, edges) if values.size else []}


def distributions_section(state: RunState) -> dict | None:
    if not state.has("extract"):
        return None
    out = {}
    for source in state.sources:
        entry = {"length": _length(state, source), "languages": _languages(state, source),
                 "scores": _scores(state, source), "dup_clusters": _dup_clusters(state, source)}
        if any(value for value in entry.values()):
            out[source] = entry
    return out or None
