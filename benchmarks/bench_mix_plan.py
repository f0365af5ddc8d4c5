"""The mix's plan at scale: count (per group of parts) and plan (one task) over N synthetic documents.

    python benchmarks/bench_mix_plan.py [--docs 1000000 4000000 16000000] [--work DIR]

For each N: parquet parts of 100,000 documents, each only a `num_tokens` column of long-tailed
lengths (95% 1-400 tokens, 5% 2,000-20,000), one source, natural weights with a fixed total of a
third of the tokens (so every source has a fractional selection and a window to read), val 0.5%.
The count runs group by group in this process (the stage runs them as tasks); then the plan runs
in a fresh process: its seconds, its peak RSS and how many per-document records it read.

Anchor, measured on the same parts in a fresh process: the least the replaced one-task plan had
to do, reading every part's `num_tokens` into one array (it then held ~16 bytes a document for
parts, rows and lengths and made a global permutation). The plan's memory should stay flat as N
grows; the anchor's grows with N.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.results import record  # noqa: E402

DOCS_PER_PART = 100_000


def write_parts(root: Path, num_docs: int) -> list[dict]:
    rng = np.random.default_rng(num_docs)
    parts = []
    for j, start in enumerate(range(0, num_docs, DOCS_PER_PART)):
        n = min(DOCS_PER_PART, num_docs - start)
        lengths = np.where(rng.random(n) < 0.05, rng.integers(2_000, 20_000, n), rng.integers(1, 400, n))
        path = root / "web" / f"part-{j:05d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"num_tokens": lengths.astype(np.int32)}), path)
        parts.append({"path": str(path), "source": "web", "num_docs": n, "num_tokens": int(lengths.sum())})
    return parts


def config_for(parts: list[dict]):
    from pipelines.mixture import MixConfig

    return MixConfig(natural=True, total_tokens=sum(p["num_tokens"] for p in parts) // 3, val_fraction=0.005)


def step(kind: str, work: Path) -> dict:
    """Run in a fresh process: 'plan' (the count's outputs must be there) or 'anchor'."""
    from fsspec.implementations.local import LocalFileSystem

    from pipelines.mix_select import KEY_RECORD, mix_layout, plan_selection

    parts = json.loads((work / "parts.json").read_text())
    start = time.perf_counter()
    if kind == "anchor":
        lengths = np.concatenate([pq.read_table(p["path"], columns=["num_tokens"]).column("num_tokens").to_numpy()
                                  for p in parts]).astype(np.int64)
        np.random.default_rng(0).permutation(len(lengths))  # the global order it drew
        read = len(lengths)
    else:
        class Counting(LocalFileSystem):
            record_bytes = 0

            def cat_file(self, path, start=None, end=None, **kwargs):
                data = super().cat_file(path, start=start, end=end, **kwargs)
                if str(path).endswith(".records"):
                    Counting.record_bytes += len(data)
                return data

        layout = mix_layout(parts, config_for(parts))
        totals = json.loads((work / "totals.json").read_text())
        plan_selection(Counting(), str(work / "staging"), layout, totals, config_for(parts))
        read = Counting.record_bytes // KEY_RECORD.itemsize
    return {"seconds": time.perf_counter() - start, "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "records_read": read}


def measure(num_docs: int, work: Path) -> dict:
    import fsspec

    from pipelines.mix_select import count_group, mix_layout, sum_totals

    work.mkdir(parents=True, exist_ok=True)
    parts = write_parts(work / "parts", num_docs)
    (work / "parts.json").write_text(json.dumps(parts))
    layout = mix_layout(parts, config_for(parts))
    start = time.perf_counter()
    fs = fsspec.filesystem("file")
    totals = sum_totals(layout["sources"], [
        count_group(fs, str(work / "staging"), g, layout["parts"][a:b], layout["sources"], 0)
        for g, (a, b) in enumerate(layout["groups"])])
    count_seconds = time.perf_counter() - start
    (work / "totals.json").write_text(json.dumps(totals))
    row = {"docs": num_docs, "parts": len(parts), "groups": len(layout["groups"]), "count_seconds": count_seconds}
    for kind in ("plan", "anchor"):
        done = subprocess.run([sys.executable, __file__, "--step", kind, "--work", str(work)],
                              capture_output=True, text=True, cwd=REPO)
        if done.returncode:
            raise SystemExit(f"{kind} failed:\n{done.stderr[-3000:]}")
        row[kind] = json.loads(done.stdout.strip().splitlines()[-1])
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, nargs="+", default=[1_000_000, 4_000_000, 16_000_000])
    parser.add_argument("--work", type=Path)
    parser.add_argument("--quick", action="store_true", help="--docs 1000000 8000000")
    parser.add_argument("--step", choices=("plan", "anchor"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        print(json.dumps(step(args.step, args.work)))
        return
    sizes = [1_000_000, 8_000_000] if args.quick else args.docs
    with tempfile.TemporaryDirectory() as tmp:
        root = args.work or Path(tmp)
        rows = [measure(n, root / f"n{n}") for n in sizes]
    print(f"{'documents':>12} {'groups':>6} {'count s':>8} {'plan s':>7} {'plan RSS MB':>11} {'records read':>12}"
          f" {'anchor s':>8} {'anchor RSS MB':>13}")
    for r in rows:
        print(f"{r['docs']:>12,} {r['groups']:>6} {r['count_seconds']:>8.1f} {r['plan']['seconds']:>7.2f} "
              f"{r['plan']['max_rss_mb']:>11.0f} {r['plan']['records_read']:>12,} {r['anchor']['seconds']:>8.2f} "
              f"{r['anchor']['max_rss_mb']:>13.0f}")
    largest = rows[-1]
    record("mix plan", f"plan peak RSS at {largest['docs']:,} documents, MB (anchor: every num_tokens in one process)",
           corpusmill=largest["plan"]["max_rss_mb"], anchor=largest["anchor"]["max_rss_mb"], unit="MB",
           higher_is_better=False, anchor_name="the replaced one-task plan's reads")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
