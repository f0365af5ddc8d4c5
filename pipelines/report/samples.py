"""A few kept and removed documents, chosen as `corpusmill inspect` chooses them.

The documents with the smallest xxh64("<seed>\\x1f<doc id>") are shown (pipelines.inspection's
key), so `corpusmill inspect RUN --reason R -n 3` prints the same ones. Only the `id` column is
read to choose; then only the chosen rows' text and the scores that decided them. Text is cut to
`MAX_TEXT_CHARS`; the page escapes it (it is data, never markup).
"""
from __future__ import annotations

import heapq
import re

import pyarrow.parquet as pq
import xxhash

from pipelines.inspection import MAX_TEXT_CHARS, deciding_columns
from pipelines.report.runstate import RunState

NUM_SAMPLES = 3
_BLANK_LINES = re.compile(r"\n\s*\n(\s*\n)+")


def sample_key(doc_id: str, seed: int) -> int:
    return xxhash.xxh64_intdigest(f"{seed}\x1f{doc_id}".encode())


def _choose(state: RunState, paths: list[str], n: int, seed: int) -> list[tuple[int, str, int]]:
    """(key, path, row) of the n documents with the smallest keys across the parts."""
    best: list[tuple[int, str, int]] = []
    for path in paths:
        ids = pq.read_table(path, filesystem=state.run.fs, columns=["id"]).column("id").to_pylist()
        best = heapq.nsmallest(n, best + [(sample_key(doc_id, seed), path, row) for row, doc_id in enumerate(ids)])
    return best


def _deciding(stage: str, reason: str | None) -> list[str]:
    if stage == "dedup":  # the dedup stage names the kept copy and the cluster's size
        return ["dedup_kept_id", "dedup_cluster_size"]
    return deciding_columns(reason)


def _document(state: RunState, path: str, row: int, reason: str | None, stage: str) -> dict:
    names = pq.read_schema(path, filesystem=state.run.fs).names
    deciding = _deciding(stage, reason)
    wanted = [c for c in ("id", "source", "text", "url", "path", "num_chars", "drop_reason", *deciding) if c in names]
    record = pq.read_table(path, filesystem=state.run.fs, columns=wanted).slice(row, 1).to_pylist()[0]
    text = _BLANK_LINES.sub("\n\n", record.get("text") or "")
    return {
        "id": record["id"], "source": record.get("source"), "reason": reason,
        "location": record.get("url") or record.get("path"),
        "num_chars": len(record.get("text") or ""),
        "text": text[:MAX_TEXT_CHARS], "truncated": len(text) > MAX_TEXT_CHARS,
        "deciding": {c: record[c] for c in deciding if c in record},
    }


def samples_section(state: RunState, n: int = NUM_SAMPLES) -> dict | None:
    seed = int((state.recipe or {}).get("seed", 0))
    removed = {}
    for stage in ("filter", "dedup"):
        for reason in state.reject_reasons(stage):
            paths = state.run.glob(f"{stage}/rejects/{reason}/part-*.parquet")
            chosen = _choose(state, paths, n, seed)
            if chosen:
                removed[f"{stage}:{reason}"] = {"stage": stage, "reason": reason,
                                                "documents": [_document(state, p, r, reason, stage) for _, p, r in chosen]}
    kept = {}
    stage = state.last_document_stage()
    if stage is not None:
        for source in state.sources:
            chosen = _choose(state, state.part_paths(stage, source), n, seed)
            if chosen:
                kept[source] = {"stage": stage, "documents": [_document(state, p, r, None, stage) for _, p, r in chosen]}
    if not removed and not kept:
        return None
    return {"seed": seed, "max_chars": MAX_TEXT_CHARS, "removed": removed, "kept": kept}
