"""The funnel: documents, characters and tokens per source through each stage that has run.

Documents and characters come from the stages' stats. Tokens are counted only where the corpus was
tokenized (the `tokenize` stage and the shards); for the earlier steps and for removed documents
they are estimated as characters x the source's tokens per character measured at `tokenize`, and
marked `tokens_estimated` (removed text may tokenize differently: non-English pages, minified code).
"""
from __future__ import annotations

import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.report.runstate import DOCUMENT_STAGES, RunState

STEP_OF_STAGE = {"extract": "extracted", "filter": "filtered", "dedup": "deduplicated", "tokenize": "tokenized"}


def _chars_of_parts(state: RunState, stage: str, source: str) -> int:
    """Characters of a stage's kept documents, from their `num_chars` column (annotate's count)."""
    total = 0
    for path in state.part_paths(stage, source):
        table = pq.read_table(path, filesystem=state.run.fs, columns=["num_chars"])
        total += pc.sum(table.column("num_chars")).as_py() or 0
    return total


def tokens_per_char(state: RunState, source: str) -> float | None:
    tokenized = state.stages.get("tokenize")
    entry = tokenized.per_source.get(source) if tokenized else None
    if not entry or not entry.get("num_chars_in"):
        return None
    return entry.get("num_tokens_out", 0) / entry["num_chars_in"]


def _estimate(chars: int | None, ratio: float | None) -> int | None:
    return None if chars is None or ratio is None else round(chars * ratio)


def _document_step(state: RunState, stage: str, source: str, ratio: float | None) -> dict | None:
    entry = state.stages[stage].per_source.get(source)
    if entry is None:
        return None
    chars = entry.get("num_chars_out")
    if chars is None and stage != "extract":
        chars = _chars_of_parts(state, stage, source)
    return {"step": STEP_OF_STAGE[stage], "stage": stage, "num_docs": int(entry.get("num_docs_out", 0)),
            "num_chars": chars, "num_tokens": _estimate(chars, ratio), "tokens_estimated": ratio is not None}


def _removed(state: RunState, stage: str, source: str, ratio: float | None) -> list[dict]:
    entry = state.stages[stage].per_source.get(source) or {}
    reason_chars = entry.get("reason_chars", {})
    rows = []
    for reason, count in sorted(entry.get("reasons", {}).items(), key=lambda kv: (-kv[1], kv[0])):
        # extract's reasons are input records that never became documents (skipped, not removed)
        chars = reason_chars.get(reason) if stage != "extract" else None
        rows.append({"stage": stage, "reason": reason, "num_docs": int(count), "num_chars": chars,
                     "num_tokens_estimated": _estimate(chars, ratio)})
    return rows


def _mixture_steps(manifest: dict, source: str) -> list[dict]:
    entry = manifest.get("mixture", {}).get("sources", {}).get(source)
    totals = manifest.get("totals", {})
    train = totals.get("train", {}).get("tokens_per_source", {}).get(source, 0)
    val = totals.get("val", {}).get("tokens_per_source", {}).get(source, 0)
    return [
        {"step": "mixture_train", "stage": "mix", "num_docs": int(entry["train_docs"]) if entry else None,
         "num_chars": None, "num_tokens": int(train), "tokens_estimated": False},
        {"step": "mixture_val", "stage": "mix", "num_docs": int(entry["val_docs"]) if entry else None,
         "num_chars": None, "num_tokens": int(val), "tokens_estimated": False},
    ]


def funnel_section(state: RunState) -> dict | None:
    if not state.has("extract"):
        return None
    sources = {}
    for source in state.sources:
        ratio = tokens_per_char(state, source)
        steps, removed = [], []
        for stage in DOCUMENT_STAGES:
            if state.has(stage):
                step = _document_step(state, stage, source, ratio)
                if step is not None:
                    steps.append(step)
                removed += _removed(state, stage, source, ratio)
        tokenized = state.stages.get("tokenize")
        entry = tokenized.per_source.get(source) if tokenized else None
        if entry is not None:
            steps.append({"step": "tokenized", "stage": "tokenize", "num_docs": int(entry.get("num_docs_out", 0)),
                          "num_chars": int(entry.get("num_chars_in", 0)),
                          "num_tokens": int(entry.get("num_tokens_out", 0)), "tokens_estimated": False})
        if state.manifest is not None:
            steps += _mixture_steps(state.manifest, source)
        if steps:
            sources[source] = {"tokens_per_char": ratio, "steps": steps, "removed": removed}
    order = [step for step in ("extracted", "filtered", "deduplicated", "tokenized", "mixture_train", "mixture_val")
             if any(s["step"] == step for entry in sources.values() for s in entry["steps"])]
    totals = []
    for name in order:
        rows = [s for entry in sources.values() for s in entry["steps"] if s["step"] == name]
        totals.append({"step": name,
                       "num_docs": _sum([r["num_docs"] for r in rows]),
                       "num_chars": _sum([r["num_chars"] for r in rows]),
                       "num_tokens": _sum([r["num_tokens"] for r in rows]),
                       "tokens_estimated": any(r["tokens_estimated"] for r in rows)})
    return {"steps": order, "sources": sources, "totals": totals,
            "stage_status": {stage: {"num_tasks_done": stats.num_tasks_done, "complete": stats.complete}
                             for stage, stats in state.stages.items()}}


def _sum(values: list) -> int | None:
    """The sum, or None when any value is unknown (a partial total would read as a real one)."""
    return None if any(v is None for v in values) else int(sum(values))
