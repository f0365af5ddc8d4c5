"""Dedup at scale on this machine: wall time, peak RSS of every process, slope of time vs size.

Input: real documents (the 1,033 web pages and the Gutenberg books in ~900-character chunks, read
by corpusmill's readers, R = 8,092) expanded synthetically to N documents (scale only; accuracy is
measured on real data in tests/pipelines/test_dedup_accuracy.py). Document i is real document
i mod R with a word only copy i has (`copy_token(i)`, letters only) after every 4th word, so every
word 5-gram of it is its own: copies of one real document share no shingle, and the LSH sees as
many distinct documents as there are (an expansion that reused the R texts with a few words
changed made every copy a near-duplicate of the others, so clusters and candidate pairs grew with
N^2 / R and the measured slope was 1.32). Planted duplicates, a fixed fraction at every N: in each
block of 10, slot 0 is an exact copy and slot 5 a near copy (1-3 words replaced) of one of the
5,000 documents before it, so about 10% exact and 10% near duplicates, in clusters of a few
documents whatever N is. Written as Parquet files of 20,000 documents (one task each), then `build`
runs extract + dedup (num_partitions 16, the rest default: exact-Jaccard verification
at 0.8 on) on an embedded Ray with --num-cpus CPUs. Peak RSS is VmHWM
of the driver and of every process Ray started under it (GCS, raylet, workers), sampled every
0.5 s; the slope is d log(time) / d log(N) between consecutive sizes and least squares over all
sizes (1.0 = linear), with each phase's seconds against the smallest size's. The machine is shared
(the 1-minute load average is printed before and after each size): wall times are noisy.

Measured 2026-12-05 (2 shared cores, other helpers' benchmarks running; 1-minute load average
5-9 throughout; verification on), one process, sizes in order:
         N   dedup s  signature s  driver MB  max worker MB  removed exact / near  slope
   100,000      63.2         51.1        623            593       8,844 / 11,067
   500,000     288.3        238.2        667            638      44,138 / 55,507   0.94
 2,000,000     950.3        828.9        713          1,206     177,337 / 221,381  0.86
Least-squares slope 0.91 (an earlier run under load 11-17 for the small sizes and 7-9 for 2M gave
112.8 / 509.8 / 1,085.4 s: the slope follows the load, not the data). Every phase grows at most
linearly (2M / 100k: signature 16x, candidates 18x, verify 15x, rounds 1.2x, for N 20x); 4
propagation rounds at every size. A partition task's memory grows with N / num_partitions (at 2M
and 16 partitions the largest worker peaks at 1.2 GB), so the default (`num_partitions: null`) sizes
them at one per 125,000 documents (16 at least; this benchmark pins 16 to measure the growth).

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


# Planted duplicates, by position in each block of PLANT_EVERY documents (a constant fraction, so
# the number and the size of clusters grow in proportion to N, never faster).
PLANT_EVERY = 10
EXACT_SLOT, NEAR_SLOT = 0, 5
PLANT_WINDOW = 5_000  # a planted copy's original is one of the PLANT_WINDOW documents before it
COPY_TOKEN_EVERY = 4  # one copy token after every 4 words: every 5-gram holds one


def copy_token(copy: int) -> str:
    """A word that only copy `copy` contains: letters only (normalization maps digits to "0")."""
    letters = []
    copy += 1
    while copy:
        copy, digit = divmod(copy, 26)
        letters.append(chr(ord("a") + digit))
    return "zq" + "".join(letters)


def distinct_text(base: list[str], i: int) -> str:
    """Document i: real document i mod R with copy i's token after every 4th word, so no word
    5-gram of it appears in any other document i' != i (expanded documents are distinct)."""
    words = base[i % len(base)].split()
    token = copy_token(i)
    out = []
    for position, word in enumerate(words):
        out.append(word)
        if position % COPY_TOKEN_EVERY == COPY_TOKEN_EVERY - 1:
            out.append(token)
    return " ".join(out)


def original_of(i: int) -> int:
    """The earlier, unplanted document that planted document i copies (seeded by i)."""
    rng = random.Random(i)
    j = i - 1 - rng.randrange(min(i, PLANT_WINDOW))
    while j % PLANT_EVERY in (EXACT_SLOT, NEAR_SLOT) and j > 0:
        j -= 1
    return j


def document(base: list[str], i: int, vocabulary: list[str]) -> str:
    """Document i of the expanded set. Slot EXACT_SLOT of each block of 10 (except document 0) is an
    exact copy of an earlier document, slot NEAR_SLOT a near copy (1-3 words replaced: Jaccard of
    about 0.9 for a ~150-word document); the other 8 are distinct. So 10% exact and 10% near
    duplicates at every N, in clusters whose size does not grow with N."""
    slot = i % PLANT_EVERY
    if i == 0 or slot not in (EXACT_SLOT, NEAR_SLOT):
        return distinct_text(base, i)
    text = distinct_text(base, original_of(i))
    if slot == EXACT_SLOT:
        return text
    rng = random.Random(-i)
    words = text.split()
    for _ in range(rng.randint(1, 3)):
        words[rng.randrange(len(words))] = rng.choice(vocabulary)
    return " ".join(words)


def write_inputs(folder: Path, num_docs: int, base: list[str]) -> int:
    vocabulary = sorted({w for text in base[:2000] for w in text.split()})
    num_bytes = 0
    for start in range(0, num_docs, DOCS_PER_FILE):
        texts = [document(base, i, vocabulary) for i in range(start, min(num_docs, start + DOCS_PER_FILE))]
        path = folder / f"part-{start // DOCS_PER_FILE:05d}.parquet"
        pq.write_table(pa.table({"text": texts}), path)
        num_bytes += sum(len(t) for t in texts)
    return num_bytes


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
    load_before = os.getloadavg()
    with PeakRss() as rss, Runner(num_cpus=num_cpus, show_progress=False):
        started = time.perf_counter()
        result = build(load_recipe(folder / "recipe.yaml"), show_progress=False)
        wall = time.perf_counter() - started
    load_after = os.getloadavg()
    phases = {r.stage: round(r.seconds, 2) for r in result.stages}
    grouped: dict[str, float] = {}
    for name, seconds in phases.items():
        group = "dedup.rounds" if name.startswith("dedup.round-") else name
        grouped[group] = round(grouped.get(group, 0.0) + seconds, 2)
    dedup_stats = json.loads((folder / "run/_stats/dedup.json").read_text())["docs"]
    by_role: dict[str, list[int]] = {}
    for role, peak in rss.peaks.values():
        by_role.setdefault(role, []).append(peak)
    out = {"num_docs": num_docs, "input_mb": round(num_chars / 1e6, 1), "build_wall_s": round(wall, 1),
           "dedup_s": round(sum(s for name, s in phases.items() if name.startswith("dedup")), 1),
           "extract_s": phases.get("extract"), "phases_s": grouped,
           "load_avg_before": [round(x, 2) for x in load_before], "load_avg_after": [round(x, 2) for x in load_after],
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
          f"{'max worker MB':>13} {'raylet MB':>9} {'gcs MB':>7} {'slope':>6} {'load avg (1 min) before/after':>30}")
    for i, r in enumerate(results):
        slope = ""
        if i:
            prev = results[i - 1]
            slope = f"{math.log(r['dedup_s'] / prev['dedup_s']) / math.log(r['num_docs'] / prev['num_docs']):.2f}"
        rss = r["peak_rss_mb"]
        print(f"{r['num_docs']:>10,} {r['input_mb']:>9} {r['dedup_s']:>8} {r['num_docs'] / r['dedup_s']:>8,.0f} "
              f"{r['num_rounds']:>6} {max(rss.get('driver', [0])):>9} {max(rss.get('worker', [0])):>13} "
              f"{max(rss.get('raylet', [0])):>9} {max(rss.get('gcs_server', [0])):>7} {slope:>6} "
              f"{r['load_avg_before'][0]:>14} / {r['load_avg_after'][0]:<14}")
        record("dedup (scale)", f"{r['num_docs']:,} documents, {args.num_cpus} CPUs", corpusmill=r["num_docs"] / r["dedup_s"],
               anchor=None, unit="docs/s", anchor_name="none (slope: next row)")
    if len(results) > 1:  # least-squares slope of log(dedup seconds) on log(N), over all sizes
        xs = [math.log(r["num_docs"]) for r in results]
        ys = [math.log(r["dedup_s"]) for r in results]
        mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
        fitted = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sum((x - mean_x) ** 2 for x in xs)
        print(f"fitted slope of log(dedup s) vs log(N) over {len(results)} sizes: {fitted:.2f} (1.00 = linear)")
        first, last = results[0], results[-1]
        record("dedup (scale)", f"slope of time vs size, {first['num_docs']:,} -> {last['num_docs']:,} (1 = linear, "
               f"least squares over {len(results)} sizes)", corpusmill=fitted,
               anchor=None, unit="d log s / d log N", higher_is_better=False, anchor_name="none")
        anchor = results[0]
        for phase in anchor["phases_s"]:
            ratios = [f"{r['phases_s'].get(phase, 0) / max(anchor['phases_s'][phase], 1e-9):.1f}x" for r in results[1:]]
            print(f"  {phase:<20} {anchor['phases_s'][phase]:>8} s at {anchor['num_docs']:,}; then " + ", ".join(ratios)
                  + " (N ratios: " + ", ".join(f"{r['num_docs'] / anchor['num_docs']:.0f}x" for r in results[1:]) + ")")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
