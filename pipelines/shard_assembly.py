"""Shard assembly in one process: the tokenized parts of every source -> mixed train/val shards +
manifest.json, by running the mix's three steps (pipelines/mix_scatter.py) one after the other.

The `mix` stage runs the same steps as parallel tasks; both give byte-identical output. The rules,
deterministic for a seed:
1. hold out the validation documents per source first (`val_fraction` of the documents, at
   least `min_val_docs` when the source has >= 2 documents, never all of them);
2. plan on the remaining (train) tokens, so that the epoch caps hold exactly on what is sampled;
3. select whole documents per source: every document `floor(epochs)` times, then for the
   fraction a seeded random prefix of the documents, topped up within the last gap (less than
   one document) by the next documents in that order that fit, never past the cap;
4. shuffle all selected documents across sources, cut `train-00000.arrow`, ... of about
   `shard_tokens` each (a shard closes once it holds >= shard_tokens), and the same for `val-*`;
5. copy tokenizer.json next to the shards and write manifest.json last (it marks completion).

Memory: the plan holds ~30 bytes per document (lengths, positions; never tokens); a scatter step
holds one group of parts and a shard step one bucket of shards, each about `task_tokens` tokens. Staging (the selection lists and the
scattered copies, about one more copy of the selected tokens) is removed at the end.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Mapping, Sequence

import fsspec

from pipelines.mix_scatter import SPLITS, finish_manifest, plan_shards, scatter_group, write_planned_bucket
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
    parts = {source: [str(Path(p).resolve()) for p in paths] for source, paths in parts.items()}
    try:
        plan = plan_shards(fs, parts, config, tokenizer, str(staging))
        for group in range(len(plan["scatter_groups"])):
            scatter_group(fs, str(staging), group, plan)
        shards = {split: [info for bucket in range(len(plan["buckets"][split]))
                          for info in write_planned_bucket(fs, str(staging), str(out_dir), split, bucket, plan, tokenizer)]
                  for split in SPLITS}
        return finish_manifest(fs, str(out_dir), plan, shards, tokenizer, local_dir=out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
