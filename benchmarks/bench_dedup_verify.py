"""What exact-Jaccard verification of candidate pairs costs, and what it buys: the dedup stage
(`build`, embedded Ray, 2 CPUs) on the ground-truth set of benchmarks/dedup_groundtruth.py (real
shared data plus edited copies, ~24,600 documents), once with `verify_threshold: null` (every LSH
candidate pair is a duplicate) and once with 0.8 (a pair is kept only if the exact Jaccard of its
word 5-gram sets is >= 0.8), same parameters otherwise (14 bands x 8 rows, 16 partitions).

Printed per run: wall seconds of every dedup phase (the anchor is the run without verification, in
the same process on the same input), peak RSS of the driver and the largest worker, documents
removed by reason, and how many removed near-duplicates have no partner of Jaccard >= 0.8 in the
exact truth (a document removed for no good reason). Extract is run once and excluded. The machine
is shared: wall times are noisy (the 1-minute load average is printed).

    python benchmarks/bench_dedup_verify.py [--limit N]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_dedup_scale import PeakRss  # noqa: E402
from dedup_groundtruth import build_set, similar_pairs, truth_shingle_sets  # noqa: E402
from results import record  # noqa: E402

NUM_CPUS = 2


def run_dedup(folder: Path, verify_threshold: float | None) -> dict:
    from pipelines.build import build
    from pipelines.recipe import load_recipe

    recipe = {"run_dir": str(folder / "run"), "runner": {"num_cpus": NUM_CPUS},
              "sources": [{"name": "docs", "kind": "parquet", "paths": [str(folder / "in-*.parquet")]}],
              "dedup": {"num_partitions": 16, "verify_threshold": verify_threshold}}
    (folder / "recipe.yaml").write_text(json.dumps(recipe))
    load = os.getloadavg()[0]
    with PeakRss() as rss:
        result = build(load_recipe(folder / "recipe.yaml"), show_progress=False)
    phases = {r.stage: r.seconds for r in result.stages if r.stage.startswith("dedup")}
    removed: dict[str, list[int]] = {}
    for reason in ("exact_duplicate", "near_duplicate"):
        for path in sorted((folder / f"run/dedup/rejects/{reason}").glob("*.parquet")):
            metas = pq.read_table(path, columns=["meta"]).column("meta").to_pylist()
            removed.setdefault(reason, []).extend(int((json.loads(m) if isinstance(m, str) else m)["gid"]) for m in metas)
    peaks: dict[str, int] = {}
    for role, peak in rss.peaks.values():
        peaks[role] = max(peaks.get(role, 0), round(peak / 2**20))
    return {"phases": phases, "removed": removed, "peaks": peaks, "load_1min": load}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, help="only the first N documents of the set")
    args = parser.parse_args()
    docs = build_set()[: args.limit]
    truth = similar_pairs(truth_shingle_sets([d["text"] for d in docs]), threshold=0.8)
    has_partner = {i for pair in truth for i in pair}
    folder = Path(tempfile.mkdtemp(prefix="dedup-verify-"))
    for rank in range(NUM_CPUS):
        rows = list(range(rank, len(docs), NUM_CPUS))
        pq.write_table(pa.table({"text": [docs[i]["text"] for i in rows], "gid": rows}), folder / f"in-{rank}.parquet")
    from pipelines.runner import Runner

    results = {}
    with Runner(num_cpus=NUM_CPUS, show_progress=False):
        for name, threshold in (("no verification", None), ("verify_threshold 0.8", 0.8)):
            run_folder = folder / name.replace(" ", "_")
            run_folder.mkdir()
            for path in folder.glob("in-*.parquet"):
                shutil.copy(path, run_folder / path.name)
            results[name] = run_dedup(run_folder, threshold)
    anchor = sum(results["no verification"]["phases"].values())
    print(f"{len(docs)} documents; truth: {len(truth)} pairs with Jaccard >= 0.8 over {len(has_partner)} documents")
    for name, r in results.items():
        total = sum(r["phases"].values())
        near = r["removed"].get("near_duplicate", [])
        unjustified = sum(i not in has_partner for i in near)
        print(f"\n{name}: dedup {total:.1f} s wall ({total / anchor:.2f}x the run without verification), "
              f"load {r['load_1min']:.1f}; peak RSS MB driver {r['peaks'].get('driver')}, largest worker "
              f"{r['peaks'].get('worker')}")
        print("  " + ", ".join(f"{phase} {seconds:.1f}" for phase, seconds in r["phases"].items()))
        print(f"  removed: exact {len(r['removed'].get('exact_duplicate', []))}, near {len(near)}, of them "
              f"{unjustified} without any partner of Jaccard >= 0.8")
    verified = results["verify_threshold 0.8"]
    record("dedup (verification)", f"dedup wall time with verify_threshold 0.8 (the default), {len(docs):,} documents",
           corpusmill=sum(verified["phases"].values()), anchor=anchor, unit="s", higher_is_better=False,
           anchor_name="the same stage without verification")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
