"""extract: one input file (or byte range) -> extract/<source>/part-<task>.parquet in DOCUMENT_SCHEMA.

Driver side: `ExtractStage.plan` lists the tasks from the recipe's inputs alone. Worker side:
`extract_task` runs the source kind's reader.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterator

import pyarrow.compute as pc

from corpora import DOCUMENT_SCHEMA, InputError, SkipCounter, batched_tables, reader_for
from pipelines.bad_inputs import bad_input_stats, check_bad_inputs
from pipelines.document_limits import limited_documents
from pipelines.rundir import RunDir
from pipelines.stage import BuildContext, Phase, Stage, TaskSpec, part_path


def _guarded(documents: Iterator[dict], skips: SkipCounter) -> Iterator[dict]:
    """Stop at a reader error, counted, keeping every document read before it. An InputError (not
    this kind of input at all, options no record fits) is the user's to fix: it empties the part
    and is counted and judged against `runner.max_bad_inputs` (pipelines.bad_inputs)."""
    try:
        yield from documents
    except InputError:
        raise
    except Exception as error:
        skips.skip(f"error:{type(error).__name__}")


def extract_task(run_url: str, payload: dict) -> dict:
    try:
        return _extract(run_url, payload)
    except InputError as error:  # not this kind of input at all: an empty part, the file counted
        RunDir(run_url).write_parquet(part_path("extract", payload["source"], payload["task_id"]),
                                      DOCUMENT_SCHEMA.empty_table())
        return bad_input_stats(payload, error)


def _extract(run_url: str, payload: dict) -> dict:
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
    limited = limited_documents(_guarded(documents, skips), skips, max_doc_chars=payload.get("max_doc_chars"),
                                timeout_seconds=payload.get("extract_timeout_seconds"))
    with run.parquet_writer(part_path("extract", source, payload["task_id"]), DOCUMENT_SCHEMA) as writer:
        for table in batched_tables(limited, source, payload["batch_size"]):
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


def extract_tasks(resolved) -> list[TaskSpec]:
    """One task per input file, or per byte range of a huge file whose reader can split it."""
    runner = resolved.recipe.runner
    tasks = []
    for source in resolved.recipe.sources:
        reader = reader_for(source.kind)
        options = resolved.reader_options[source.name].model_dump(mode="json")
        for index, input_file in enumerate(resolved.inputs[source.name]):
            ranges = None
            if hasattr(reader, "split_ranges") and input_file.size_bytes > runner.split_bytes:
                ranges = reader.split_ranges(input_file.path, input_file.size_bytes, runner.split_bytes)
            for part, byte_range in enumerate(ranges or [None]):
                task_id = f"{source.name}.{index:05d}" + (f"-r{part:04d}" if ranges else "")
                tasks.append(TaskSpec(task_id, {
                    "task_id": task_id, "source": source.name, "kind": source.kind,
                    "path": input_file.path, "file_key": input_file.file_key,
                    "size_bytes": (byte_range[1] - byte_range[0]) if byte_range else input_file.size_bytes,
                    "byte_range": list(byte_range) if byte_range else None,
                    "options": options, "batch_size": runner.batch_size,
                    "max_doc_chars": runner.max_doc_chars,
                    "extract_timeout_seconds": runner.extract_timeout_seconds,
                }))
    return tasks


class ExtractStage(Stage):
    name = "extract"
    worker = staticmethod(extract_task)

    def plan(self, ctx: BuildContext) -> list[TaskSpec]:
        return extract_tasks(ctx.resolved)

    def phases(self, ctx: BuildContext) -> list[Phase]:
        return [Phase(self.name, self.plan, extract_task, finish=check_bad_inputs)]
