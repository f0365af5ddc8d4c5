"""mix: tokenized parts of every source -> shards/{train,val}-<n>.arrow + shards/manifest.json.

Three phases (pipelines/mix_scatter.py has the steps, and why the output does not depend on the
number of tasks):
  mix-plan     one task: validation hold-out, mixture plan, selection, shuffle, shard cuts, task
               layout (it reads each part's `num_tokens` column only) -> mix-staging/select/*, plan.json
  mix-scatter  one task per group of consecutive parts (~task_tokens): one scatter file, a record
               batch per bucket
  mix          one task per bucket of consecutive shards (~task_tokens): gather, order, write
               shards/<split>-<n>.arrow (task id: the bucket's first shard)
then the driver writes shards/tokenizer.json and, last, shards/manifest.json from the per-shard
records, and removes the scattered copies (the plan and selection lists stay, small, for resume). All through fsspec: the run directory may be on S3.
"""
from __future__ import annotations

from pipelines.mix_scatter import (SPLITS, finish_manifest, plan_shards, read_plan, scatter_group,
                                   write_planned_bucket)
from pipelines.mixture import MixConfig
from pipelines.rundir import RunDir
from pipelines.stage import BuildContext, Phase, Stage, TaskSpec, marker_path, part_path
from pipelines.stages.tokenizer import run_tokenizer
from tokenization.manifest import MANIFEST_NAME
from tokenization.shards import ShardInfo

STAGING = "mix-staging"
SHARDS = "shards"


def plan_task(run_url: str, payload: dict) -> dict:
    run = RunDir(run_url)
    if run.exists(f"{SHARDS}/{MANIFEST_NAME}"):  # an old manifest must not describe half-rewritten shards
        run.fs.rm(run.path(SHARDS, MANIFEST_NAME))
    if run.exists(STAGING):
        run.fs.rm(run.path(STAGING), recursive=True)
    parts = {source: [run.path(p) for p in paths] for source, paths in payload["parts"].items()}
    plan = plan_shards(run.fs, parts, MixConfig.model_validate(payload["mix"]),
                       run_tokenizer(run, payload["tokenizer"]), run.path(STAGING))
    return {"source": "_all", "num_parts": len(plan["parts"]),
            "num_shards": sum(len(plan["cuts"][s]) for s in SPLITS)}


def scatter_task(run_url: str, payload: dict) -> dict:
    run = RunDir(run_url)
    plan = read_plan(run.fs, run.path(STAGING))
    copies = scatter_group(run.fs, run.path(STAGING), payload["group"], plan)
    return {"source": "_all", "num_docs_out": copies}


def shard_task(run_url: str, payload: dict) -> dict:
    run = RunDir(run_url)
    plan = read_plan(run.fs, run.path(STAGING))
    infos = write_planned_bucket(run.fs, run.path(STAGING), run.path(SHARDS), payload["split"], payload["bucket"],
                                 plan, run_tokenizer(run, payload["tokenizer"]))
    return {"source": "_all", "split": payload["split"], "shard_infos": [info.to_json() for info in infos],
            "num_docs_out": sum(i.num_docs for i in infos),
            f"num_tokens_{payload['split']}": sum(i.num_tokens for i in infos), "num_shards": len(infos)}


class MixStage(Stage):
    name = "mix"
    reads = "tokenize"
    section = "mix"
    config_model = MixConfig

    def _plan_payload(self, ctx: BuildContext) -> dict:
        previous = ctx.input_of(self)
        config = ctx.config(self)
        if "seed" not in config.model_fields_set:
            config = config.model_copy(update={"seed": ctx.resolved.recipe.seed})
        parts: dict[str, list[str]] = {}
        for task in previous.tasks:
            parts.setdefault(task.payload["source"], []).append(
                part_path(previous.stage, task.payload["source"], task.task_id))
        return {"task_id": "plan", "source": "_all", "kind": "mix", "mix": config.model_dump(mode="json"),
                "tokenizer": previous.tasks[0].payload["tokenizer"] if previous.tasks else None,
                "parts": parts, "upstream": [t.fingerprint for t in previous.tasks]}

    def phases(self, ctx: BuildContext) -> list[Phase]:
        return [Phase("mix-plan", lambda c: [TaskSpec("plan", self._plan_payload(c))], plan_task),
                Phase("mix-scatter", self._scatter_tasks, scatter_task),
                Phase(self.name, self._shard_tasks, shard_task)]

    def _scatter_tasks(self, ctx: BuildContext) -> list[TaskSpec]:
        planned = ctx.results["mix-plan"].tasks[0]
        plan = read_plan(ctx.run.fs, ctx.run.path(STAGING))
        tasks = [TaskSpec(f"{group:05d}", {"group": group, "source": "_all", "upstream": planned.fingerprint})
                 for group in range(len(plan["scatter_groups"]))]
        self._rescatter_for_lost_shards(ctx, tasks)
        return tasks

    def _rescatter_for_lost_shards(self, ctx: BuildContext, scatter_tasks: list[TaskSpec]) -> None:
        """A finished mix removes its scattered copies; a shard lost after that (its object or its
        marker: a crash between the two, an upload never completed) needs them again to be
        rewritten. Then the scatter markers go, so the copies are made anew (same plan, same bytes)."""
        run = ctx.run
        if run.exists(STAGING, "scatter"):  # the copies are there (or the scatter has not finished)
            return
        done = {path.rsplit("/", 1)[-1] for path in run.glob(marker_path(self.name, "*"))}
        if all(task.task_id in done for task in self._shard_tasks(ctx)):
            return
        for task in scatter_tasks:
            if run.exists(marker_path("mix-scatter", task.task_id)):
                run.fs.rm(run.path(marker_path("mix-scatter", task.task_id)))

    def _shard_tasks(self, ctx: BuildContext) -> list[TaskSpec]:
        planned = ctx.results["mix-plan"].tasks[0]
        plan = read_plan(ctx.run.fs, ctx.run.path(STAGING))
        return [TaskSpec(f"{split}-{first:05d}", {"split": split, "bucket": bucket, "source": "_all",
                                                  "tokenizer": planned.payload["tokenizer"],
                                                  "upstream": planned.fingerprint})
                for split in SPLITS for bucket, (first, _) in enumerate(plan["buckets"][split])]

    def finish(self, ctx: BuildContext) -> None:
        result = ctx.results[self.name]
        planned = ctx.results["mix-plan"].tasks[0]
        plan = read_plan(ctx.run.fs, ctx.run.path(STAGING))
        order = {task.task_id: i for i, task in enumerate(result.tasks)}
        shards = {split: [] for split in SPLITS}
        for stats in sorted(result.stats, key=lambda s: order[s["task"]]):
            shards[stats["split"]].extend(ShardInfo(**info) for info in stats["shard_infos"])
        manifest = finish_manifest(ctx.run.fs, ctx.run.path(SHARDS), plan, shards,
                                   run_tokenizer(ctx.run, planned.payload["tokenizer"]))
        scattered = ctx.run.path(STAGING, "scatter")  # a copy of the selected tokens: not kept
        if ctx.run.fs.exists(scattered):
            ctx.run.fs.rm(scattered, recursive=True)
        for warning in manifest.mixture.get("warnings", []):
            ctx.console.print(f"[yellow]mix: {warning}[/yellow]")
