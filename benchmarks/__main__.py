"""Every benchmark in one command, each with its anchor measured in the same run on the same input.

    python -m benchmarks [--quick] [--only tokenize windows ...] [--with-scaling] [--out benchmarks]

Runs the scripts below one after the other (each in its own process, with its quick arguments
when `--quick` is given), collects the figures they `record` (benchmarks/results.py), and writes
benchmarks/results.json (figures, per-script status, seconds, the tail of each script's output) and
benchmarks/results.md (one table: corpusmill figure, anchor figure, ratio). A benchmark never fails
for speed; it fails (non-zero exit, named in the table and the exit status of this command) when
its output and the anchor's disagree beyond what its docstring documents (e.g. bench_tokenize
compares ids token for token, bench_windows the windows, before printing any figure), or when it
crashes. Anchors that would change the runtime dependencies are the `bench` extra
(`pip install -e '.[bench]'`). Timings on a shared machine are noisy.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.results import RESULTS_ENV

HERE = Path(__file__).resolve().parent
# (script, its arguments under --quick): readers first (cheapest), the long ones last. Not here:
# bench_gpu_train.py (needs a GPU) and dedup_groundtruth.py (builds the set the dedup ones use).
SCRIPTS = [
    ("bench_readers.py", []), ("bench_commoncrawl.py", ["--quick"]), ("extraction_quality.py", ["--quick"]),
    ("bench_wikipedia_books.py", ["--quick"]), ("papers_vs_redpajama.py", []), ("bench_code_records.py", ["--quick"]),
    ("bench_filters.py", ["--quick"]), ("bench_dedup.py", ["--num-docs", "600", "--rounds", "1"]),
    ("bench_dedup_datatrove.py", ["--limit", "1500"]), ("bench_dedup_scale.py", ["--sizes", "20000", "60000"]),
    ("bench_dedup_verify.py", ["--limit", "3000"]),
    ("bench_tokenize.py", ["--quick"]), ("bench_mix_plan.py", ["--quick"]), ("bench_windows.py", ["--quick"]),
    ("bench_chunked_loss.py", ["--quick"]),
]
SCALING = ("bench_scaling.py", ["--quick"])  # full: 1x, 4x, 16x (about an hour on 2 shared cores)


def run_script(script: str, quick_args: list[str], quick: bool, results_file: Path) -> dict:
    command = [sys.executable, str(HERE / script)]
    if quick:
        command += quick_args
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True,
                          env={**os.environ, RESULTS_ENV: str(results_file),
                               "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))})
    output = (done.stdout + done.stderr)[-4000:]
    return {"script": script, "command": " ".join([f"benchmarks/{script}", *command[2:]]), "status": "ok" if done.returncode == 0 else "FAILED",
            "returncode": done.returncode, "seconds": round(time.perf_counter() - started, 1), "output_tail": output}


def markdown(figures: list[dict], runs: list[dict]) -> str:
    lines = ["| benchmark | figure | unit | corpusmill | anchor | anchor is | ratio (x better) |",
             "|---|---|---|---:|---:|---|---:|"]
    for f in figures:
        ratio = f"{f['ratio']:.2f}" if f["ratio"] is not None else "—"
        anchor = f"{f['anchor']:.3g}" if f["anchor"] is not None else "—"
        lines.append(f"| {f['benchmark']} | {f['name']} | {f['unit']} | {f['corpusmill']:.3g} | {anchor} | "
                     f"{f['anchor_name']} | {ratio} |")
    lines += ["", "| script | status | seconds |", "|---|---|---:|"]
    lines += [f"| {r['command']} | {r['status']} | {r['seconds']} |" for r in runs]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="each script's quick mode (for development)")
    parser.add_argument("--only", nargs="+", help="script names (or parts of them) to run")
    parser.add_argument("--with-scaling", action="store_true", help="also the scaling benchmark (long)")
    parser.add_argument("--out", type=Path, default=HERE, help="where results.json and results.md go")
    args = parser.parse_args(argv)
    scripts = SCRIPTS + ([SCALING] if args.with_scaling else [])
    if args.only:
        scripts = [s for s in scripts if any(o in s[0] for o in args.only)]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        results_file = Path(tmp) / "figures.jsonl"
        results_file.touch()
        for script, quick_args in scripts:
            print(f"running {script} ...", flush=True)
            runs.append(run_script(script, quick_args, args.quick, results_file))
            print(f"  {runs[-1]['status']} in {runs[-1]['seconds']} s", flush=True)
        figures = [json.loads(line) for line in results_file.read_text().splitlines() if line.strip()]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(
        {"quick": args.quick, "figures": figures, "runs": runs,
         "note": "anchors measured in the same run on the same input; timings on a shared machine are noisy"},
        indent=2) + "\n")
    table = markdown(figures, runs)
    (args.out / "results.md").write_text(table)
    print("\n" + table)
    failed = [r["script"] for r in runs if r["status"] != "ok"]
    if failed:
        print(f"FAILED (output disagreed with the anchor, or crashed): {', '.join(failed)}; see results.json",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
