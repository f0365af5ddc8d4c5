"""mix: tokenized parts of every source -> shards/{train,val}-<n>.arrow + shards/manifest.json.

The stage that turns the corpus into training shards: it plans the mixture (token-budget weights,
epochs per source, pipelines.mixture) and writes the shards (pipelines.shard_assembly). One task
for the whole mixture: the plan needs every source's token count, and the shuffle is across
sources. It holds a document index (a few ints per document) in memory, not the tokens.
"""
from __future__ import annotations

from pipelines.mixture import MixConfig
from pipelines.rundir import RunDir
from pipelines.shard_assembly import build_shards
from pipelines.stage import BuildContext, Stage, TaskSpec, part_path
from tokenization.tokenizer import tokenizer_spec


def mix_task(run_url: str, payload: dict) -> dict:
    run = RunDir(run_url)
    config = MixConfig.model_validate(payload["mix"])
    spec = tokenizer_spec(payload["tokenizer"])
    parts = {source: [run.local_path(p) for p in paths] for source, paths in payload["parts"].items()}
    manifest = build_shards(parts, config, spec, run.local_path("shards"))
    totals = manifest.totals()
    return {
        "source": "_all",
        "num_docs_out": totals.get("train", {}).get("num_docs", 0) + totals.get("val", {}).get("num_docs", 0),
        "num_tokens_train": totals.get("train", {}).get("num_tokens", 0),
        "num_tokens_val": totals.get("val", {}).get("num_tokens", 0),
        "num_shards": sum(len(v) for v in manifest.splits.values()),
        "warnings": manifest.mixture.get("warnings", []),
    }


class MixStage(Stage):
    name = "mix"
    reads = "tokenize"
    section = "mix"
    config_model = MixConfig
    worker = staticmethod(mix_task)

    def plan(self, ctx: BuildContext) -> list[TaskSpec]:
        previous = ctx.input_of(self)
        config = ctx.config(self)
        if "seed" not in config.model_fields_set:
            config = config.model_copy(update={"seed": ctx.resolved.recipe.seed})
        parts: dict[str, list[str]] = {}
        for task in previous.tasks:
            parts.setdefault(task.payload["source"], []).append(
                part_path(previous.stage, task.payload["source"], task.task_id))
        payload = {"task_id": "shards", "source": "_all", "kind": "mix", "mix": config.model_dump(mode="json"),
                   "tokenizer": previous.tasks[0].payload["tokenizer"] if previous.tasks else None,
                   "parts": parts, "upstream": [t.fingerprint for t in previous.tasks]}
        return [TaskSpec("shards", payload)]
