"""The mix as three steps that run in parallel tasks: plan -> scatter (per part) -> shards (per shard).

No Ray here: the `mix` stage runs each step as a phase of tasks (pipelines/stages/mix.py), and
`shard_assembly.build_shards` runs the same steps one after the other in one process. Both give
byte-identical shards and manifest, whatever the number of tasks, because every decision is made
in `plan_shards` before any data moves:

1. plan (one task; it reads the `num_tokens` column of every part, 4 bytes a document, never the
   tokens): the validation hold-out, the mixture plan, the whole-document selection and the
   cross-source shuffle (pipelines.mixture), then the shard cuts (a shard closes once it holds
   >= shard_tokens). It writes, per part, which of its rows go where (split, position in the
   shuffled order), and plan.json (parts, cuts, the mixture figures).
2. scatter (one task per tokenized part): reads the part's selected rows once and writes, per
   shard that receives any, one Arrow file of (position, doc_id, source, tokens) under
   scatter/<split>-<shard>/<part>.arrow.
3. shards (one task per shard): gathers its scatter files, checks it got exactly the documents
   the plan cut for it, orders them by position and writes <split>-<n>.arrow.
Then `finish_manifest` (driver) writes tokenizer.json and, last, manifest.json from the per-shard
records. Everything goes through fsspec, so the run may live on an object store.
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
                               split_validation)
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
    return pq.read_table(path, filesystem=fs, columns=columns)


def _check_part(fs, path: str, spec: TokenizerSpec) -> None:
    if path.endswith((".arrow", ".feather")):
        with fs.open(path, "rb") as handle:
            schema = pa.ipc.open_file(pa.BufferReader(handle.read())).schema
    else:
        schema = pq.read_schema(path, filesystem=fs)
    check_tokenized(schema, spec.sha256, path)


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

    cuts, selections = {}, [[] for _ in part_list]
    for split_id, (split, entries) in enumerate((("train", train_entries), ("val", val_entries))):
        part_ids, rows, lengths = (np.concatenate([e[i] for e in entries]) for i in range(3))
        order = seeded_rng(config.seed, "shuffle", split).permutation(len(rows))
        part_ids, rows, lengths = part_ids[order], rows[order], lengths[order]
        cuts[split] = _shard_cuts(lengths, config.shard_tokens)
        by_part = np.argsort(part_ids, kind="stable")
        bounds = np.searchsorted(part_ids[by_part], np.arange(len(part_list) + 1))
        for p in range(len(part_list)):
            positions = by_part[bounds[p]:bounds[p + 1]]
            selections[p].append((np.full(len(positions), split_id, np.int8), positions.astype(np.int64),
                                  rows[positions]))
    for p, pieces in enumerate(selections):
        table = pa.table({"split": np.concatenate([x[0] for x in pieces]),
                          "position": np.concatenate([x[1] for x in pieces]),
                          "row": np.concatenate([x[2] for x in pieces])})
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        put_bytes(fs, f"{staging}/select/{p:05d}.parquet", buffer.getvalue())
    record = {"parts": part_list, "cuts": cuts, "plan": plan.to_json(), "train_docs": train_docs,
              "val_stats": val_stats, "config": config.model_dump(mode="json")}
    put_bytes(fs, f"{staging}/{PLAN_NAME}", json.dumps(record).encode())  # key order kept: manifest bytes
    return record


def read_plan(fs, staging: str) -> dict:
    return json.loads(fs.cat_file(f"{staging}/{PLAN_NAME}"))


def scatter_part(fs, staging: str, part_number: int, plan: dict, spec: TokenizerSpec) -> int:
    """Step 2: one part's selected copies -> one scatter file per shard that gets any. Returns the
    number of copies written."""
    selection = pq.read_table(f"{staging}/select/{part_number:05d}.parquet", filesystem=fs)
    if selection.num_rows == 0:
        return 0
    part = plan["parts"][part_number]
    table = _read_table(fs, part["path"], ["doc_id", "tokens"])
    split_ids = selection.column("split").to_numpy()
    for split_id, split in enumerate(SPLITS):
        mine = np.flatnonzero(split_ids == split_id)
        if not mine.size:
            continue
        positions = selection.column("position").to_numpy()[mine]
        rows = selection.column("row").to_numpy()[mine]
        starts = np.asarray([c[0] for c in plan["cuts"][split]], np.int64)
        shards = np.searchsorted(starts, positions, side="right") - 1
        by_shard = np.argsort(shards, kind="stable")  # one pass, not one scan per shard
        bounds = np.flatnonzero(np.diff(shards[by_shard])) + 1
        for chosen in np.split(by_shard, bounds):
            shard = int(shards[chosen[0]])
            taken = table.take(pa.array(rows[chosen]))
            piece = pa.table({"position": pa.array(positions[chosen], pa.int64()),
                              "doc_id": taken.column("doc_id").combine_chunks(),
                              "source": pa.array([part["source"]] * len(chosen), pa.string()),
                              "tokens": taken.column("tokens").combine_chunks()})
            put_bytes(fs, f"{staging}/scatter/{split}-{shard:05d}/{part_number:05d}.arrow", _arrow_bytes(piece))
    return selection.num_rows


def write_planned_shard(fs, staging: str, out_dir: str, split: str, shard: int, plan: dict,
                        spec: TokenizerSpec) -> ShardInfo:
    """Step 3: gather one shard's scatter files, order by position, write <split>-<shard>.arrow."""
    start, end = plan["cuts"][split][shard]
    pieces = []
    for path in sorted(fs.glob(f"{staging}/scatter/{split}-{shard:05d}/*.arrow")):
        with fs.open(path, "rb") as handle:
            pieces.append(pa.ipc.open_file(pa.BufferReader(handle.read())).read_all())
    table = pa.concat_tables(pieces).combine_chunks() if pieces else None
    count = table.num_rows if table is not None else 0
    if count != end - start:
        raise RuntimeError(f"shard {split}-{shard:05d}: {count} documents scattered, the plan cut "
                           f"{end - start}; remove the run's _done/mix-scatter and _done/mix-plan folders and rerun the build")
    order = np.argsort(table.column("position").to_numpy(), kind="stable")
    table = table.take(pa.array(order))
    tokens = table.column("tokens").combine_chunks()
    offsets = tokens.offsets.to_numpy()
    values = tokens.values.to_numpy()
    documents = [values[offsets[i]:offsets[i + 1]] for i in range(table.num_rows)]
    return write_shard(f"{out_dir}/{split}-{shard:05d}.arrow", documents,
                       table.column("source").to_pylist(), table.column("doc_id").to_pylist(),
                       spec.header(), fs=fs)


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
