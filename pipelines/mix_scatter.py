"""The mix as three steps that run in parallel tasks: plan -> scatter (per group of parts) -> shards
(per bucket of shards).

No Ray here: the `mix` stage runs each step as a phase of tasks (pipelines/stages/mix.py), and
`shard_assembly.build_shards` runs the same steps one after the other in one process. Both give
byte-identical shards and manifest, whatever the number of tasks, because every decision is made
in `plan_shards` before any data moves, and the task layout decides only who moves what:

1. plan (one task; it reads the `num_tokens` column of every part, 4 bytes a document, never the
   tokens): the validation hold-out, the mixture plan, the whole-document selection and the
   cross-source shuffle (pipelines.mixture), then the shard cuts (a shard closes once it holds
   >= shard_tokens). It groups consecutive parts into scatter groups and consecutive shards into
   buckets of about `task_tokens` each, writes per group which rows of which part go where (split,
   position in the shuffled order) to select/<group>.parquet, and plan.json (parts, cuts, groups,
   buckets, the mixture figures).
2. scatter (one task per group): reads its parts' selected rows once and writes ONE Arrow file,
   scatter/<group>.arrow, of (split, position, doc_id, source, tokens) in position order with one
   record batch per bucket (empty ones too: batch i is bucket i).
3. shards (one task per bucket): reads its record batch of every scatter file (only those bytes:
   the Arrow file's footer says where), checks it got exactly the documents the plan cut for it,
   orders them by position and writes its shards <split>-<n>.arrow.
Then `finish_manifest` (driver) writes tokenizer.json and, last, manifest.json from the per-shard
records. Everything goes through fsspec, so the run may live on an object store.

Why groups and buckets, not one task per part and one per shard with a file per (part, shard):
at 4x the benchmark input that was 168 x 44 tiny files and 212 tasks, and the mix spent its time
creating, listing and opening files and paying per-task costs rather than moving tokens
(benchmarks/bench_scaling.py, benchmarks/scaling-results.json).
"""
from __future__ import annotations

import io
import json
import math
import os
from collections import Counter
from pathlib import PurePosixPath
from typing import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.mixture import (TOKENIZER_NAME, MixConfig, plan_mixture, seeded_rng, select_documents,
                               split_validation, validation_warnings)
from tokenization.atomic_files import temp_name
from tokenization.encode import check_tokenized
from tokenization.manifest import MANIFEST_NAME, Manifest
from tokenization.shards import ShardInfo, write_shard
from tokenization.tokenizer import TokenizerSpec

SPLITS = ("train", "val")
PLAN_NAME = "plan.json"


def put_bytes(fs, path: str, data: bytes) -> None:
    """Write `data` at `path` under a temporary name, then rename: readers never see half a file."""
    fs.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = temp_name(path)
    fs.pipe_file(tmp, data)
    fs.mv(tmp, path)


def _arrow_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _read_table(fs, path: str, columns: list[str]) -> pa.Table:
    if path.endswith((".arrow", ".feather")):
        with fs.open(path, "rb") as handle:
            return pa.ipc.open_file(pa.BufferReader(handle.read())).read_all().select(columns)
    return _read_parquet(fs, path, columns)


def _read_parquet(fs, path: str, columns: list[str] | None = None) -> pa.Table:
    # ParquetFile, not pq.read_table: read_table goes through pyarrow.dataset (it imports pandas,
    # ~1.5 s in each fresh worker, and costs ~15 ms a call), and the mix reads many small files.
    # In batches: decoding a whole part of token lists at once peaks at ~9x its uint16 tokens in
    # Arrow's pool (155 MB for an 8.6M-token part), 1,024 documents at a time at ~2.5x, no slower.
    with fs.open(path, "rb") as handle:
        reader = pq.ParquetFile(handle)
        batches = list(reader.iter_batches(batch_size=1024, columns=columns, use_threads=False))
        return pa.Table.from_batches(batches, schema=reader.schema_arrow if columns is None else None) \
            if batches else reader.schema_arrow.empty_table().select(columns or reader.schema_arrow.names)


def _part_schema(fs, path: str) -> pa.Schema:
    if path.endswith((".arrow", ".feather")):
        with fs.open(path, "rb") as handle:
            return pa.ipc.open_file(handle).schema
    with fs.open(path, "rb") as handle:
        return pq.ParquetFile(handle).schema_arrow


def _check_part(fs, path: str, spec: TokenizerSpec) -> None:
    check_tokenized(_part_schema(fs, path), spec.sha256, path)


def _shard_cuts(lengths: np.ndarray, shard_tokens: int) -> list[list[int]]:
    """[start, end) positions of each shard: a shard closes with the document that brings it to
    >= shard_tokens (the last one holds the rest)."""
    cumulative = np.cumsum(lengths)
    cuts, start, base = [], 0, 0
    while start < len(lengths):
        end = min(int(np.searchsorted(cumulative, base + shard_tokens, side="left")) + 1, len(lengths))
        cuts.append([start, end])
        base, start = int(cumulative[end - 1]), end
    return cuts


def plan_shards(fs, parts: Mapping[str, Sequence[str]], config: MixConfig, spec: TokenizerSpec,
                staging: str) -> dict:
    """Step 1: decide everything; write staging/select/<part>.parquet and staging/plan.json."""
    source_names = sorted(parts)
    if not source_names:
        raise ValueError("the mix got no sources; the tokenize stage produced no parts")
    part_list: list[dict] = []
    index = {}
    for name in source_names:
        part_ids, rows, lengths = [], [], []
        for path in sorted(parts[name], key=lambda p: PurePosixPath(str(p))):
            path = str(path)
            _check_part(fs, path, spec)
            counts = _read_table(fs, path, ["num_tokens"]).column("num_tokens").to_numpy().astype(np.int64)
            part_ids.append(np.full(len(counts), len(part_list), np.int32))
            rows.append(np.arange(len(counts), dtype=np.int64))
            lengths.append(counts)
            part_list.append({"path": path, "source": name})
        index[name] = tuple(np.concatenate(a) if a else np.zeros(0, t)
                            for a, t in ((part_ids, np.int32), (rows, np.int64), (lengths, np.int64)))

    val_entries, train_pool, val_stats = [], {}, {}
    for sid, name in enumerate(source_names):
        part_ids, rows, lengths = index[name]
        val_idx, train_idx = split_validation(len(lengths), config, seeded_rng(config.seed, "val", name))
        val_entries.append((part_ids[val_idx], rows[val_idx], lengths[val_idx]))
        val_stats[name] = [len(val_idx), int(lengths[val_idx].sum())]
        train_pool[name] = train_idx
    plan = plan_mixture({s: int(index[s][2][train_pool[s]].sum()) for s in source_names}, config)
    train_entries, train_docs = [], {}
    for name in source_names:
        part_ids, rows, lengths = index[name]
        pool, source_plan = train_pool[name], plan.sources[name]
        max_tokens = math.floor(source_plan.max_epochs * source_plan.available_tokens)
        picked = pool[select_documents(lengths[pool], source_plan.planned_tokens, max_tokens,
                                       seeded_rng(config.seed, "select", name))]
        train_entries.append((part_ids[picked], rows[picked], lengths[picked]))
        train_docs[name] = len(picked)
    plan_record = plan.to_json()
    plan_record["warnings"] += validation_warnings(
        val_stats, {name: int(entry[2].sum()) for name, entry in zip(source_names, train_entries)})

    cuts, shard_sizes, selections = {}, {}, [[] for _ in part_list]
    for split_id, (split, entries) in enumerate((("train", train_entries), ("val", val_entries))):
        part_ids, rows, lengths = (np.concatenate([e[i] for e in entries]) for i in range(3))
        order = seeded_rng(config.seed, "shuffle", split).permutation(len(rows))
        part_ids, rows, lengths = part_ids[order], rows[order], lengths[order]
        cuts[split] = _shard_cuts(lengths, config.shard_tokens)
        shard_sizes[split] = [int(lengths[a:b].sum()) for a, b in cuts[split]]
        by_part = np.argsort(part_ids, kind="stable")
        bounds = np.searchsorted(part_ids[by_part], np.arange(len(part_list) + 1))
        for p in range(len(part_list)):
            positions = by_part[bounds[p]:bounds[p + 1]]
            selections[p].append((np.full(len(positions), split_id, np.int8), positions.astype(np.int64),
                                  rows[positions], lengths[positions]))
    part_tokens = [int(sum(x[3].sum() for x in pieces)) for pieces in selections]
    groups = _consecutive_groups(part_tokens, config.task_tokens)
    buckets = {split: _consecutive_groups(shard_sizes[split], config.task_tokens) for split in SPLITS}
    for g, (first, end) in enumerate(groups):
        pieces = [(np.full(len(x[0]), p, np.int32), *x[:3]) for p in range(first, end) for x in selections[p]]
        table = pa.table({name: np.concatenate([x[i] for x in pieces]) if pieces else np.zeros(0, dtype)
                          for i, (name, dtype) in enumerate((("part", np.int32), ("split", np.int8),
                                                             ("position", np.int64), ("row", np.int64)))})
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        put_bytes(fs, f"{staging}/select/{g:05d}.parquet", buffer.getvalue())
    record = {"parts": part_list, "cuts": cuts, "plan": plan_record, "train_docs": train_docs,
              "val_stats": val_stats, "config": config.model_dump(mode="json", exclude={"task_tokens"}),
              "scatter_groups": groups, "buckets": buckets}
    put_bytes(fs, f"{staging}/{PLAN_NAME}", json.dumps(record).encode())  # key order kept: manifest bytes
    return record


def _consecutive_groups(sizes: Sequence[int], target: int) -> list[list[int]]:
    """[first, end) runs of consecutive items, each closed once it holds >= target (the last one
    holds the rest); no items, no groups."""
    groups, first, held = [], 0, 0
    for i, size in enumerate(sizes):
        held += size
        if held >= target:
            groups.append([first, i + 1])
            first, held = i + 1, 0
    if first < len(sizes):
        groups.append([first, len(sizes)])
    return groups


def read_plan(fs, staging: str) -> dict:
    return json.loads(fs.cat_file(f"{staging}/{PLAN_NAME}"))


def _bucket_batches(plan: dict) -> list[tuple[str, int, int, int]]:
    """(split, bucket, first position, end position) of every bucket, train first: the record
    batches of a scatter file, in order."""
    return [(split, b, plan["cuts"][split][first][0], plan["cuts"][split][end - 1][1])
            for split in SPLITS for b, (first, end) in enumerate(plan["buckets"][split])]


def _token_views(column) -> list[np.ndarray]:
    """Each row's token ids as a numpy view into the column's buffers (no copy). Arrow's own
    `take` on chunked list columns peaks at ~9x the tokens it moves; views and one
    np.concatenate per output keep the mix at about one extra copy."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    views = []
    for chunk in chunks:
        offsets, values = chunk.offsets.to_numpy(), chunk.values.to_numpy()  # offsets index .values
        views.extend(values[offsets[i]:offsets[i + 1]] for i in range(len(chunk)))
    return views


def _documents_batch(schema: pa.Schema, views, doc_ids, sources, splits, positions) -> pa.RecordBatch:
    lengths = np.fromiter((len(v) for v in views), np.int64, len(views))
    offsets = np.zeros(len(views) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    token_type = schema.field("tokens").type
    values = np.concatenate(views) if views else np.zeros(0, token_type.value_type.to_pandas_dtype())
    tokens = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(values, token_type.value_type), type=token_type)
    return pa.RecordBatch.from_arrays([pa.array(splits, pa.int8()), pa.array(positions, pa.int64()),
                                       pa.array(doc_ids, pa.string()), pa.array(sources, pa.string()), tokens],
                                      schema=schema)


def scatter_group(fs, staging: str, group: int, plan: dict) -> int:
    """Step 2: one group of consecutive parts' selected copies -> scatter/<group>.arrow, one record
    batch per bucket (every bucket, empty ones too, so batch i is bucket i of `_bucket_batches`),
    rows in position order. Returns the number of copies written."""
    selection = _read_parquet(fs, f"{staging}/select/{group:05d}.parquet")
    part_column, row_column = selection.column("part").to_numpy(), selection.column("row").to_numpy()
    first_part = plan["parts"][plan["scatter_groups"][group][0]]["path"]
    schema = pa.schema([("split", pa.int8()), ("position", pa.int64()), ("doc_id", pa.string()),
                        ("source", pa.string()), _part_schema(fs, first_part).field("tokens")])
    views, doc_ids, sources = [], [], []
    for part_number in np.unique(part_column):  # the selection lists its copies part by part
        part = plan["parts"][int(part_number)]
        table = _read_table(fs, part["path"], ["doc_id", "tokens"])
        part_views, part_ids = _token_views(table.column("tokens")), table.column("doc_id").to_pylist()
        for row in row_column[part_column == part_number]:
            views.append(part_views[row])
            doc_ids.append(part_ids[row])
            sources.append(part["source"])
    split_ids, positions = selection.column("split").to_numpy(), selection.column("position").to_numpy()
    part_order = np.argsort(part_column, kind="stable")  # rows of `views` follow the selection in part order
    split_ids, positions = split_ids[part_order], positions[part_order]
    order = np.lexsort((positions, split_ids))  # by split, then position
    sorted_splits, sorted_positions = split_ids[order], positions[order]
    path = f"{staging}/scatter/{group:05d}.arrow"
    fs.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = temp_name(path)
    with fs.open(tmp, "wb") as handle, pa.ipc.new_file(handle, schema) as writer:
        for split, _, start, end in _bucket_batches(plan):
            first, last = np.searchsorted(sorted_splits, [SPLITS.index(split), SPLITS.index(split) + 1])
            lo, hi = first + np.searchsorted(sorted_positions[first:last], [start, end])
            chosen = order[lo:hi]
            writer.write_batch(_documents_batch(schema, [views[i] for i in chosen], [doc_ids[i] for i in chosen],
                                                [sources[i] for i in chosen], split_ids[chosen], positions[chosen]))
    fs.mv(tmp, path)  # complete, or not there
    return len(views)


def write_planned_bucket(fs, staging: str, out_dir: str, split: str, bucket: int, plan: dict,
                         spec: TokenizerSpec) -> list[ShardInfo]:
    """Step 3: gather one bucket (consecutive shards) from every scatter file, order by position,
    write its <split>-<n>.arrow shards."""
    layout = _bucket_batches(plan)
    batch_index = layout.index(next(b for b in layout if b[:2] == (split, bucket)))
    _, _, start, end = layout[batch_index]
    views, doc_ids, sources, positions = [], [], [], []
    for group in range(len(plan["scatter_groups"])):
        with fs.open(f"{staging}/scatter/{group:05d}.arrow", "rb") as handle:
            batch = pa.ipc.open_file(handle).get_batch(batch_index)  # only this bucket's bytes
        views += _token_views(batch.column("tokens"))
        doc_ids += batch.column("doc_id").to_pylist()
        sources += batch.column("source").to_pylist()
        positions.append(batch.column("position").to_numpy())
    positions = np.concatenate(positions) if positions else np.zeros(0, np.int64)
    if len(views) != end - start:
        raise RuntimeError(f"{split} bucket {bucket}: {len(views)} documents scattered, the plan cut "
                           f"{end - start}; remove the run's _done/mix-scatter and _done/mix-plan folders and rerun the build")
    order = np.argsort(positions, kind="stable")
    first, last = plan["buckets"][split][bucket]
    infos = []
    for shard in range(first, last):
        lo, hi = (c - start for c in plan["cuts"][split][shard])
        infos.append(write_shard(f"{out_dir}/{split}-{shard:05d}.arrow", [views[i] for i in order[lo:hi]],
                                 [sources[i] for i in order[lo:hi]], [doc_ids[i] for i in order[lo:hi]],
                                 spec.header(), fs=fs))
    return infos


def finish_manifest(fs, out_dir: str, plan: dict, shards: dict[str, list[ShardInfo]],
                    spec: TokenizerSpec, local_dir=None) -> Manifest:
    """Remove shards of an earlier, larger build; copy tokenizer.json; write manifest.json last."""
    for split in SPLITS:
        keep = {s.path for s in shards[split]}
        for stale in fs.glob(f"{out_dir}/{split}-*.arrow"):
            if os.path.basename(stale) not in keep:
                fs.rm(stale)
    with open(spec.path, "rb") as handle:
        tokenizer_bytes = handle.read()
    target = f"{out_dir}/{TOKENIZER_NAME}"
    if not fs.exists(target) or fs.cat_file(target) != tokenizer_bytes:
        put_bytes(fs, target, tokenizer_bytes)
    manifest = Manifest(directory=local_dir if local_dir is not None else PurePosixPath(out_dir),
                        tokenizer_path=TOKENIZER_NAME, tokenizer_sha256=spec.sha256,
                        vocab_size=spec.vocab_size, special_ids=dict(spec.special_ids), splits=shards)
    manifest.mixture = mixture_report(plan, manifest)
    put_bytes(fs, f"{out_dir}/{MANIFEST_NAME}",
              (json.dumps(manifest.to_json(), indent=2, ensure_ascii=False) + "\n").encode())
    return manifest


def mixture_report(plan: dict, manifest: Manifest) -> dict:
    """The resolved mixture for manifest.json: the plan plus what the whole-document draw achieved."""
    achieved = Counter(manifest.totals()["train"]["tokens_per_source"])
    achieved_total = sum(achieved.values())
    report = dict(plan["plan"])
    report["sources"] = {name: dict(entry) for name, entry in plan["plan"]["sources"].items()}
    report["config"] = plan["config"]
    report["achieved_total_tokens"] = achieved_total
    for name, entry in report["sources"].items():
        available = entry["available_tokens"]
        entry["achieved_tokens"] = achieved[name]
        entry["achieved_weight"] = achieved[name] / achieved_total if achieved_total else 0.0
        entry["achieved_epochs"] = achieved[name] / available if available else 0.0
        entry["train_docs"] = plan["train_docs"][name]
        entry["val_docs"], entry["val_tokens"] = plan["val_stats"][name]
    return report
