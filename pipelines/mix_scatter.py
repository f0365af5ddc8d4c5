"""The mix's data movement, in tasks: scatter (per group of parts) -> shards (per bucket of shards).
No Ray here: the `mix` stage runs each step as a phase of tasks (pipelines/stages/mix.py), and
`shard_assembly.build_shards` runs the same steps one after the other in one process. Both give
byte-identical shards and manifest, whatever the number of tasks.

Before these: mix-count and mix-plan (pipelines/mix_select.py) decide which document copies go to
training and validation, from per-part counts. Then:
1. scatter (one task per group of consecutive parts): each selected copy gets a seeded 64-bit
   shuffle key (seed, split, source, part ordinal, row, copy: never the task layout). Shard i of a
   split holds the copies whose key falls in the i-th of N equal key ranges, N = ceil(split tokens
   / shard_tokens), in key order: a uniformly random cross-source order, cut into shards that hold
   shard_tokens on average. The group's copies go to ONE Arrow file, scatter/<group>.arrow, with
   a record batch per bucket (consecutive shards of about `task_tokens`; empty ones too: batch i
   is bucket i), in key order.
2. shards (one task per bucket): reads its record batch of every scatter file (only those bytes:
   the Arrow file's footer says where), checks it got as many copies as the scatters sent it,
   orders them by key and writes its shards <split>-<n>.arrow (a key range that drew no copy,
   possible only when shards hold a few documents, writes no file).
Then `finish_manifest` (driver) writes tokenizer.json and, last, manifest.json from the per-shard
records. Everything goes through fsspec, so the run may live on an object store.

Why groups and buckets, not one task per part and one per shard with a file per (part, shard):
at 4x the benchmark input that was 168 x 44 tiny files and 212 tasks, and the mix spent its time
creating, listing and opening files and paying per-task costs rather than moving tokens
(benchmarks/bench_scaling.py, benchmarks/scaling-results.json).
"""
from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import PurePosixPath

import numpy as np
import pyarrow as pa

from pipelines.mix_io import part_schema, put_bytes, read_table
from pipelines.mix_select import U64_MAX, part_keys, train_copies
from pipelines.mixture import TOKENIZER_NAME, seeded_rng
from tokenization.atomic_files import temp_name
from tokenization.manifest import MANIFEST_NAME, Manifest
from tokenization.shards import ShardInfo, write_shard
from tokenization.tokenizer import TokenizerSpec

SPLITS = ("train", "val")
PLAN_NAME = "plan.json"


def write_plan(fs, staging: str, plan: dict) -> None:
    put_bytes(fs, f"{staging}/{PLAN_NAME}", json.dumps(plan).encode())  # key order kept: manifest bytes


def read_plan(fs, staging: str) -> dict:
    return json.loads(fs.cat_file(f"{staging}/{PLAN_NAME}"))


def shard_of(keys: np.ndarray, num_shards: int) -> np.ndarray:
    """floor(key * num_shards / 2**64) for uint64 keys, exactly (num_shards < 2**32): the shard
    whose equal key range holds each key, in 64-bit arithmetic on the key's two halves."""
    n = np.uint64(num_shards)
    high, low = keys >> np.uint64(32), keys & np.uint64(0xFFFFFFFF)
    return ((high * n + ((low * n) >> np.uint64(32))) >> np.uint64(32)).astype(np.int64)


def bucket_batches(plan: dict) -> list[tuple[str, int, int, int]]:
    """(split, bucket, first shard, end shard) of every bucket, train first: the record batches of
    a scatter file, in order."""
    return [(split, b, first, end) for split in SPLITS for b, (first, end) in enumerate(plan["buckets"][split])]


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


def _documents_batch(schema: pa.Schema, views, doc_ids, sources, order_columns: dict) -> pa.RecordBatch:
    lengths = np.fromiter((len(v) for v in views), np.int64, len(views))
    offsets = np.zeros(len(views) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    token_type = schema.field("tokens").type
    values = np.concatenate(views) if views else np.zeros(0, token_type.value_type.to_pandas_dtype())
    tokens = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(values, token_type.value_type), type=token_type)
    return pa.RecordBatch.from_arrays(
        [pa.array(order_columns[name], schema.field(name).type) for name in ("shard", "key", "part", "row")]
        + [pa.array(doc_ids, pa.string()), pa.array(sources, pa.string()), tokens], schema=schema)


def _part_copies(plan: dict, part: dict, num_docs: int) -> dict[str, np.ndarray]:
    """Rows of a part, repeated once per copy, per split (rows ascending, copies together)."""
    val, keys = part_keys(plan["seed"], part, num_docs)
    copies = {"train": train_copies(plan["selection"][part["source"]], part["index"], keys, val),
              "val": val.astype(np.int64)}
    return {split: np.repeat(np.arange(num_docs), copies[split]) for split in SPLITS}


def scatter_group(fs, staging: str, group: int, plan: dict) -> list[int]:
    """Step 1: one group of consecutive parts' selected copies -> scatter/<group>.arrow, one record
    batch per bucket (every bucket, empty ones too, so batch i is bucket i of `bucket_batches`),
    rows in key order. Returns the number of copies in each batch."""
    first_part, end_part = plan["groups"][group]
    parts = plan["parts"][first_part:end_part]
    schema = pa.schema([("shard", pa.int32()), ("key", pa.uint64()), ("part", pa.int32()), ("row", pa.int64()),
                        ("doc_id", pa.string()), ("source", pa.string()),
                        part_schema(fs, parts[0]["path"]).field("tokens")])
    views, doc_ids, sources = [], [], []
    columns = {split: {"shard": [], "key": [], "part": [], "row": [], "at": []} for split in SPLITS}
    for part in parts:
        table = read_table(fs, part["path"], ["doc_id", "tokens"])
        if table.num_rows != part["num_docs"]:
            raise RuntimeError(f"{part['path']} holds {table.num_rows} documents, the plan counted "
                               f"{part['num_docs']}; remove the run's _done/mix-count folder and rerun the build")
        base = len(views)
        views += _token_views(table.column("tokens"))
        doc_ids += table.column("doc_id").to_pylist()
        sources += [part["source"]] * table.num_rows
        for split, rows in _part_copies(plan, part, table.num_rows).items():
            keys = seeded_rng(plan["seed"], "shuffle", split, part["source"], part["ordinal"]).integers(
                0, U64_MAX, size=len(rows), dtype=np.uint64, endpoint=True)
            into = columns[split]
            into["shard"].append(shard_of(keys, plan["num_shards"][split]))
            into["key"].append(keys)
            into["part"].append(np.full(len(rows), part["index"], np.int32))
            into["row"].append(rows)
            into["at"].append(rows + base)
    merged = {split: {name: np.concatenate(pieces) for name, pieces in by_name.items()}
              for split, by_name in columns.items()}
    orders = {split: np.lexsort((m["row"], m["part"], m["key"])) for split, m in merged.items()}
    path = f"{staging}/scatter/{group:05d}.arrow"
    fs.makedirs(os.path.dirname(path), exist_ok=True)
    tmp, counts = temp_name(path), []
    with fs.open(tmp, "wb") as handle, pa.ipc.new_file(handle, schema) as writer:
        for split, _, first, end in bucket_batches(plan):
            m, order = merged[split], orders[split]
            lo, hi = np.searchsorted(m["shard"][order], [first, end])
            chosen = order[lo:hi]
            at = m["at"][chosen]
            writer.write_batch(_documents_batch(
                schema, [views[i] for i in at], [doc_ids[i] for i in at], [sources[i] for i in at],
                {name: m[name][chosen] for name in ("shard", "key", "part", "row")}))
            counts.append(len(chosen))
    fs.mv(tmp, path)  # complete, or not there
    return counts


def write_planned_bucket(fs, staging: str, out_dir: str, split: str, bucket: int, plan: dict,
                         spec: TokenizerSpec, expected_docs: int | None = None) -> list[ShardInfo]:
    """Step 2: gather one bucket (consecutive shards) from every scatter file, order by key, write
    its <split>-<n>.arrow shards (`expected_docs`: what the scatters reported sending it)."""
    layout = bucket_batches(plan)
    batch_index = layout.index(next(b for b in layout if b[:2] == (split, bucket)))
    _, _, first, end = layout[batch_index]
    views, doc_ids, sources, order_columns = [], [], [], {"shard": [], "key": [], "part": [], "row": []}
    for group in range(len(plan["groups"])):
        with fs.open(f"{staging}/scatter/{group:05d}.arrow", "rb") as handle:
            batch = pa.ipc.open_file(handle).get_batch(batch_index)  # only this bucket's bytes
        views += _token_views(batch.column("tokens"))
        doc_ids += batch.column("doc_id").to_pylist()
        sources += batch.column("source").to_pylist()
        for name, pieces in order_columns.items():
            pieces.append(batch.column(name).to_numpy())
    keys = {name: np.concatenate(pieces) for name, pieces in order_columns.items()}
    if expected_docs is not None and len(views) != expected_docs:
        raise RuntimeError(f"{split} bucket {bucket}: {len(views)} documents gathered, the scatter sent "
                           f"{expected_docs}; remove the run's _done/mix-scatter folder and rerun the build")
    order = np.lexsort((keys["row"], keys["part"], keys["key"]))
    bounds = np.searchsorted(keys["shard"][order], np.arange(first, end + 1))
    infos = []
    for shard in range(first, end):
        chosen = order[bounds[shard - first]:bounds[shard - first + 1]]
        if len(chosen):
            infos.append(write_shard(f"{out_dir}/{split}-{shard:05d}.arrow", [views[i] for i in chosen],
                                     [sources[i] for i in chosen], [doc_ids[i] for i in chosen],
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
