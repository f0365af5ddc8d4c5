"""`annotate`: the expensive half of filtering. Adds every enabled filter's scores as columns, once.

The filters run in registry order (pipelines/filters/registry.py): each batch-level `prepare`
(LID's batched prediction, URL lists, stop-word ids), then per document each filter's `features`.
A filter that raises on a document leaves that document's columns of the filter null and writes
`annotate_error = "error:<Type>"` (first error only); `decide` turns it into the drop reason. The
batch never fails because of one document.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa

from pipelines.filters.config import AnnotateSettings, ResolvedFilterSettings
from pipelines.filters.registry import FILTERS
from pipelines.filters.word_splitting import splitter
from pipelines.filters.unit import DocumentScores

BASE_COLUMN_TYPES: dict[str, pa.DataType] = {"num_chars": pa.int64(), "annotate_error": pa.string()}


def _column_types() -> dict[str, pa.DataType]:
    types = dict(BASE_COLUMN_TYPES)
    for unit in FILTERS:
        types.update(unit.column_types)
    return types


COLUMN_TYPES = _column_types()  # columns not listed are float64


def score_columns(settings: AnnotateSettings) -> list[str]:
    """The columns `annotate` adds for these settings, in order."""
    columns = list(BASE_COLUMN_TYPES)
    for unit in FILTERS:
        if unit.name in settings.steps:
            columns += unit.columns(settings.steps[unit.name])
    return columns


def _meta_language(meta: str | None) -> str | None:
    if not meta:
        return None
    try:
        value = json.loads(meta).get("language")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


def annotate(table: pa.Table, settings: ResolvedFilterSettings | AnnotateSettings) -> pa.Table:
    """Return `table` with the score columns of `settings` added (and `text` scrubbed of PII).

    Input: a DOCUMENT_SCHEMA table (extra columns are kept). Existing score columns of the same
    names are replaced, so annotating an annotated table is idempotent.
    """
    settings = settings.annotate if isinstance(settings, ResolvedFilterSettings) else settings
    steps = settings.steps
    enabled = [unit for unit in FILTERS if unit.name in steps]
    texts: list[str] = table.column("text").to_pylist()
    num_docs = len(texts)
    urls = table.column("url").to_pylist() if "url" in table.column_names else [None] * num_docs
    metas = table.column("meta").to_pylist() if "meta" in table.column_names else [None] * num_docs

    words = splitter(settings.word_tokenizer) if any(unit.needs_words for unit in enabled) else None
    if words is not None:
        words.trim()  # between documents only: ids stay valid within this batch
    batch: dict[str, Any] = {unit.name: unit.prepare(texts, urls, steps[unit.name], words)
                             for unit in enabled if unit.prepare is not None}
    rows: list[dict[str, Any]] = []
    out_texts: list[str] = []
    for i, text in enumerate(texts):
        doc = DocumentScores(index=i, text=text, url=urls[i], meta_language=_meta_language(metas[i]),
                             steps=steps, batch=batch, words=words, out_text=text)
        rows.append(_score_document(doc, enabled))
        out_texts.append(doc.out_text)

    result = table
    if out_texts != texts:
        index = result.column_names.index("text")
        result = result.set_column(index, result.schema.field("text"),
                                   pa.array(out_texts, type=result.schema.field("text").type))
    for name in score_columns(settings):
        column = pa.array([row.get(name) for row in rows], type=COLUMN_TYPES.get(name, pa.float64()))
        if name in result.column_names:
            result = result.set_column(result.column_names.index(name), name, column)
        else:
            result = result.append_column(name, column)
    return result


def _score_document(doc: DocumentScores, enabled: list) -> dict[str, Any]:
    """One document's scores from every enabled filter, in registry order."""
    row: dict[str, Any] = {"num_chars": len(doc.text)}
    error: str | None = None
    split_tried = False
    for unit in enabled:
        if unit.needs_words:
            if doc.gated:
                continue  # below LID's quality gate: it leaves at LID, unscored
            if not split_tried:  # words are split once, when the first filter needs them
                split_tried = True
                try:
                    doc.word_ids = np.asarray(doc.words.word_ids(doc.text), dtype=np.int64)
                except Exception as failure:
                    error = error or f"error:{type(failure).__name__}"
            if doc.word_ids is None:
                continue
        try:
            scores = unit.features(doc, doc.steps[unit.name])
        except Exception as failure:
            error = error or f"error:{type(failure).__name__}"
            continue
        if scores:
            row.update(scores)
    row["annotate_error"] = error
    return row
