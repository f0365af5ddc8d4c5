"""Shard assembly: the tokenized parts of every source -> mixed train/val shards + manifest.json.

No Ray here: the mix stage calls `build_shards` once, after the tokenize stage.

Assembly (`build_shards`), deterministic for a seed:
1. index every document (source, part, row, num_tokens), staging each parquet part once into a
   memory-mapped Arrow file (a `.arrow` part is mapped directly);
2. hold out the validation documents per source first (`val_fraction` of the documents, at
   least `min_val_docs` when the source has >= 2 documents, never all of them);
3. plan on the remaining (train) tokens, so that the epoch caps hold exactly on what is sampled;
4. select whole documents per source: every document `floor(epochs)` times, then for the
   fraction a seeded random prefix of the documents, topped up within the last gap (less than
   one document) by the next documents in that order that fit, never past the cap;
5. shuffle all selected documents across sources, cut `train-00000.arrow`, ... of about
   `shard_tokens` each (a shard closes once it holds >= shard_tokens), and the same for `val-*`;
6. copy tokenizer.json next to the shards and write manifest.json last (it marks completion).

Memory: the document index costs ~20 bytes per document (plus ~16 per selected copy); token data
and document ids stay in the memory-mapped staged parts (read through the page cache; staging
needs disk for one more copy of the tokenized parts, removed at the end), and the process holds
one output shard's tokens at a time (~2-3x shard_tokens x token size while writing it). Paths
must be local: shards and staged parts are memory-mapped.
"""
from __future__ import annotations

import hashlib
import math
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.mixture import (
    TOKENIZER_NAME,
    MixConfig,
    MixturePlan,
    seeded_rng,
    plan_mixture,
    select_documents,
    split_validation,
)
from tokenization.encode import check_tokenized
from tokenization.manifest import MANIFEST_NAME, Manifest
from tokenization.shards import ShardInfo, write_shard
from tokenization.tokenizer import TokenizerSpec


@dataclass(slots=True)
class _Part:
    """One tokenized part, memory-mapped: tokens of row r are values[offsets[r]:offsets[r+1]]."""

    path: str
    offsets: np.ndarray
    values: np.ndarray
    doc_ids: pa.Array
    keep_alive: object  # the memory map the two arrays point into

    def doc(self, row: int) -> np.ndarray:
        return self.values[self.offsets[row] : self.offsets[row + 1]]


def _open_part(path: Path, staging: Path, spec: TokenizerSpec) -> _Part:
    """Map a tokenized part; a parquet part is first rewritten once as an Arrow IPC file."""
    if path.suffix in (".arrow", ".feather"):
        mapped = path
    else:
        check_tokenized(pq.read_schema(path), spec.sha256, str(path))
        table = pq.read_table(path, columns=["doc_id", "tokens"]).combine_chunks()
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
        mapped = staging / f"{digest}.arrow"
        with pa.OSFile(str(mapped), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        del table
    source = pa.memory_map(str(mapped), "r")
    reader = pa.ipc.open_file(source)
    check_tokenized(reader.schema, spec.sha256, str(path))
    table = reader.read_all()
    if table.num_rows == 0:
        empty = np.zeros(1, np.int64)
        return _Part(str(path), empty, np.zeros(0, np.uint32), pa.array([], pa.string()), source)
    tokens = table.column("tokens")
    if tokens.num_chunks != 1:  # an .arrow part written in several batches: one copy
        tokens = tokens.combine_chunks()
        tokens = pa.chunked_array([tokens]) if not isinstance(tokens, pa.ChunkedArray) else tokens
    chunk = tokens.chunk(0)
    doc_ids = table.column("doc_id")  # one chunk stays a view into the map: no copy of the ids
    return _Part(
        path=str(path),
        offsets=chunk.offsets.to_numpy(zero_copy_only=True),
        values=chunk.values.to_numpy(zero_copy_only=True),
        doc_ids=doc_ids.chunk(0) if doc_ids.num_chunks == 1 else doc_ids.combine_chunks(),
        keep_alive=source,
    )


@dataclass(slots=True)
class _SourceIndex:
    part_ids: np.ndarray  # int32, which part (index into the run's part list)
    rows: np.ndarray  # int64, row inside that part
    lengths: np.ndarray  # int64, tokens per document (EOS included)


def _write_split(
    split: str,
    entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]],  # per source: (source_id, part, row)
    source_names: list[str],
    parts: list[_Part],
    spec: TokenizerSpec,
    out_dir: Path,
    shard_tokens: int,
    rng: np.random.Generator,
) -> list[ShardInfo]:
    source_ids = np.concatenate([e[0] for e in entries]) if entries else np.zeros(0, np.int32)
    part_ids = np.concatenate([e[1] for e in entries]) if entries else np.zeros(0, np.int32)
    rows = np.concatenate([e[2] for e in entries]) if entries else np.zeros(0, np.int64)
    order = rng.permutation(len(rows))
    header = spec.header()
    shards: list[ShardInfo] = []
    documents, sources, doc_ids, tokens = [], [], [], 0

    def flush() -> None:
        nonlocal documents, sources, doc_ids, tokens
        path = out_dir / f"{split}-{len(shards):05d}.arrow"
        shards.append(write_shard(path, documents, sources, doc_ids, header, relative_to=out_dir))
        documents, sources, doc_ids, tokens = [], [], [], 0

    for i in order.tolist():
        part = parts[part_ids[i]]
        row = int(rows[i])
        document = part.doc(row)
        documents.append(document)
        sources.append(source_names[source_ids[i]])
        doc_ids.append(part.doc_ids[row].as_py())
        tokens += len(document)
        if tokens >= shard_tokens:
            flush()
    if documents:
        flush()
    for stale in out_dir.glob(f"{split}-*.arrow"):  # shards of an earlier, larger build
        if stale.name not in {Path(s.path).name for s in shards}:
            stale.unlink()
    return shards


def build_shards(
    parts: Mapping[str, Sequence[str | os.PathLike]],
    config: MixConfig,
    tokenizer: TokenizerSpec,
    out_dir: str | os.PathLike,
    *,
    staging_dir: str | os.PathLike | None = None,
) -> Manifest:
    """Mix the tokenized parts (source -> parquet/arrow paths) into train/val shards + manifest.json.

    Deterministic for `config.seed`: the same parts give byte-identical shards and manifest
    (part paths are sorted per source, so listing order does not matter).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # An interrupted rebuild must not leave an old manifest describing half-rewritten shards.
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)
    staging = Path(staging_dir) if staging_dir is not None else out_dir / "_staging"
    staging.mkdir(parents=True, exist_ok=True)
    source_names = sorted(parts)
    if not source_names:
        raise ValueError("build_shards got no sources; the tokenize stage produced no parts")
    opened: list[_Part] = []
    index: dict[str, _SourceIndex] = {}
    try:
        for name in source_names:
            part_ids, rows, lengths = [], [], []
            for path in sorted(Path(p) for p in parts[name]):
                part = _open_part(path, staging, tokenizer)
                count = len(part.offsets) - 1
                part_ids.append(np.full(count, len(opened), dtype=np.int32))
                rows.append(np.arange(count, dtype=np.int64))
                lengths.append(np.diff(part.offsets).astype(np.int64))
                opened.append(part)
            index[name] = _SourceIndex(
                part_ids=np.concatenate(part_ids) if part_ids else np.zeros(0, np.int32),
                rows=np.concatenate(rows) if rows else np.zeros(0, np.int64),
                lengths=np.concatenate(lengths) if lengths else np.zeros(0, np.int64),
            )
        return _assemble(index, source_names, opened, config, tokenizer, out_dir)
    finally:
        opened.clear()  # drop the memory maps before the staged files go
        if staging_dir is None:
            shutil.rmtree(staging, ignore_errors=True)


def _assemble(index, source_names, opened, config: MixConfig, tokenizer, out_dir: Path) -> Manifest:
    val_entries, train_pool, val_stats = [], {}, {}
    for sid, name in enumerate(source_names):
        docs = index[name]
        val_idx, train_idx = split_validation(len(docs.lengths), config, seeded_rng(config.seed, "val", name))
        val_entries.append((np.full(len(val_idx), sid, np.int32), docs.part_ids[val_idx], docs.rows[val_idx]))
        val_stats[name] = (len(val_idx), int(docs.lengths[val_idx].sum()))
        train_pool[name] = train_idx
    plan = plan_mixture({s: int(index[s].lengths[train_pool[s]].sum()) for s in source_names}, config)

    train_entries, train_docs = [], {}
    for sid, name in enumerate(source_names):
        docs, pool = index[name], train_pool[name]
        source_plan = plan.sources[name]
        max_tokens = math.floor(source_plan.max_epochs * source_plan.available_tokens)
        picked = pool[select_documents(docs.lengths[pool], source_plan.planned_tokens, max_tokens,
                                       seeded_rng(config.seed, "select", name))]
        train_entries.append((np.full(len(picked), sid, np.int32), docs.part_ids[picked], docs.rows[picked]))
        train_docs[name] = len(picked)

    splits = {
        "train": _write_split("train", train_entries, source_names, opened, tokenizer, out_dir,
                              config.shard_tokens, seeded_rng(config.seed, "shuffle", "train")),
        "val": _write_split("val", val_entries, source_names, opened, tokenizer, out_dir,
                            config.shard_tokens, seeded_rng(config.seed, "shuffle", "val")),
    }
    tokenizer_copy = out_dir / TOKENIZER_NAME
    if Path(tokenizer.path).resolve() != tokenizer_copy.resolve():
        shutil.copyfile(tokenizer.path, tokenizer_copy)
    manifest = Manifest(
        directory=out_dir,
        tokenizer_path=TOKENIZER_NAME,
        tokenizer_sha256=tokenizer.sha256,
        vocab_size=tokenizer.vocab_size,
        special_ids=dict(tokenizer.special_ids),
        splits=splits,
    )
    manifest.check_tokenizer(tokenizer_copy)
    manifest.mixture = _mixture_report(plan, config, manifest, train_docs, val_stats)
    manifest.save()
    return manifest


def _mixture_report(plan: MixturePlan, config: MixConfig, manifest: Manifest, train_docs, val_stats) -> dict:
    """The resolved mixture for manifest.json: the plan plus what the whole-document draw achieved."""
    achieved = Counter(manifest.totals()["train"]["tokens_per_source"])
    achieved_total = sum(achieved.values())
    report = plan.to_json()
    report["config"] = config.model_dump(mode="json")
    report["achieved_total_tokens"] = achieved_total
    for name, entry in report["sources"].items():
        available = entry["available_tokens"]
        entry["achieved_tokens"] = achieved[name]
        entry["achieved_weight"] = achieved[name] / achieved_total if achieved_total else 0.0
        entry["achieved_epochs"] = achieved[name] / available if available else 0.0
        entry["train_docs"] = train_docs[name]
        entry["val_docs"], entry["val_tokens"] = val_stats[name]
    return report
