"""annotate + filter: scores computed once per document, thresholds applied cheaply after.

annotate: extract/<source>/part-<task>.parquet -> annotate/<source>/part-<task>.parquet (all
documents, score columns added, PII scrubbed). Its payload holds only the AnnotateSettings (what
changes scores), so a threshold change leaves every annotate marker valid: nothing is rescored.
filter: annotate part -> filter/<source>/part-<task>.parquet (kept) and
filter/rejects/<reason>/part-<task>.parquet (removed, all or a seeded sample, with their scores).
"""
from __future__ import annotations

from collections import Counter

from pipelines.filters import AnnotateSettings, ThresholdSettings, annotate, decide, filter_stats, split_rejects
from pipelines.rundir import RunDir
from pipelines.stages.extract import part_path


def annotate_task(run_url: str, payload: dict) -> dict:
    run = RunDir(run_url)
    settings = AnnotateSettings.model_validate(payload["annotate"])
    table = run.read_parquet(payload["input"])
    annotated = annotate(table, settings)
    run.write_parquet(part_path("annotate", payload["source"], payload["task_id"]), annotated)
    errors = Counter(annotated.column("annotate_error").drop_null().to_pylist()
                     if "annotate_error" in annotated.column_names else [])
    return {"source": payload["source"], "num_docs_in": table.num_rows, "num_docs_out": annotated.num_rows,
            "reasons": dict(sorted(errors.items()))}


def filter_task(run_url: str, payload: dict) -> dict:
    run = RunDir(run_url)
    thresholds = ThresholdSettings.model_validate(payload["thresholds"])
    annotated = run.read_parquet(payload["input"])
    decided = decide(annotated, thresholds)
    kept, rejects = split_rejects(decided, payload["rejects_sample_rate"], payload["seed"])
    run.write_parquet(part_path("filter", payload["source"], payload["task_id"]), kept)
    for reason, table in sorted(rejects.items()):
        run.write_parquet(f"filter/rejects/{reason}/part-{payload['task_id']}.parquet", table)
    return _task_stats(filter_stats(decided), payload["source"])


def _task_stats(stats: dict, source: str) -> dict:
    """filter_stats is keyed by source; a task holds one source: use the runner's stat keys."""
    entry = stats.get(source, {})
    removed = entry.get("removed", {})
    return {
        "source": source,
        "num_docs_in": entry.get("num_documents_in", 0),
        "num_docs_out": entry.get("num_documents_out", 0),
        "num_chars_in": entry.get("num_chars_in", 0),
        "num_chars_out": entry.get("num_chars_out", 0),
        "reasons": {reason: item["num_documents"] for reason, item in removed.items()},
        "reason_chars": {reason: item["num_chars"] for reason, item in removed.items()},
    }
