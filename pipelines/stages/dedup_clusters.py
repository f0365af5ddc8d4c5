"""The dedup stage's graph phases: min-label propagation, routing by cluster, cluster decisions,
and applying them to each input part (see dedup_phases.py for the layout of `dedup/_work/`).

Labels are document keys that sort in keep-rule order (pipelines/dedup/keys.py), so when
propagation converges every document's label is its cluster's kept document. A task holds only its
partition's labels and edges; a round sends only labels that changed, and the stage stops at the
first round that sends nothing.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from pipelines.dedup.config import DedupConfig
from pipelines.dedup.graph import cluster_sizes, group_starts, lookup, outgoing_messages, propagate_step
from pipelines.rundir import RunDir
from pipelines.stages.dedup_phases import (_key_columns, _keys, _part_dir, _partition_of_keys, _read_partition,
                                           _write_partitioned)
from pipelines.stage import part_path

REASON_EXACT, REASON_NEAR = "exact_duplicate", "near_duplicate"


def _labels_path(work: str, iteration: int, partition: int) -> str:
    return f"{work}/labels/iter-{iteration:04d}/part-{partition:05d}.parquet"


def propagate_task(run_url: str, payload: dict) -> dict:
    run, config = RunDir(run_url), DedupConfig.model_validate(payload["config"])
    work, partition, iteration = payload["work"], payload["partition"], payload["iteration"]
    edges = _read_partition(run, work, "edges", partition)
    src = _keys(edges, "src") if edges is not None else np.empty(0, "S16")
    dst = _keys(edges, "dst") if edges is not None else np.empty(0, "S16")
    if iteration == 0:  # every document with an edge starts labelled by itself and sends it
        nodes = np.unique(src)
        labels = nodes.copy()
        changed = np.ones(len(nodes), dtype=bool)
    else:
        previous = run.read_parquet(_labels_path(work, iteration - 1, partition))
        nodes, old = _keys(previous, "node"), _keys(previous, "label")
        incoming = _read_partition(run, work, f"messages/iter-{iteration - 1:04d}", partition)
        if incoming is None:
            labels, changed = old, np.zeros(len(nodes), dtype=bool)
        else:
            labels, changed = propagate_step(nodes, old, _keys(incoming, "node"), _keys(incoming, "label"))
    run.write_parquet(_labels_path(work, iteration, partition),
                      pa.table({**_key_columns(nodes, "node"), **_key_columns(labels, "label")}))
    targets, sent = outgoing_messages(nodes, labels, changed, src, dst)
    if len(targets):
        messages = pa.table({**_key_columns(targets, "node"), **_key_columns(sent, "label")})
        _write_partitioned(run, work, f"messages/iter-{iteration:04d}", messages,
                           _partition_of_keys(targets, config.num_partitions), f"q{partition:05d}")
    return {"source": "_all", "num_nodes": len(nodes), "num_changed": int(changed.sum()) if iteration else 0,
            "num_messages": len(targets)}


def route_task(run_url: str, payload: dict) -> dict:
    """Send each graph node, with its facts (exact hash, task, row, id), to its label's partition."""
    run, config = RunDir(run_url), DedupConfig.model_validate(payload["config"])
    work, partition = payload["work"], payload["partition"]
    labels = run.read_parquet(_labels_path(work, payload["final_iteration"], partition))
    if labels.num_rows == 0:
        return {"source": "_all", "num_nodes": 0}
    nodes_table = _read_partition(run, work, "nodes", partition)
    keys = _keys(nodes_table, "node")
    order = np.argsort(keys, kind="stable")
    found, position = lookup(keys[order], order, _keys(labels, "node"))
    if not found.all():
        raise ValueError("a labelled document has no node record; delete RUN/dedup/_work and rerun")
    facts = nodes_table.take(pa.array(position))
    routed = pa.table({**{name: labels.column(name) for name in ("node_hi", "node_lo", "label_hi", "label_lo")},
                       **{name: facts.column(name) for name in ("exact_hi", "exact_lo", "task", "row", "id")}})
    label_keys = _keys(labels, "label")
    _write_partitioned(run, work, "route", routed, _partition_of_keys(label_keys, config.num_partitions),
                       f"q{partition:05d}")
    return {"source": "_all", "num_nodes": labels.num_rows}


def clusters_task(run_url: str, payload: dict) -> dict:
    """Per cluster (all its members are in this partition): size, kept document, removal reasons;
    written per input task, for `apply`."""
    run = RunDir(run_url)
    work, partition = payload["work"], payload["partition"]
    table = _read_partition(run, work, "route", partition)
    if table is None:
        return {"source": "_all", "num_clusters": 0, "num_removed": 0, "max_cluster_size": 0}
    nodes, labels = _keys(table, "node"), _keys(table, "label")
    order = np.lexsort((nodes, labels))
    table, nodes, labels = table.take(pa.array(order)), nodes[order], labels[order]
    unique_labels, sizes = cluster_sizes(labels)
    starts = group_starts(labels)
    kept_rows = starts  # the smallest node of a cluster is its label: the kept document
    if not np.array_equal(nodes[kept_rows], labels[kept_rows]):
        raise ValueError("a cluster's label is not one of its documents; delete RUN/dedup/_work and rerun")
    member_cluster = np.repeat(np.arange(len(starts)), sizes)
    exact_hi, exact_lo = table.column("exact_hi").to_numpy(), table.column("exact_lo").to_numpy()
    kept_row_of_member = kept_rows[member_cluster]
    same_text = (exact_hi == exact_hi[kept_row_of_member]) & (exact_lo == exact_lo[kept_row_of_member])
    is_kept = nodes == labels
    reasons = np.where(is_kept, None, np.where(same_text, REASON_EXACT, REASON_NEAR))
    ids = table.column("id").to_numpy(zero_copy_only=False)
    decided = pa.table({"row": table.column("row"), "task": table.column("task"),
                        "dedup_cluster_size": pa.array(sizes[member_cluster].astype(np.int64)),
                        "dedup_kept_id": pa.array(ids[kept_row_of_member], pa.string()),
                        "reason": pa.array(reasons.tolist(), pa.string())})
    tasks = decided.column("task").to_numpy(zero_copy_only=False)
    for task in np.unique(tasks):
        run.write_parquet(f"{work}/final/{task}/part-{partition:05d}.parquet",
                          decided.filter(pa.array(tasks == task)).drop_columns(["task"]))
    return {"source": "_all", "num_clusters": len(unique_labels), "num_removed": int((~is_kept).sum()),
            "max_cluster_size": int(sizes.max())}


def apply_task(run_url: str, payload: dict) -> dict:
    """Kept documents gain dedup_cluster_id (the kept document's id) and dedup_cluster_size;
    removed ones also name their kept document (dedup_kept_id) and go to rejects by reason."""
    run = RunDir(run_url)
    source, task_id, work = payload["source"], payload["task_id"], payload["work"]
    table = run.read_parquet(payload["input"])
    num_rows = table.num_rows
    ids = table.column("id").to_numpy(zero_copy_only=False)
    sizes = np.ones(num_rows, dtype=np.int64)
    kept_ids = ids.copy()
    reasons = np.full(num_rows, None, dtype=object)
    for path in run.glob(f"{work}/final/{task_id}/part-*.parquet"):
        decided = run.read_parquet(path)
        rows = decided.column("row").to_numpy()
        sizes[rows] = decided.column("dedup_cluster_size").to_numpy()
        kept_ids[rows] = decided.column("dedup_kept_id").to_numpy(zero_copy_only=False)
        reasons[rows] = decided.column("reason").to_numpy(zero_copy_only=False)
    table = table.append_column("dedup_cluster_id", pa.array(kept_ids.tolist(), pa.string()))
    table = table.append_column("dedup_cluster_size", pa.array(sizes))
    removed = np.array([r is not None for r in reasons], dtype=bool)
    kept = table.filter(pa.array(~removed))
    run.write_parquet(part_path("dedup", source, task_id), kept)
    counts: dict[str, int] = {}
    chars = np.array([len(t or "") for t in table.column("text").to_pylist()], dtype=np.int64)
    reason_chars: dict[str, int] = {}
    for reason in (REASON_EXACT, REASON_NEAR):
        mask = reasons == reason
        if mask.any():
            rejects = table.filter(pa.array(mask)).append_column(
                "dedup_kept_id", pa.array(kept_ids[mask].tolist(), pa.string()))
            if "drop_reason" in rejects.column_names:
                rejects = rejects.drop_columns(["drop_reason"])
            rejects = rejects.append_column("drop_reason", pa.array([reason] * int(mask.sum()), pa.string()))
            run.write_parquet(f"dedup/rejects/{reason}/part-{task_id}.parquet", rejects)
            counts[reason], reason_chars[reason] = int(mask.sum()), int(chars[mask].sum())
    return {"source": source, "num_docs_in": num_rows, "num_docs_out": kept.num_rows,
            "num_chars_in": int(chars.sum()), "num_chars_out": int(chars[~removed].sum()),
            "reasons": counts, "reason_chars": reason_chars}
