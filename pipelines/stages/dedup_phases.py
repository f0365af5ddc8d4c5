"""The dedup stage's task functions, one per phase (`fn(run_url, payload) -> stats`; no Ray here).

Every intermediate file lives under `dedup/_work/<generation>/` (the generation is a fingerprint of
the configuration and of every input part, so a changed input never meets a stale file) and is
partitioned by a hash, so each task reads about 1/num_partitions of a shuffle:

  signature[task]   input part -> nodes/part-<q>/<task>   one row per document (key, exact hash, row)
                               -> buckets/part-<p>/<task> (band, band hash, key) + (exact hash, key)
                               -> shingles/part-<q>/<task> (only with verify_threshold)
  candidates[p]     buckets/part-<p>/* -> pairs sharing a bucket; with verification
                    pairs/part-<q(u)>/*, else edges/part-<q(src)>/* (both directions)
  verify_send[q]    pairs of u in q + u's shingles -> verify/part-<q(v)>/*
  verify_check[r]   exact Jaccard with v's shingles; pairs >= threshold -> edges/part-<q(src)>/*
  propagate[i][q]   labels/iter-<i-1>/part-<q> + messages/iter-<i-1>/part-<q>/* -> smaller labels;
                    changed labels sent along edges -> messages/iter-<i>/part-<q(dst)>/*
  route[q]          final labels of q, with each node's facts -> route/part-<s(label)>/*
  clusters[s]       one cluster per label: size, kept document, reason of each removed one
                    -> final/<task>/part-<s>
  apply[task]       input part + final/<task>/* -> dedup/<source>/part-<task>.parquet and
                    dedup/rejects/{exact_duplicate,near_duplicate}/part-<task>.parquet
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.dedup.config import DedupConfig
from pipelines.dedup.graph import bucket_pairs, cluster_sizes, lookup, outgoing_messages, propagate_step, unique_pairs
from pipelines.dedup.jaccard import jaccard
from pipelines.dedup.keys import as_bytes, from_bytes, partition_of, rank_keys
from pipelines.dedup.minhash import MinHasher, band_hashes
from pipelines.dedup.shingles import exact_hash, shingle_hashes
from pipelines.rundir import RunDir
from pipelines.stage import part_path

EXACT_BAND = 255  # the "band" of exact-hash buckets
SIGNATURE_BATCH_DOCS = 2_000
REASONS = ("exact_duplicate", "near_duplicate")
_U64 = pa.uint64()


def _part_dir(work: str, name: str, partition: int) -> str:
    return f"{work}/{name}/part-{partition:05d}"


def _write_partitioned(run: RunDir, work: str, name: str, table: pa.Table, partitions: np.ndarray,
                       file_name: str) -> None:
    for partition in np.unique(partitions):
        run.write_parquet(f"{_part_dir(work, name, int(partition))}/{file_name}.parquet",
                          table.filter(pa.array(partitions == partition)))


def _read_partition(run: RunDir, work: str, name: str, partition: int, columns: list[str] | None = None) -> pa.Table | None:
    tables = [run.read_parquet(path, columns=columns)
              for path in run.glob(f"{_part_dir(work, name, partition)}/*.parquet")]
    tables = [t for t in tables if t.num_rows]
    return pa.concat_tables(tables) if tables else None


def _keys(table: pa.Table, prefix: str) -> np.ndarray:
    return as_bytes(table.column(f"{prefix}_hi").to_numpy(), table.column(f"{prefix}_lo").to_numpy())


def _key_columns(keys: np.ndarray, prefix: str) -> dict[str, pa.Array]:
    high, low = from_bytes(keys)
    return {f"{prefix}_hi": pa.array(high, _U64), f"{prefix}_lo": pa.array(low, _U64)}


def _partition_of_keys(keys: np.ndarray, num_partitions: int) -> np.ndarray:
    return partition_of(*from_bytes(keys), num_partitions)


def signature_task(run_url: str, payload: dict) -> dict:
    run, config = RunDir(run_url), DedupConfig.model_validate(payload["config"])
    work, num_partitions, task_id = payload["work"], config.num_partitions, payload["task_id"]
    columns = ["id", "text"] + (["url"] if config.exact_include_url else [])
    table = run.read_parquet(payload["input"], columns=columns)
    hasher = MinHasher(config.num_perm, config.seed, config.num_bits)
    nodes, buckets, shingle_sets = [], [], []
    for start in range(0, table.num_rows, SIGNATURE_BATCH_DOCS):
        batch = table.slice(start, SIGNATURE_BATCH_DOCS)
        texts = batch.column("text").to_pylist()
        ids = batch.column("id").to_pylist()
        urls = batch.column("url").to_pylist() if config.exact_include_url else [None] * len(texts)
        num_chars = [len(t or "") for t in texts]
        high, low = rank_keys(np.full(len(texts), payload["priority"]), num_chars, ids)
        exact = [exact_hash(t or "", u) for t, u in zip(texts, urls)]
        exact_hi = np.array([e[0] for e in exact], dtype=np.uint64)
        exact_lo = np.array([e[1] for e in exact], dtype=np.uint64)
        nodes.append(pa.table({"node_hi": pa.array(high, _U64), "node_lo": pa.array(low, _U64),
                               "exact_hi": pa.array(exact_hi, _U64), "exact_lo": pa.array(exact_lo, _U64),
                               "row": pa.array(np.arange(start, start + len(texts), dtype=np.int64)),
                               "id": pa.array(ids, pa.string())}))
        if config.exact:
            buckets.append(_bucket_table(np.full(len(texts), EXACT_BAND, np.uint8), exact_hi, exact_lo, high, low))
        if config.near:
            shingles = [shingle_hashes(t or "", shingle=config.shingle, ngram=config.ngram) for t in texts]
            has_shingles = np.array([len(s) > 0 for s in shingles])
            bands = band_hashes(hasher.signatures(shingles), config.num_bands, config.rows_per_band)[has_shingles]
            num_docs = len(bands)
            buckets.append(_bucket_table(
                np.tile(np.arange(config.num_bands, dtype=np.uint8), num_docs), bands.reshape(-1),
                np.zeros(num_docs * config.num_bands, np.uint64),
                np.repeat(high[has_shingles], config.num_bands), np.repeat(low[has_shingles], config.num_bands)))
            if config.verify_threshold is not None:
                shingle_sets.append(pa.table({
                    "node_hi": pa.array(high, _U64), "node_lo": pa.array(low, _U64),
                    "shingles": pa.array([np.unique(s) for s in shingles], pa.list_(_U64))}))
    num_records = 0
    if nodes:
        node_table = pa.concat_tables(nodes).append_column("task", pa.array([task_id] * table.num_rows, pa.string()))
        node_parts = partition_of(node_table.column("node_hi").to_numpy(), node_table.column("node_lo").to_numpy(), num_partitions)
        _write_partitioned(run, work, "nodes", node_table, node_parts, task_id)
        if shingle_sets:
            _write_partitioned(run, work, "shingles", pa.concat_tables(shingle_sets), node_parts, task_id)
    if buckets:
        bucket_table = pa.concat_tables(buckets)
        num_records = bucket_table.num_rows
        mixed = bucket_table.column("bucket_a").to_numpy() ^ bucket_table.column("band").to_numpy().astype(np.uint64)
        _write_partitioned(run, work, "buckets", bucket_table,
                           partition_of(mixed, bucket_table.column("bucket_b").to_numpy(), num_partitions), task_id)
    return {"source": payload["source"], "num_docs_in": table.num_rows, "num_bucket_records": num_records}


def _bucket_table(band, bucket_a, bucket_b, node_hi, node_lo) -> pa.Table:
    return pa.table({"band": pa.array(band, pa.uint8()), "bucket_a": pa.array(bucket_a, _U64),
                     "bucket_b": pa.array(bucket_b, _U64), "node_hi": pa.array(node_hi, _U64),
                     "node_lo": pa.array(node_lo, _U64)})


_BUCKET_DTYPE = np.dtype([("band", "u1"), ("a", ">u8"), ("b", ">u8")])


def candidates_task(run_url: str, payload: dict) -> dict:
    run, config = RunDir(run_url), DedupConfig.model_validate(payload["config"])
    work, partition = payload["work"], payload["partition"]
    table = _read_partition(run, work, "buckets", partition)
    if table is None:
        return {"source": "_all", "num_bucket_records": 0, "num_pairs_exact": 0, "num_pairs_near": 0}
    band = table.column("band").to_numpy()
    buckets = np.empty(table.num_rows, dtype=_BUCKET_DTYPE)
    buckets["band"], buckets["a"], buckets["b"] = band, table.column("bucket_a").to_numpy(), table.column("bucket_b").to_numpy()
    buckets = buckets.view("S17")
    nodes = _keys(table, "node")
    is_exact = band == EXACT_BAND
    exact_u, exact_v = bucket_pairs(buckets[is_exact], nodes[is_exact], config.max_clique)
    near_u, near_v = bucket_pairs(buckets[~is_exact], nodes[~is_exact], config.max_clique)
    u, v = unique_pairs(np.concatenate([exact_u, near_u]), np.concatenate([exact_v, near_v]))
    exact_set = set(zip(exact_u.tolist(), exact_v.tolist())) if len(exact_u) else set()
    exact_flag = np.array([(a, b) in exact_set for a, b in zip(u.tolist(), v.tolist())], dtype=bool)
    name = f"p{partition:05d}"
    if config.verify_threshold is not None:
        pairs = pa.table({**_key_columns(u, "u"), **_key_columns(v, "v"), "exact": pa.array(exact_flag)})
        _write_partitioned(run, work, "pairs", pairs, _partition_of_keys(u, config.num_partitions), name)
    else:
        write_edges(run, work, u, v, config.num_partitions, name)
    return {"source": "_all", "num_bucket_records": table.num_rows, "num_pairs_exact": int(exact_flag.sum()),
            "num_pairs_near": int((~exact_flag).sum())}


def write_edges(run: RunDir, work: str, u: np.ndarray, v: np.ndarray, num_partitions: int, name: str) -> None:
    """Both directions of each undirected edge, partitioned by the source node."""
    src, dst = np.concatenate([u, v]), np.concatenate([v, u])
    edges = pa.table({**_key_columns(src, "src"), **_key_columns(dst, "dst")})
    _write_partitioned(run, work, "edges", edges, _partition_of_keys(src, num_partitions), name)


def _shingles_by_key(run: RunDir, work: str, partition: int) -> tuple[np.ndarray, np.ndarray, pa.ListArray]:
    """(keys sorted, row of each sorted key, shingle lists) of a partition's documents."""
    table = _read_partition(run, work, "shingles", partition)
    if table is None:
        return np.empty(0, "S16"), np.empty(0, np.int64), pa.array([], pa.list_(_U64))
    keys = _keys(table, "node")
    order = np.argsort(keys, kind="stable")
    return keys[order], order, table.column("shingles").combine_chunks()


def _flat(lists: pa.ListArray) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, values) of a list array: list i is values[offsets[i]:offsets[i + 1]]."""
    return lists.offsets.to_numpy(), lists.values.to_numpy()


def verify_send_task(run_url: str, payload: dict) -> dict:
    run, config = RunDir(run_url), DedupConfig.model_validate(payload["config"])
    work, partition = payload["work"], payload["partition"]
    pairs = _read_partition(run, work, "pairs", partition)
    if pairs is None:
        return {"source": "_all", "num_pairs": 0}
    u, v, exact = _keys(pairs, "u"), _keys(pairs, "v"), pairs.column("exact").to_numpy(zero_copy_only=False)
    order = np.lexsort((~exact, v, u))  # an exact sighting of a pair first
    u, v, exact = u[order], v[order], exact[order]
    first = np.ones(len(u), dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    u, v, exact = u[first], v[first], exact[first]
    keys, rows, shingles = _shingles_by_key(run, work, partition)
    found, position = lookup(keys, rows, u)
    if not found.all():
        raise ValueError("a candidate pair names a document without shingles; delete RUN/dedup/_work and rerun")
    out = pa.table({**_key_columns(u, "u"), **_key_columns(v, "v"), "exact": pa.array(exact),
                    "u_shingles": shingles.take(pa.array(position))})
    _write_partitioned(run, work, "verify", out, _partition_of_keys(v, config.num_partitions), f"q{partition:05d}")
    return {"source": "_all", "num_pairs": len(u)}


def verify_check_task(run_url: str, payload: dict) -> dict:
    run, config = RunDir(run_url), DedupConfig.model_validate(payload["config"])
    work, partition = payload["work"], payload["partition"]
    table = _read_partition(run, work, "verify", partition)
    if table is None:
        return {"source": "_all", "num_pairs_checked": 0, "num_pairs_verified": 0}
    u, v, exact = _keys(table, "u"), _keys(table, "v"), table.column("exact").to_numpy(zero_copy_only=False)
    keys, rows, shingles = _shingles_by_key(run, work, partition)
    _, position = lookup(keys, rows, v)
    # Offsets and values straight from Arrow: no Python object per shingle.
    u_offsets, u_values = _flat(table.column("u_shingles").combine_chunks())
    v_offsets, v_values = _flat(shingles)
    keep = exact.astype(bool)
    for i in np.flatnonzero(~keep):
        row = position[i]
        similarity = jaccard(u_values[u_offsets[i]:u_offsets[i + 1]], v_values[v_offsets[row]:v_offsets[row + 1]])
        keep[i] = similarity >= config.verify_threshold
    write_edges(run, work, u[keep], v[keep], config.num_partitions, f"r{partition:05d}")
    return {"source": "_all", "num_pairs_checked": int((~exact).sum()), "num_pairs_verified": int(keep.sum())}
