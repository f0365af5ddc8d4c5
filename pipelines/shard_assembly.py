"""Shard assembly in one process: the tokenized parts of every source -> mixed train/val shards +
manifest.json, by running the mix's steps (pipelines/mix_select.py, pipelines/mix_scatter.py)
one after the other.

The `mix` stage runs the same steps as parallel tasks; both give byte-identical output. The rules,
deterministic for a seed:
1. hold out the validation documents per source first (`val_fraction` of the documents, at
   least `min_val_docs` when the source has >= 2 documents, never all of them; a uniformly
   random subset);
2. plan on the remaining (train) tokens, so that the epoch caps hold exactly on what is sampled;
3. select whole documents per source: every document `floor(epochs)` times, then for the
   fraction a seeded random prefix of the documents, topped up within the last gap (less than
   one document) by the next documents in that order that fit, never past the cap;
4. shuffle all selected documents across sources with seeded keys and cut `train-00000.arrow`,
   ... as N equal key ranges, N = ceil(tokens / shard_tokens): shards hold `shard_tokens` on
   average (at most, on average; each one varies with the documents it drew); the same for `val-*`;
5. copy tokenizer.json next to the shards and write manifest.json last (it marks completion).

Memory: a count step holds ~36 bytes per document of one group of parts; the plan step one
window of documents per source (the key bin where a source's selection ends and 65,536 more
documents); a scatter step one group of parts and a shard step one bucket of shards, each about
`task_tokens` tokens. Staging (the key files, 28 bytes a training document, and the scattered
copies, about one more copy of the selected tokens) is removed at the end.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Mapping, Sequence

import fsspec

from pipelines.mix_io import token_counts
from pipelines.mix_scatter import SPLITS, bucket_batches, finish_manifest, scatter_group, write_planned_bucket
from pipelines.mix_select import count_group, mix_layout, plan_selection, sum_totals
from pipelines.mixture import MixConfig
from tokenization.manifest import MANIFEST_NAME, Manifest
from tokenization.tokenizer import TokenizerSpec


def build_shards(
    parts: Mapping[str, Sequence[str | os.PathLike]],
    config: MixConfig,
    tokenizer: TokenizerSpec,
    out_dir: str | os.PathLike,
    *,
    staging_dir: str | os.PathLike | None = None,
) -> Manifest:
    """Mix the tokenized parts (source -> local parquet/arrow paths) into train/val shards +
    manifest.json under `out_dir`, in this process.

    Deterministic for `config.seed`: the same parts give byte-identical shards and manifest
    (part paths are sorted per source, so listing order does not matter).
    """
    fs = fsspec.filesystem("file")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    # An interrupted rebuild must not leave an old manifest describing half-rewritten shards.
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)
    staging = Path(staging_dir).resolve() if staging_dir is not None else out_dir / "_staging"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        plan = plan_mix(parts, config, tokenizer, staging)
        sent = [scatter_group(fs, str(staging), group, plan) for group in range(len(plan["groups"]))]
        shards = {split: [] for split in SPLITS}
        for batch, (split, bucket, _, _) in enumerate(bucket_batches(plan)):
            shards[split] += write_planned_bucket(fs, str(staging), str(out_dir), split, bucket, plan, tokenizer,
                                                  expected_docs=sum(counts[batch] for counts in sent))
        return finish_manifest(fs, str(out_dir), plan, shards, tokenizer, local_dir=out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def plan_mix(parts: Mapping[str, Sequence[str | os.PathLike]], config: MixConfig, tokenizer: TokenizerSpec,
             staging: str | os.PathLike) -> dict:
    """The mix's count and plan steps in this process: the plan (what plan.json holds), with the
    key files written under `staging`."""
    fs = fsspec.filesystem("file")
    listed = []
    for source, paths in parts.items():
        for path in paths:
            counts = token_counts(fs, str(Path(path).resolve()))
            listed.append({"path": str(Path(path).resolve()), "source": source, "num_docs": len(counts),
                           "num_tokens": int(counts.sum())})
    layout = mix_layout(listed, config)
    totals = sum_totals(layout["sources"], [
        count_group(fs, str(staging), group, layout["parts"][first:end], layout["sources"], config.seed, tokenizer)
        for group, (first, end) in enumerate(layout["groups"])])
    return plan_selection(fs, str(staging), layout, totals, config)
