"""mix: tokenized parts of every source -> shards/{train,val}-<n>.arrow + shards/manifest.json.

Four phases, none of them a pass over every document in one process (pipelines/mix_select.py and
pipelines/mix_scatter.py have the steps, and why the output does not depend on the number of tasks):
  mix-count    one task per group of consecutive parts (~task_tokens): val hold-out, selection keys,
               a histogram of tokens over key bins -> mix-staging/keys/<group>.{records,hist.npy}
  mix-plan     one task: the mixture plan from the counts' totals, each source's selection rule from
               the summed histograms and one window of documents -> mix-staging/plan.json
  mix-scatter  one task per group: the selected copies with their shuffle keys, one scatter file
               with a record batch per bucket
  mix          one task per bucket of consecutive shards (~task_tokens): gather, order, write
               shards/<split>-<n>.arrow (task id: the bucket's first shard)
then the driver writes shards/tokenizer.json and, last, shards/manifest.json from the per-shard
records, and removes the scattered copies. The plan and the key files stay (28 bytes a training
document), so a build with other weights re-plans without reading the parts' counts again. All
through fsspec: the run directory may be on S3. The driver plans from the tokenize stage's
per-part stats (documents, tokens), never from the parts themselves.
"""
from __future__ import annotations

from pipelines.mix_scatter import (SPLITS, bucket_batches, finish_manifest, read_plan, scatter_group,
                                   write_plan, write_planned_bucket)
from pipelines.mix_select import count_group, mix_layout, plan_selection, sum_totals
from pipelines.mixture import MixConfig
from pipelines.rundir import RunDir
from pipelines.stage import BuildContext, Phase, Stage, TaskSpec, marker_path, part_path
from pipelines.stages.tokenizer import run_tokenizer
from tokenization.manifest import MANIFEST_NAME
from tokenization.shards import ShardInfo

STAGING = "mix-staging"
SHARDS = "shards"


def _in_run(run: RunDir, parts: list[dict]) -> list[dict]:
    """Parts with their run-relative paths made readable on this worker."""
    return [{**part, "path": run.path(part["path"])} for part in parts]


def count_task(run_url: str, payload: dict) -> dict:
    run = RunDir(run_url)
    totals = count_group(run.fs, run.path(STAGING), payload["group"], _in_run(run, payload["parts"]),
                         payload["sources"], payload["seed"], run_tokenizer(run, payload["tokenizer"]))
    return {"source": "_all", "totals": totals, "num_docs_in": sum(p["num_docs"] for p in payload["parts"])}


def plan_task(run_url: str, payload: dict) -> dict:
    run = RunDir(run_url)
    if run.exists(f"{SHARDS}/{MANIFEST_NAME}"):  # an old manifest must not describe half-rewritten shards
        run.fs.rm(run.path(SHARDS, MANIFEST_NAME))
    if run.exists(STAGING, "scatter"):  # copies scattered under another plan
        run.fs.rm(run.path(STAGING, "scatter"), recursive=True)
    layout = payload["layout"]
    plan = plan_selection(run.fs, run.path(STAGING), layout, payload["totals"], MixConfig.model_validate(payload["mix"]))
    write_plan(run.fs, run.path(STAGING), plan)
    return {"source": "_all", "num_parts": len(layout["parts"]), "num_shards": sum(plan["num_shards"].values())}


def scatter_task(run_url: str, payload: dict) -> dict:
    run = RunDir(run_url)
    plan = read_plan(run.fs, run.path(STAGING))
    plan["parts"] = _in_run(run, plan["parts"])
    sent = scatter_group(run.fs, run.path(STAGING), payload["group"], plan)
    return {"source": "_all", "num_docs_out": sum(sent), "bucket_docs": sent}


def shard_task(run_url: str, payload: dict) -> dict:
    run = RunDir(run_url)
    plan = read_plan(run.fs, run.path(STAGING))
    infos = write_planned_bucket(run.fs, run.path(STAGING), run.path(SHARDS), payload["split"], payload["bucket"],
                                 plan, run_tokenizer(run, payload["tokenizer"]), payload["expected_docs"])
    return {"source": "_all", "split": payload["split"], "shard_infos": [info.to_json() for info in infos],
            "num_docs_out": sum(i.num_docs for i in infos),
            f"num_tokens_{payload['split']}": sum(i.num_tokens for i in infos), "num_shards": len(infos)}


class MixStage(Stage):
    name = "mix"
    reads = "tokenize"
    section = "mix"
    config_model = MixConfig

    def _config(self, ctx: BuildContext) -> MixConfig:
        config = ctx.config(self)
        if "seed" not in config.model_fields_set:
            config = config.model_copy(update={"seed": ctx.resolved.recipe.seed})
        return config

    def _tokenizer(self, ctx: BuildContext):
        previous = ctx.input_of(self)
        return previous.tasks[0].payload["tokenizer"] if previous.tasks else None

    def _layout(self, ctx: BuildContext) -> dict:
        """The parts (run-relative paths, documents and tokens from the tokenize stage's stats), their
        val quotas and the count/scatter groups."""
        previous = ctx.input_of(self)
        stats = {s["task"]: s for s in previous.stats}
        parts = []
        for task in previous.tasks:
            counted = stats.get(task.task_id, {})
            if "num_docs_out" not in counted or "num_tokens_out" not in counted:
                raise RuntimeError(f"the {previous.stage} stage's stats for task {task.task_id} do not say how many "
                                   f"documents and tokens it wrote; remove the run's _done/{previous.stage} folder and "
                                   "rerun the build")
            parts.append({"path": part_path(previous.stage, task.payload["source"], task.task_id),
                          "source": task.payload["source"], "num_docs": counted["num_docs_out"],
                          "num_tokens": counted["num_tokens_out"], "upstream": task.fingerprint})
        return mix_layout(parts, self._config(ctx))

    def phases(self, ctx: BuildContext) -> list[Phase]:
        return [Phase("mix-count", self._count_tasks, count_task),
                Phase("mix-plan", self._plan_tasks, plan_task),
                Phase("mix-scatter", self._scatter_tasks, scatter_task),
                Phase(self.name, self._shard_tasks, shard_task)]

    def _count_tasks(self, ctx: BuildContext) -> list[TaskSpec]:
        layout = self._layout(ctx)
        return [TaskSpec(f"{group:05d}", {"group": group, "source": "_all", "parts": layout["parts"][first:end],
                                          "sources": layout["sources"], "seed": self._config(ctx).seed,
                                          "tokenizer": self._tokenizer(ctx)})
                for group, (first, end) in enumerate(layout["groups"])]

    def _plan_tasks(self, ctx: BuildContext) -> list[TaskSpec]:
        counted = ctx.results["mix-count"]
        layout = self._layout(ctx)
        totals = sum_totals(layout["sources"], [s["totals"] for s in counted.stats])
        return [TaskSpec("plan", {"source": "_all", "mix": self._config(ctx).model_dump(mode="json"),
                                  "layout": layout, "totals": totals,
                                  "upstream": [t.fingerprint for t in counted.tasks]})]

    def _scatter_tasks(self, ctx: BuildContext) -> list[TaskSpec]:
        planned = ctx.results["mix-plan"].tasks[0]
        plan = read_plan(ctx.run.fs, ctx.run.path(STAGING))
        tasks = [TaskSpec(f"{group:05d}", {"group": group, "source": "_all", "upstream": planned.fingerprint})
                 for group in range(len(plan["groups"]))]
        self._rescatter_for_lost_shards(ctx, plan, tasks)
        return tasks

    def _rescatter_for_lost_shards(self, ctx: BuildContext, plan: dict, scatter_tasks: list[TaskSpec]) -> None:
        """A finished mix removes its scattered copies; a shard lost after that (its object or its
        marker: a crash between the two, an upload never completed) needs them again to be
        rewritten. Then the scatter markers go, so the copies are made anew (same plan, same bytes)."""
        run = ctx.run
        if run.exists(STAGING, "scatter"):  # the copies are there (or the scatter has not finished)
            return
        done = {path.rsplit("/", 1)[-1] for path in run.glob(marker_path(self.name, "*"))}
        if all(task_id in done for task_id in _shard_task_ids(plan)):
            return
        for task in scatter_tasks:
            if run.exists(marker_path("mix-scatter", task.task_id)):
                run.fs.rm(run.path(marker_path("mix-scatter", task.task_id)))

    def _shard_tasks(self, ctx: BuildContext) -> list[TaskSpec]:
        planned = ctx.results["mix-plan"].tasks[0]
        plan = read_plan(ctx.run.fs, ctx.run.path(STAGING))
        sent = [s["bucket_docs"] for s in ctx.results["mix-scatter"].stats]
        return [TaskSpec(task_id, {"split": split, "bucket": bucket, "source": "_all",
                                   "tokenizer": self._tokenizer(ctx), "upstream": planned.fingerprint,
                                   "expected_docs": sum(counts[batch] for counts in sent)})
                for batch, (task_id, (split, bucket, _, _)) in enumerate(zip(_shard_task_ids(plan), bucket_batches(plan)))]

    def finish(self, ctx: BuildContext) -> None:
        result = ctx.results[self.name]
        plan = read_plan(ctx.run.fs, ctx.run.path(STAGING))
        order = {task.task_id: i for i, task in enumerate(result.tasks)}
        shards = {split: [] for split in SPLITS}
        for stats in sorted(result.stats, key=lambda s: order[s["task"]]):
            shards[stats["split"]].extend(ShardInfo(**info) for info in stats["shard_infos"])
        manifest = finish_manifest(ctx.run.fs, ctx.run.path(SHARDS), plan, shards,
                                   run_tokenizer(ctx.run, self._tokenizer(ctx)))
        scattered = ctx.run.path(STAGING, "scatter")  # a copy of the selected tokens: not kept
        if ctx.run.fs.exists(scattered):
            ctx.run.fs.rm(scattered, recursive=True)
        for warning in manifest.mixture.get("warnings", []):
            ctx.console.print(f"[yellow]mix: {warning}[/yellow]")


def _shard_task_ids(plan: dict) -> list[str]:
    """A mix task per bucket, named after its first shard, in `bucket_batches` order."""
    return [f"{split}-{first:05d}" for split, _, first, _ in bucket_batches(plan)]
