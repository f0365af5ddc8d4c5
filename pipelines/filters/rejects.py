"""Kept/rejected split of a decided table, and the filter's counts."""
from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash


def sample_mask(doc_ids: list[str], sample_rate: float, seed: int) -> np.ndarray:
    """True for the documents in the sample: a hash of (seed, doc id) below the rate, so the same
    documents are chosen whatever the batching or the order."""
    if sample_rate >= 1:
        return np.ones(len(doc_ids), dtype=bool)
    if sample_rate <= 0:
        return np.zeros(len(doc_ids), dtype=bool)
    limit = int(sample_rate * 2**64)
    prefix = f"{seed}\x1f"
    return np.fromiter((xxhash.xxh64_intdigest((prefix + doc_id).encode()) < limit for doc_id in doc_ids),
                       dtype=bool, count=len(doc_ids))


def split_rejects(decided: pa.Table, sample_rate: float = 1.0, seed: int = 0) -> tuple[pa.Table, dict[str, pa.Table]]:
    """(kept documents, sampled removed documents by drop reason, reasons sorted).

    Both keep all columns (scores, `source`, `drop_reason`) so rejects can be inspected.
    """
    reasons = decided.column("drop_reason")
    kept = decided.filter(pc.is_null(reasons))
    removed = decided.filter(pc.is_valid(reasons))
    if removed.num_rows and sample_rate < 1:
        removed = removed.filter(pa.array(sample_mask(removed.column("id").to_pylist(), sample_rate, seed)))
    by_reason: dict[str, pa.Table] = {}
    if removed.num_rows:
        removed_reasons = removed.column("drop_reason")
        for reason in sorted(pc.unique(removed_reasons).to_pylist()):
            by_reason[reason] = removed.filter(pc.equal(removed_reasons, reason))
    return kept, by_reason


def _num_chars(table: pa.Table) -> pa.Array:
    if "num_chars" in table.column_names:
        return pc.fill_null(table.column("num_chars"), 0)
    return pc.utf8_length(table.column("text"))


def filter_stats(decided: pa.Table) -> dict[str, Any]:
    """Per source: documents and characters in and out, and per drop reason.

    Characters are those of the text `annotate` received (`num_chars`), before PII scrubbing.
    {"<source>": {"num_documents_in", "num_chars_in", "num_documents_out", "num_chars_out",
                  "removed": {"<reason>": {"num_documents", "num_chars"}}}}
    """
    sources = decided.column("source").to_pylist()
    reasons = decided.column("drop_reason").to_pylist()
    chars = _num_chars(decided).to_pylist()
    stats: dict[str, Any] = {}
    for source, reason, num_chars in zip(sources, reasons, chars):
        entry = stats.get(source)
        if entry is None:
            entry = stats[source] = {"num_documents_in": 0, "num_chars_in": 0, "num_documents_out": 0,
                                     "num_chars_out": 0, "removed": {}}
        entry["num_documents_in"] += 1
        entry["num_chars_in"] += num_chars
        if reason is None:
            entry["num_documents_out"] += 1
            entry["num_chars_out"] += num_chars
        else:
            removed = entry["removed"].setdefault(reason, {"num_documents": 0, "num_chars": 0})
            removed["num_documents"] += 1
            removed["num_chars"] += num_chars
    for entry in stats.values():
        entry["removed"] = dict(sorted(entry["removed"].items()))
    return dict(sorted(stats.items()))
