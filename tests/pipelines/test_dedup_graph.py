"""Keys in keep-rule order, bucket pairs, and partitioned min-label propagation against scipy's
connected components (an independent implementation)."""
from __future__ import annotations

import random

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pipelines.dedup.graph import bucket_pairs, outgoing_messages, propagate_step
from pipelines.dedup.keys import as_bytes, from_bytes, partition_of, rank_keys


def test_keys_sort_in_keep_rule_order():
    rng = random.Random(0)
    docs = [(rng.randrange(3), rng.choice([10, 500, 500, 20_000_000, 7]), f"{rng.getrandbits(96):024x}") for _ in range(300)]
    high, low = rank_keys([d[0] for d in docs], [d[1] for d in docs], [d[2] for d in docs])
    by_key = [docs[i] for i in np.argsort(as_bytes(high, low), kind="stable")]
    capped = lambda d: (d[0], -min(d[1], 2**24 - 1), d[2])  # lengths above 2^24 - 1 count as equal
    assert by_key == sorted(docs, key=capped)
    back_high, back_low = from_bytes(as_bytes(high, low))
    assert np.array_equal(back_high, high) and np.array_equal(back_low, low)


def test_bucket_pairs_clique_and_star():
    keys = as_bytes(np.zeros(6, np.uint64), np.arange(6, dtype=np.uint64))
    buckets = np.array([b"a", b"a", b"a", b"b", b"b", b"c"], dtype="S1")
    # bucket a = {0,1,2}, b = {3,4}, c = {5}; clique up to 3 members
    u, v = bucket_pairs(buckets, keys[[0, 1, 2, 3, 4, 5]], max_clique=3)
    pairs = {(int(from_bytes(u[i:i + 1])[1][0]), int(from_bytes(v[i:i + 1])[1][0])) for i in range(len(u))}
    assert pairs == {(0, 1), (0, 2), (1, 2), (3, 4)}
    u, v = bucket_pairs(buckets, keys, max_clique=2)  # bucket a is now a star from its smallest member
    pairs = {(int(from_bytes(u[i:i + 1])[1][0]), int(from_bytes(v[i:i + 1])[1][0])) for i in range(len(u))}
    assert pairs == {(0, 1), (0, 2), (3, 4)}


def _propagate_partitioned(num_nodes: int, edges: list[tuple[int, int]], num_partitions: int):
    """The stage's rounds, in memory: each partition sees only its nodes, edges and messages."""
    keys = as_bytes(np.zeros(num_nodes, np.uint64), np.arange(num_nodes, dtype=np.uint64) * 7919 % 100_003)
    src = np.array([keys[a] for a, b in edges] + [keys[b] for a, b in edges], dtype="S16")
    dst = np.array([keys[b] for a, b in edges] + [keys[a] for a, b in edges], dtype="S16")
    part_of = lambda k: partition_of(*from_bytes(k), num_partitions)
    state = {}
    for p in range(num_partitions):
        mine = part_of(src) == p
        nodes = np.unique(src[mine])
        state[p] = {"nodes": nodes, "labels": nodes.copy(), "src": src[mine], "dst": dst[mine],
                    "changed": np.ones(len(nodes), bool)}
    rounds = 0
    while True:
        inbox = {p: ([], []) for p in range(num_partitions)}
        sent = 0
        for p, s in state.items():
            targets, labels = outgoing_messages(s["nodes"], s["labels"], s["changed"], s["src"], s["dst"])
            sent += len(targets)
            for q in range(num_partitions):
                to_q = part_of(targets) == q if len(targets) else np.zeros(0, bool)
                inbox[q][0].append(targets[to_q])
                inbox[q][1].append(labels[to_q])
        if sent == 0:
            break
        rounds += 1
        for p, s in state.items():
            s["labels"], s["changed"] = propagate_step(s["nodes"], s["labels"], np.concatenate(inbox[p][0]),
                                                       np.concatenate(inbox[p][1]))
    label_of = {}  # low 64 bits of a node key -> low 64 bits of its label (the high bits are 0 here)
    for s in state.values():
        label_of.update(zip(from_bytes(s["nodes"])[1].tolist(), from_bytes(s["labels"])[1].tolist()))
    return from_bytes(keys)[1].tolist(), label_of, rounds


def test_partitioned_propagation_equals_connected_components():
    rng = random.Random(1)
    num_nodes = 400
    edges = [(i, i + 1) for i in range(0, 60)]  # a long chain: many rounds
    edges += [(rng.randrange(num_nodes), rng.randrange(num_nodes)) for _ in range(250)]
    edges = [(a, b) for a, b in edges if a != b]
    keys, label_of, rounds = _propagate_partitioned(num_nodes, edges, num_partitions=5)
    graph = coo_matrix((np.ones(len(edges)), ([a for a, _ in edges], [b for _, b in edges])), shape=(num_nodes, num_nodes))
    _, component = connected_components(graph, directed=False)
    in_graph = sorted({n for e in edges for n in e})
    for node in in_graph:
        members = [m for m in in_graph if component[m] == component[node]]
        assert label_of[keys[node]] == min(keys[m] for m in members)
    assert rounds >= 3
