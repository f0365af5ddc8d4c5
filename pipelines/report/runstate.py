"""What a run directory holds so far: which stages ran, their stats, the recipe, the manifest.

The report must work on a partial or running build, so nothing here assumes the build finished:
a stage is present once one of its tasks wrote `_stats/<stage>/<task>.json`. Its totals are the
merged `_stats/<stage>.json` the build writes at its end when that file is at least as new as every
task's stats (the build finished after them; stats of tasks an older recipe had are left out);
otherwise the per-task files are summed as they are (a build is running, or was interrupted).
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import yaml

from pipelines.rundir import RunDir
from pipelines.stage_stats import merge_stats

DOCUMENT_STAGES = ("extract", "filter", "dedup")  # stages whose parts are documents, in order
MANIFEST_REL = "shards/manifest.json"


def _mtime(run: RunDir, path: str) -> float:
    info = run.fs.info(path)
    for key in ("mtime", "LastModified", "last_modified", "created"):
        value = info.get(key)
        if isinstance(value, dt.datetime):
            return value.timestamp()
        if isinstance(value, (int, float)):
            return float(value)
    return 0.0


@dataclass
class StageStats:
    """One stage's totals per source (merge_stats format) and how complete they are."""

    per_source: dict[str, dict]
    num_tasks_done: int
    complete: bool  # the merged file of a finished build was used


@dataclass
class RunState:
    run: RunDir
    recipe: dict | None  # recipe.resolved.yaml
    run_info: dict | None  # run.json (written when a build finishes)
    stages: dict[str, StageStats] = field(default_factory=dict)
    manifest: dict | None = None

    @property
    def sources(self) -> list[str]:
        """Source names in recipe order (then any others the stats name)."""
        names = [s["name"] for s in (self.recipe or {}).get("sources", [])]
        for stats in self.stages.values():
            names += [name for name in stats.per_source if name not in names and name != "_all"]
        return names

    def source_kind(self, name: str) -> str | None:
        for source in (self.recipe or {}).get("sources", []):
            if source["name"] == name:
                return source["kind"]
        return None

    def has(self, stage: str) -> bool:
        return stage in self.stages

    def last_document_stage(self) -> str | None:
        present = [s for s in DOCUMENT_STAGES if self.has(s)]
        return present[-1] if present else None

    def part_paths(self, stage: str, source: str) -> list[str]:
        return self.run.glob(f"{stage}/{source}/part-*.parquet")

    def reject_reasons(self, stage: str) -> list[str]:
        base = self.run.path(stage, "rejects")
        if not self.run.fs.isdir(base):
            return []
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in self.run.fs.ls(base, detail=False)
                      if self.run.fs.isdir(p))


def read_stage_stats(run: RunDir, stage: str) -> StageStats | None:
    task_files = run.glob(f"_stats/{stage}/*.json")
    merged_rel = f"_stats/{stage}.json"
    if not task_files:
        return None
    newest_task = max(_mtime(run, path) for path in task_files)
    if run.exists(merged_rel) and _mtime(run, run.path(merged_rel)) >= newest_task:
        merged = run.read_json(merged_rel)
        return StageStats(merged, sum(int(v.get("num_tasks", 0)) for v in merged.values()), True)
    stats = [json.loads(run.fs.cat_file(path)) for path in task_files]
    return StageStats(merge_stats(stats), len(stats), False)


def read_run(run_url: str) -> RunState:
    run = RunDir(run_url)
    recipe = yaml.safe_load(run.read_text("recipe.resolved.yaml")) if run.exists("recipe.resolved.yaml") else None
    run_info = run.read_json("run.json") if run.exists("run.json") else None
    state = RunState(run=run, recipe=recipe, run_info=run_info)
    stage_names = {p.rstrip("/").rsplit("/", 1)[-1] for p in run.glob("_stats/*") if run.fs.isdir(p)}
    for stage in sorted(stage_names):
        stats = read_stage_stats(run, stage)
        if stats is not None:
            state.stages[stage] = stats
    if run.exists(MANIFEST_REL):
        state.manifest = run.read_json(MANIFEST_REL)
    return state
