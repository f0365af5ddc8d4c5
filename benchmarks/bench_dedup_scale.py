"""Dedup at scale on this machine: wall time, peak RSS of every process, slope of time vs size.

Input: real documents (the 1,033 web pages and the Gutenberg books in ~900-character chunks, read
by corpusmill's readers) expanded synthetically to N documents (scale only; accuracy is measured on
real data in tests/pipelines/test_dedup_accuracy.py): document i is real document i mod R with 3 of
its words replaced by words drawn with seed i, so most are distinct; every 10th is an exact copy
and every 10th+5 a near copy (one changed word) of an earlier one. Written as Parquet files of
20,000 documents (one task each), then `build` runs extract + dedup (num_partitions 16) on an
embedded Ray with --num-cpus CPUs. Peak RSS is VmHWM of the driver and of every process Ray
started under it (GCS, raylet, workers), sampled every 0.5 s; the slope is d log(time) / d log(N)
between consecutive sizes (1.0 = linear). The machine is shared: wall times are noisy.

    python benchmarks/bench_dedup_scale.py --sizes 100000 500000 [2000000] [--num-cpus 2]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_dedup import load_docs  # noqa: E402
from results import record  # noqa: E402

DOCS_PER_FILE = 20_000


def write_inputs(folder: Path, num_docs: int, base: list[str]) -> int:
    vocabulary = sorted({w for text in base[:2000] for w in text.split()})
    num_bytes = 0
    for start in range(0, num_docs, DOCS_PER_FILE):
        texts = []
        for i in range(start, min(num_docs, start + DOCS_PER_FILE)):
            rng = random.Random(i)
            if i % 10 == 0 and i:
                source = i - rng.randrange(1, min(i, 5000) + 1)
                texts.append(_variant(base, source, random.Random(source), vocabulary, 3))
                continue
            text = _variant(base, i, rng, vocabulary, 3)
            if i % 10 == 5:
                words = text.split()
                words[rng.randrange(len(words))] = rng.choice(vocabulary)
                text = " ".join(words)
            texts.append(text)
        path = folder / f"part-{start // DOCS_PER_FILE:05d}.parquet"
        pq.write_table(pa.table({"text": texts}), path)
        num_bytes += sum(len(t) for t in texts)
    return num_bytes


def _variant(base: list[str], i: int, rng: random.Random, vocabulary: list[str], num_changes: int) -> str:
    words = base[i % len(base)].split()
    for _ in range(num_changes):
        words[rng.randrange(len(words))] = rng.choice(vocabulary)
    return " ".join(words)


def _descendants(root: int) -> list[int]:
    """Pids under `root` (from /proc/<pid>/stat's parent pid; no psutil needed)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
            except OSError:
                pass
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


class PeakRss:
    """Max VmHWM (peak resident set) of this process and all its descendants, sampled."""

    def __init__(self):
        self.peaks: dict[int, tuple[str, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self):
        me = os.getpid()
        for pid in _descendants(me):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                hwm = int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]) * 1024
                cmdline = Path(f"/proc/{pid}/cmdline").read_text().split("\0")
            except (OSError, StopIteration):
                continue
            name = "driver" if pid == me else _role(cmdline)
            if hwm > self.peaks.get(pid, ("", 0))[1]:
                self.peaks[pid] = (name, hwm)

    def _loop(self):
        while not self._stop.wait(0.5):
            self._sample()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._sample()
        self._stop.set()
        self._thread.join()


def _role(cmdline: list[str]) -> str:
    text = " ".join(cmdline)
    for key, name in (("gcs_server", "gcs_server"), ("raylet", "raylet"), ("default_worker", "worker"),
                      ("dashboard", "dashboard"), ("log_monitor", "log_monitor"), ("ray::", "worker")):
        if key in text:
            return name
    return os.path.basename(cmdline[0]) if cmdline and cmdline[0] else "?"


def run_size(num_docs: int, base: list[str], num_cpus: int, keep: bool) -> dict:
    from pipelines.build import build
    from pipelines.recipe import load_recipe
    from pipelines.runner import Runner

    folder = Path(tempfile.mkdtemp(prefix=f"dedup-scale-{num_docs}-", dir=os.environ.get("TMPDIR")))
    num_chars = write_inputs(folder, num_docs, base)
    recipe = {"run_dir": str(folder / "run"), "runner": {"num_cpus": num_cpus},
              "sources": [{"name": "docs", "kind": "parquet", "paths": [str(folder / "part-*.parquet")]}],
              "dedup": {"num_partitions": 16}}
    (folder / "recipe.yaml").write_text(json.dumps(recipe))
    with PeakRss() as rss, Runner(num_cpus=num_cpus, show_progress=False):
        started = time.perf_counter()
        result = build(load_recipe(folder / "recipe.yaml"), show_progress=False)
        wall = time.perf_counter() - started
    phases = {r.stage: round(r.seconds, 2) for r in result.stages}
    dedup_stats = json.loads((folder / "run/_stats/dedup.json").read_text())["docs"]
    by_role: dict[str, list[int]] = {}
    for role, peak in rss.peaks.values():
        by_role.setdefault(role, []).append(peak)
    out = {"num_docs": num_docs, "input_mb": round(num_chars / 1e6, 1), "build_wall_s": round(wall, 1),
           "dedup_s": round(sum(s for name, s in phases.items() if name.startswith("dedup")), 1),
           "extract_s": phases.get("extract"), "phases_s": phases,
           "num_rounds": sum(name.startswith("dedup.round-") for name in phases),
           "removed": dedup_stats.get("reasons", {}), "kept": dedup_stats["num_docs_out"],
           "peak_rss_mb": {role: [round(p / 2**20) for p in sorted(peaks, reverse=True)]
                           for role, peaks in sorted(by_role.items())}}
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 500_000])
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the run directories")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    base = load_docs(10**9)
    print(f"{len(base)} real base documents; sizes {args.sizes}; Ray num_cpus={args.num_cpus}", flush=True)
    results = []
    for size in args.sizes:
        results.append(run_size(size, base, args.num_cpus, args.keep))
        print(json.dumps(results[-1]), flush=True)
    print(f"\n{'docs':>10} {'input MB':>9} {'dedup s':>8} {'docs/s':>8} {'rounds':>6} {'driver MB':>9} "
          f"{'max worker MB':>13} {'raylet MB':>9} {'gcs MB':>7} {'slope':>6}")
    for i, r in enumerate(results):
        slope = ""
        if i:
            prev = results[i - 1]
            slope = f"{math.log(r['dedup_s'] / prev['dedup_s']) / math.log(r['num_docs'] / prev['num_docs']):.2f}"
        rss = r["peak_rss_mb"]
        print(f"{r['num_docs']:>10,} {r['input_mb']:>9} {r['dedup_s']:>8} {r['num_docs'] / r['dedup_s']:>8,.0f} "
              f"{r['num_rounds']:>6} {max(rss.get('driver', [0])):>9} {max(rss.get('worker', [0])):>13} "
              f"{max(rss.get('raylet', [0])):>9} {max(rss.get('gcs_server', [0])):>7} {slope:>6}")
        record("dedup (scale)", f"{r['num_docs']:,} documents, {args.num_cpus} CPUs", corpusmill=r["num_docs"] / r["dedup_s"],
               anchor=None, unit="docs/s", anchor_name="none (slope: next row)")
    if len(results) >= 2:
        first, last = results[0], results[-1]
        record("dedup (scale)", f"slope of time vs size, {first['num_docs']:,} -> {last['num_docs']:,} (1 = linear)",
               corpusmill=math.log(last["dedup_s"] / first["dedup_s"]) / math.log(last["num_docs"] / first["num_docs"]),
               anchor=None, unit="d log s / d log N", higher_is_better=False, anchor_name="none")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
