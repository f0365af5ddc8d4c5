"""annotate: extract/<source>/part-<task>.parquet -> annotate/<source>/part-<task>.parquet (every
document, the enabled filters' score columns added, PII scrubbed).

Its payload holds only the AnnotateSettings (what changes scores), so a threshold change leaves
every annotate marker valid: nothing is rescored (the `filter` stage decides from the scores).
"""
from __future__ import annotations

from collections import Counter

from pipelines.filters import FilterConfig, ResolvedFilterSettings, annotate, settings_for
from pipelines.filters.config import AnnotateSettings
from pipelines.rundir import RunDir
from pipelines.stage import BuildContext, Stage, TaskSpec, downstream_tasks, part_path


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


def source_filter_settings(ctx: BuildContext, payload: dict) -> ResolvedFilterSettings:
    """One source's filter settings: its kind's defaults <- `filter.defaults` <- `filter.sources`."""
    resolved = ctx.resolved
    return settings_for(resolved.sections["filter"], payload["source"], payload["kind"],
                        base_dir=resolved.base_dir)


class AnnotateStage(Stage):
    name = "annotate"
    reads = "extract"
    section = "filter"
    config_model = FilterConfig
    worker = staticmethod(annotate_task)

    def plan(self, ctx: BuildContext) -> list[TaskSpec]:
        # Only the settings that change scores: a threshold change leaves these tasks done.
        return [TaskSpec(t.task_id, {**t.payload, "annotate": source_filter_settings(ctx, t.payload)
                                     .annotate.model_dump(mode="json")})
                for t in downstream_tasks(ctx.input_of(self))]
