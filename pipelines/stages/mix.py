"""mix: tokenized parts of every source -> shards/{train,val}-<n>.arrow + shards/manifest.json.

One task for the whole mixture: the plan needs every source's token count, and the shuffle is
across sources. It holds a document index (a few ints per document) in memory, not the tokens.
"""
from __future__ import annotations

from pipelines.mixture import MixConfig
from pipelines.shard_assembly import build_shards
from pipelines.rundir import RunDir
from pipelines.stages.tokenize import tokenizer_spec


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
