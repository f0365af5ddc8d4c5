"""extract: one input file -> extract/<source>/part-<task>.parquet in DOCUMENT_SCHEMA."""
from __future__ import annotations

from collections import Counter
from typing import Iterator

import pyarrow.compute as pc

from corpora import DOCUMENT_SCHEMA, InputError, SkipCounter, batched_tables, reader_for
from pipelines.rundir import RunDir


def part_path(stage: str, source: str, task_id: str) -> str:
    return f"{stage}/{source}/part-{task_id}.parquet"


def _guarded(documents: Iterator[dict], skips: SkipCounter) -> Iterator[dict]:
    """Stop at a reader error, counted, keeping every document read before it. An InputError (not
    this kind of input at all, options no record fits) is the user's to fix: it stops the build."""
    try:
        yield from documents
    except InputError:
        raise
    except Exception as error:
        skips.skip(f"error:{type(error).__name__}")


def extract_task(run_url: str, payload: dict) -> dict:
    source, kind = payload["source"], payload["kind"]
    reader = reader_for(kind)
    options = reader.Options.model_validate(payload["options"])
    skips = SkipCounter()
    # A byte range only reaches readers that offered to split the file (their `split_ranges`).
    extra = {"byte_range": tuple(payload["byte_range"])} if payload.get("byte_range") else {}
    documents = reader.iter_documents(
        payload["path"], source=source, file_key=payload["file_key"], options=options, skips=skips, **extra
    )
    num_docs = num_chars = 0
    run = RunDir(run_url)
    with run.parquet_writer(part_path("extract", source, payload["task_id"]), DOCUMENT_SCHEMA) as writer:
        for table in batched_tables(_guarded(documents, skips), source, payload["batch_size"]):
            writer.write_table(table)
            num_docs += table.num_rows
            num_chars += pc.sum(pc.utf8_length(table["text"])).as_py() or 0
    return {
        "source": source,
        "input": payload["path"],
        "num_bytes_in": payload["size_bytes"],
        "num_docs_out": num_docs,
        "num_chars_out": num_chars,
        "reasons": dict(sorted(Counter(skips).items())),
    }
