"""filter: annotate part -> filter/<source>/part-<task>.parquet (kept) and
filter/rejects/<reason>/part-<task>.parquet (removed, all or a seeded sample, with their scores).

Cheap: it reads stored scores and applies the thresholds (`pipelines.filters.decide`); the filters
themselves live in `pipelines/filters/`.
"""
from __future__ import annotations

from pipelines.filters import FilterConfig, ThresholdSettings, decide, filter_stats, split_rejects
from pipelines.rundir import RunDir
from pipelines.stage import BuildContext, Stage, TaskSpec, downstream_tasks, part_path
from pipelines.stages.annotate import source_filter_settings


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


class FilterStage(Stage):
    name = "filter"
    reads = "annotate"
    section = "filter"
    config_model = FilterConfig
    worker = staticmethod(filter_task)

    def plan(self, ctx: BuildContext) -> list[TaskSpec]:
        common = {"rejects_sample_rate": ctx.config(self).rejects_sample_rate, "seed": ctx.resolved.recipe.seed}
        return [TaskSpec(t.task_id, {**t.payload, "thresholds": source_filter_settings(ctx, t.payload)
                                     .thresholds.model_dump(mode="json")})
                for t in downstream_tasks(ctx.input_of(self), common)]
