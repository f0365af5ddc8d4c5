"""The one document schema every source produces (see DESIGN.md, "Data contracts").

Readers yield plain dicts (cheap to build in a tight loop); `documents_to_table` turns a batch of
them into the Arrow table that every stage consumes. Stages add namespaced columns
(`lid_lang`, `gopher_*`, `drop_reason`, ...) and never mutate their input.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any, Iterable, Iterator

import pyarrow as pa
from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """The base of every options model (reader options, recipe sections, filter steps): unknown keys
    are refused (a typo must not silently do nothing) and the values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

DOCUMENT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("text", pa.large_string(), nullable=False),
        pa.field("url", pa.string()),
        pa.field("path", pa.string()),
        # JSON object as a string: sources carry different keys (language, title, licence,
        # crawl date...), and a string keeps one schema for all of them.
        pa.field("meta", pa.string()),
    ]
)


def make_doc_id(source: str, file_key: str, record_key: str | int) -> str:
    """Stable id: a hash of source + file + record offset (or another per-file record key).

    `file_key` should be the path relative to the source's root or glob base, not an absolute
    path, so that the same corpus read from another mount point keeps the same ids.
    """
    digest = hashlib.blake2b(f"{source}\x1f{file_key}\x1f{record_key}".encode(), digest_size=12)
    return digest.hexdigest()


def documents_to_table(documents: Iterable[dict[str, Any]], source: str) -> pa.Table:
    """Build a DOCUMENT_SCHEMA table from reader dicts (keys: id, text, url, path, meta)."""
    ids, texts, urls, paths, metas = [], [], [], [], []
    for doc in documents:
        ids.append(doc["id"])
        texts.append(doc["text"])
        urls.append(doc.get("url"))
        paths.append(doc.get("path"))
        meta = doc.get("meta")
        metas.append(json.dumps(meta, ensure_ascii=False, sort_keys=True) if meta else None)
    return pa.table(
        [ids, [source] * len(ids), texts, urls, paths, metas], schema=DOCUMENT_SCHEMA
    )


def batched_tables(
    documents: Iterable[dict[str, Any]], source: str, batch_size: int = 1000
) -> Iterator[pa.Table]:
    """Group reader dicts into DOCUMENT_SCHEMA tables of at most `batch_size` rows."""
    batch: list[dict[str, Any]] = []
    for doc in documents:
        batch.append(doc)
        if len(batch) >= batch_size:
            yield documents_to_table(batch, source)
            batch = []
    if batch:
        yield documents_to_table(batch, source)


class InputError(ValueError):
    """An input, or a reader's options, that needs the user: not a dump / archive at all, a text
    field that no record has. The build stops and shows this message (it names the fix); it is not
    counted as a skip, and retrying cannot help. Damage inside a real input is counted instead."""


class SkipCounter(Counter):
    """Counts skipped records by a stable reason code (e.g. `warc_revisit`, `wiki_redirect`).

    Readers receive one and increment it; the runner merges it into the stage's stats so nothing
    is dropped silently.
    """

    def skip(self, reason: str, n: int = 1) -> None:
        self[reason] += n
