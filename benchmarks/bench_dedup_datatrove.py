"""End to end against datatrove: its four MinHash stages (signature -> buckets -> cluster -> filter,
LocalPipelineExecutor) and corpusmill's dedup stage (`build`, embedded Ray), on the same documents
with the same parameters (word 5-grams, 14 bands x 8 rows, 64-bit), 2 workers each.

Documents: the ground-truth set of benchmarks/dedup_groundtruth.py (real shared data plus edited
copies). Compared: wall time, peak RSS of every process (VmHWM of the process tree, sampled), the
duplicate clusters each finds, and the kept sets under one keep rule (corpusmill's: longest, then
smallest id, applied to datatrove's clusters too, since datatrove keeps its union-find root). The
remaining differences come from normalization and shingling (datatrove: simplify_text + spaCy
words, xxhash64 of the joined 5-gram; corpusmill: its own normalize + xxh3 word hashes) and from
corpusmill's exact-duplicate pass; each differing document is shown with the exact Jaccard of its
best partner under corpusmill's shingles.

    python benchmarks/bench_dedup_datatrove.py [--limit N]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_dedup_scale import PeakRss  # noqa: E402
from dedup_groundtruth import build_set, exact_jaccard, truth_shingle_sets  # noqa: E402
from results import record  # noqa: E402

NUM_TASKS = 2


def _read(docs: list[dict]):
    from datatrove.data import Document

    def read(data, rank: int = 0, world_size: int = 1):
        for index in range(rank, len(docs), NUM_TASKS):
            yield Document(text=docs[index]["text"], id=str(index))
    return read


def run_datatrove(docs: list[dict], folder: Path) -> tuple[dict[int, int], float, dict]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster,
                                                  MinhashDedupFilter, MinhashDedupSignature)
    from datatrove.utils.hashing import HashConfig

    config = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8, hash_config=HashConfig(precision=64))
    out = folder / "kept"
    out.mkdir(parents=True)

    def keep(data, rank: int = 0, world_size: int = 1):
        with open(out / f"{rank}.jsonl", "w") as sink:
            for doc in data:
                sink.write(json.dumps([int(doc.id), doc.metadata.get("minhash_cluster_id", -1)]) + "\n")
                yield doc

    signature = MinhashDedupSignature(output_folder=str(folder / "sigs"), config=config)
    signature._hash_func = lambda text: xxhash.xxh64_intdigest(text.encode("utf-8"))  # xxhash 4: see bench_dedup
    stages = [
        LocalPipelineExecutor([_read(docs), signature], tasks=NUM_TASKS, workers=NUM_TASKS,
                              logging_dir=str(folder / "logs/1")),
        LocalPipelineExecutor([MinhashDedupBuckets(input_folder=str(folder / "sigs"), output_folder=str(folder / "buckets"),
                                                   config=config)], tasks=14, workers=NUM_TASKS, logging_dir=str(folder / "logs/2")),
        LocalPipelineExecutor([MinhashDedupCluster(input_folder=str(folder / "buckets"), output_folder=str(folder / "remove"),
                                                   config=config, save_cluster_id=True)], tasks=1,
                              logging_dir=str(folder / "logs/3")),
        LocalPipelineExecutor([_read(docs), MinhashDedupFilter(input_folder=str(folder / "remove"), load_cluster_ids=True),
                               keep], tasks=NUM_TASKS, workers=NUM_TASKS, logging_dir=str(folder / "logs/4")),
    ]
    started = time.perf_counter()
    for stage in stages:
        stage.run()
    seconds = time.perf_counter() - started
    kept_cluster = {}
    for path in out.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            index, cluster = json.loads(line)
            kept_cluster[index] = cluster
    # Every document of the set: the kept carry their cluster id; removed ones are found from the
    # .clusters files (doc index within its rank -> cluster)
    import struct

    cluster_of = {}
    for rank in range(NUM_TASKS):
        path = folder / "remove" / f"{rank:06d}.clusters"
        if path.exists():
            raw = path.read_bytes()
            for doc_in_rank, cluster in struct.iter_unpack("<2I", raw):
                cluster_of[rank + NUM_TASKS * doc_in_rank] = cluster
    return cluster_of, seconds, {"kept": len(kept_cluster)}


def run_corpusmill(docs: list[dict], folder: Path) -> tuple[dict[int, str], float, dict]:
    from pipelines.build import build
    from pipelines.recipe import load_recipe

    for rank in range(NUM_TASKS):
        rows = list(range(rank, len(docs), NUM_TASKS))
        pq.write_table(pa.table({"text": [docs[i]["text"] for i in rows], "gid": rows}), folder / f"in-{rank}.parquet")
    recipe = {"run_dir": str(folder / "run"), "runner": {"num_cpus": NUM_TASKS},
              "sources": [{"name": "docs", "kind": "parquet", "paths": [str(folder / "in-*.parquet")]}],
              "dedup": {"num_partitions": 16}}
    (folder / "recipe.yaml").write_text(json.dumps(recipe))
    started = time.perf_counter()
    build(load_recipe(folder / "recipe.yaml"), show_progress=False)
    seconds = time.perf_counter() - started
    cluster_of, kept = {}, 0
    for path in sorted((folder / "run/dedup").rglob("part-*.parquet")):
        if "_work" in path.parts:
            continue
        table = pq.read_table(path, columns=["meta", "dedup_cluster_id", "dedup_cluster_size"])
        is_kept = "rejects" not in path.parts
        for meta, cluster, size in zip(*table.to_pydict().values()):
            gid = int((json.loads(meta) if isinstance(meta, str) else meta)["gid"])
            kept += is_kept
            if size > 1:
                cluster_of[gid] = cluster
    extract_seconds = json.loads((folder / "run/run.json").read_text())["stages"]["extract"]["seconds"]
    return cluster_of, seconds - extract_seconds, {"kept": kept, "extract_s_excluded": extract_seconds}


def kept_under_one_rule(docs: list[dict], cluster_of: dict) -> set[int]:
    """Longest text, then smallest index, per cluster; documents in no cluster are kept."""
    best: dict = {}
    for index, cluster in cluster_of.items():
        key = (-len(docs[index]["text"]), index)
        if cluster not in best or key < best[cluster]:
            best[cluster] = key
    removed = set(cluster_of) - {index for _, index in best.values()}
    return set(range(len(docs))) - removed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, help="only the first N documents of the set")
    args = parser.parse_args()
    docs = build_set()[: args.limit]
    print(f"{len(docs)} documents", flush=True)
    folder = Path(tempfile.mkdtemp(prefix="dedup-vs-datatrove-"))
    results = {}
    for name, fn in (("datatrove", run_datatrove), ("corpusmill", run_corpusmill)):
        (folder / name).mkdir()
        with PeakRss() as rss:
            cluster_of, seconds, extra = fn(docs, folder / name)
        peaks = {}
        for role, peak in rss.peaks.values():
            peaks.setdefault(role, []).append(round(peak / 2**20))
        results[name] = {"cluster_of": cluster_of, "seconds": seconds, "peaks": peaks, **extra}
        print(f"{name}: {seconds:.1f} s wall, kept {extra['kept']}, in clusters {len(cluster_of)}, peak RSS MB "
              f"{ {k: max(v) for k, v in peaks.items()} } (processes: { {k: len(v) for k, v in peaks.items()} })",
              flush=True)
    ours, theirs = results["corpusmill"], results["datatrove"]
    anchor_name = "datatrove MinHash 4 stages, 2 workers"
    record("dedup (end to end)", f"wall time, {len(docs):,} documents", corpusmill=ours["seconds"],
           anchor=theirs["seconds"], unit="s", higher_is_better=False, anchor_name=anchor_name)
    record("dedup (end to end)", "largest process peak RSS", corpusmill=max(max(v) for v in ours["peaks"].values()),
           anchor=max(max(v) for v in theirs["peaks"].values()), unit="MB", higher_is_better=False,
           anchor_name=anchor_name)
    record("dedup (end to end)", "documents kept (differences: see the docstring)", corpusmill=ours["kept"],
           anchor=theirs["kept"], unit="docs", anchor_name=anchor_name)
    kept = {name: kept_under_one_rule(docs, r["cluster_of"]) for name, r in results.items()}
    both = kept["datatrove"] & kept["corpusmill"]
    only = {name: sorted(kept[name] - both) for name in kept}
    print(f"\nkept under one rule: datatrove {len(kept['datatrove'])}, corpusmill {len(kept['corpusmill'])}, "
          f"both {len(both)}; kept only by datatrove {len(only['datatrove'])}, only by corpusmill "
          f"{len(only['corpusmill'])}")
    sets = truth_shingle_sets([d["text"] for d in docs])
    for name, other in (("datatrove", "corpusmill"), ("corpusmill", "datatrove")):
        clusters = results[other]["cluster_of"]
        members: dict = {}
        for index, cluster in clusters.items():
            members.setdefault(cluster, []).append(index)
        similarities = []
        for index in only[name]:  # removed by `other`: its best partner there
            partners = [m for m in members.get(clusters.get(index), []) if m != index]
            similarities.append(max((exact_jaccard(sets[index], sets[m]) for m in partners), default=float("nan")))
        if similarities:
            values = np.array(similarities)
            print(f"  kept by {name} only ({len(values)}): removed by {other}; best-partner Jaccard (corpusmill "
                  f"shingles) min {np.nanmin(values):.3f} median {np.nanmedian(values):.3f} max {np.nanmax(values):.3f}; "
                  f"{int((values >= 0.8).sum())} >= 0.8, {int((values < 0.7).sum())} < 0.7")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
