"""Candidate pairs from band buckets, min-label propagation steps, clusters. Pure numpy on 'S16'
document keys (keys.py): each function sees one partition, never the whole graph."""
from __future__ import annotations

import numpy as np


def group_starts(sorted_values: np.ndarray) -> np.ndarray:
    """Start index of each run of equal values in a sorted array."""
    if len(sorted_values) == 0:
        return np.empty(0, dtype=np.int64)
    change = np.flatnonzero(sorted_values[1:] != sorted_values[:-1]) + 1
    return np.concatenate([[0], change])


def bucket_pairs(buckets: np.ndarray, nodes: np.ndarray, max_clique: int) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) with u < v for documents sharing a bucket (`buckets` any sortable dtype, `nodes` 'S16'):
    every pair of a bucket of at most `max_clique` documents, the smallest document paired with each
    other one above that (enough for connected components; FineWeb's choice for every bucket). Unique."""
    order = np.lexsort((nodes, buckets))
    buckets, nodes = buckets[order], nodes[order]
    starts = group_starts(buckets)
    sizes = np.diff(np.concatenate([starts, [len(buckets)]]))
    pairs_of_two = starts[sizes == 2]  # the common case, without a Python loop
    us, vs = [nodes[pairs_of_two]], [nodes[pairs_of_two + 1]]
    for start, size in zip(starts[sizes > 2], sizes[sizes > 2]):
        members = np.unique(nodes[start: start + size])
        if len(members) < 2:
            continue
        if len(members) <= max_clique:
            i, j = np.triu_indices(len(members), k=1)
            us.append(members[i])
            vs.append(members[j])
        else:
            us.append(np.repeat(members[:1], len(members) - 1))
            vs.append(members[1:])
    u, v = np.concatenate(us), np.concatenate(vs)
    distinct = u != v  # one document twice in a bucket (it cannot be, but a pair needs two)
    return unique_pairs(u[distinct], v[distinct])


def unique_pairs(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(u) == 0:
        return u, v
    order = np.lexsort((v, u))
    u, v = u[order], v[order]
    keep = np.ones(len(u), dtype=bool)
    keep[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    return u[keep], v[keep]


def min_by_key(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique keys (sorted) and the smallest value of each."""
    if len(keys) == 0:
        return keys, values
    order = np.lexsort((values, keys))
    keys, values = keys[order], values[order]
    starts = group_starts(keys)
    return keys[starts], values[starts]


def lookup(sorted_keys: np.ndarray, values: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(found mask, value) of each query in a sorted key array."""
    if len(sorted_keys) == 0:
        return np.zeros(len(queries), dtype=bool), np.empty(len(queries), dtype=values.dtype)
    where = np.searchsorted(sorted_keys, queries)
    where_clipped = np.minimum(where, len(sorted_keys) - 1)
    found = (where < len(sorted_keys)) & (sorted_keys[where_clipped] == queries)
    return found, values[where_clipped]


def propagate_step(nodes: np.ndarray, labels: np.ndarray, incoming_nodes: np.ndarray,
                   incoming_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One receive step of min-label propagation for one partition: `nodes` sorted and unique,
    `labels` their current labels; returns (new labels, changed mask)."""
    new_labels = labels.copy()
    if len(incoming_nodes):
        targets, smallest = min_by_key(incoming_nodes, incoming_labels)
        found, _ = lookup(nodes, np.arange(len(nodes)), targets)
        if not found.all():
            raise ValueError("a message names a document this partition does not hold; the dedup "
                             "work directory is inconsistent: delete RUN/dedup/_work and rerun")
        positions = np.searchsorted(nodes, targets)
        current = labels[positions]
        new_labels[positions] = np.where(smallest < current, smallest, current)
    return new_labels, new_labels < labels


def outgoing_messages(nodes: np.ndarray, labels: np.ndarray, senders: np.ndarray,
                      edge_src: np.ndarray, edge_dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(neighbour, label) for each edge leaving a sending node, reduced to the smallest label per
    neighbour; `nodes` sorted, `senders` a mask over them."""
    sending = nodes[senders]
    if len(sending) == 0 or len(edge_src) == 0:
        return np.empty(0, dtype=nodes.dtype), np.empty(0, dtype=labels.dtype)
    found, label_of_src = lookup(sending, labels[senders], edge_src)
    return min_by_key(edge_dst[found], label_of_src[found])


def cluster_sizes(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique labels (sorted) and how many documents carry each."""
    return np.unique(labels, return_counts=True)
