"""Scaling: the full build (extract -> filter -> dedup -> tokenize -> mix) at 1x, 4x, 16x an input, on the
embedded Ray (2 CPUs): wall time per stage, peak RSS per process, fitted slope per stage; and the
mix at the largest size three ways: the Ray stage (N tasks), the same steps in one process
(shard_assembly.build_shards, 1 task), and the one-process mix it replaced (from git, --before).

    python benchmarks/bench_scaling.py [--factors 1 4 16] [--unit small|full] [--work DIR] [--json out.json]
    python benchmarks/bench_scaling.py --quick   # a few files at 1x and 2x: checks the path, not figures

Input unit (`--unit small`, the default here because the machine is small and shared): the
shared real crawl WARCs (web/warc-real), the code corpus and the 25 Gutenberg books; `full` adds
the 29 MB of derived real-HTML WARCs. Factor k writes every input file k times under distinct
file names, copy 0 the original and copies 1..k-1 with a copy-specific word inserted every 4 words
of their text (benchmarks/scaling_inputs.py), so that dedup (on, as by default) keeps about k times
the documents of 1x instead of folding the copies back; input MB is the size of what was written.
Tokenizer: shared GPT-2 with its ranks file; mix: natural weights, 1M-token shards.

Peak RSS: the driver is the `corpusmill build` process (ru_maxrss at exit); a worker's figure is
the peak of its process so far, recorded with each task's stats (Ray reuses worker processes
across stages, so a worker's figure in a later stage can be an earlier stage's peak).
slope = d log(seconds) / d log(input size), least squares over the factors (1 = linear).
Timings on a shared 2-core machine are noisy.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from benchmarks.results import record
from benchmarks.scaling_inputs import copy_name, write_copy

REPO = Path(__file__).resolve().parents[1]
BEFORE_COMMIT = "1d66a5c"  # the last commit with the one-process mix (pipelines/shard_assembly.py)
# stage group -> phase names in run.json (fnmatch patterns: dedup's phases are dedup.signature,
# dedup.candidates, dedup.round-NNNN (as many as the data needs), ..., and dedup itself)
STAGE_GROUPS = {"extract": ["extract"], "annotate": ["annotate"], "filter": ["filter"],
                "dedup": ["dedup.*", "dedup"], "tokenize": ["tokenizer-sample", "tokenize"],
                "mix": ["mix-count", "mix-plan", "mix-scatter", "mix"]}


TINY_WEB = ("dolma_sample-0000.warc.gz", "resiliparse_cc-sample_warcfile.warc.gz", "ukwa_IAH-urls-wget.warc.gz")
TINY_BOOKS = ("pg11563_11563-8.txt", "pg17997_17997-8.txt")


def unit_files(data: Path, unit: str) -> dict[str, tuple[str, list[Path]]]:
    web = sorted((data / "web/warc-real").glob("*.warc.gz")) + sorted((data / "web/warc-real").glob("*.arc.gz"))
    books = sorted((data / "books/gitenberg").glob("*.txt"))
    if unit == "full":
        web += sorted((data / "web/warc-derived-realhtml").glob("*.warc.gz"))
    if unit == "tiny":  # --quick: the same pipeline on a few files
        web = [p for p in web if p.name in TINY_WEB]
        books = [p for p in books if p.name in TINY_BOOKS]
    return {"web": ("commoncrawl", web), "code": ("code", [data / "code/code_corpus.jsonl.gz"]),
            "books": ("books", books)}


def make_inputs(root: Path, files: dict, factor: int) -> dict[str, Path]:
    folders = {}
    for source, (_, paths) in files.items():
        folder = root / f"inputs-{factor}x" / source
        folder.mkdir(parents=True, exist_ok=True)
        for copy in range(factor):
            for path in paths:
                target = folder / copy_name(path, copy)
                if not target.exists():
                    write_copy(path, target, copy)
                meta = path.with_name(path.name.split("-")[0].rsplit("_", 1)[0] + "_metadata.yaml")
                if source == "books" and meta.exists():  # the books reader reads the metadata beside each book
                    shutil.copyfile(meta, folder / f"r{copy:02d}-{meta.name}")
        folders[source] = folder
    return folders


def recipe_for(root: Path, folders: dict, files: dict, data: Path, factor: int) -> Path:
    recipe = {
        "run_dir": str(root / f"run-{factor}x"), "seed": 0,
        "sources": [{"name": s, "kind": files[s][0], "paths": [str(folders[s])]} for s in folders],
        "filter": {"defaults": {"lid": {"model_path": str(data / "models/langid/lid.176.ftz")}}},
        "tokenize": {"tokenizer": str(data / "tokenizers/whisper-gpt2/gpt2-from-whisper-tiktoken.tokenizer.json"),
                     "tiktoken_ranks": str(data / "tokenizers/whisper-gpt2/gpt2.tiktoken")},
        "mix": {"natural": True, "val_fraction": 0.01, "shard_tokens": 1_000_000},
        "runner": {"num_cpus": 2},
    }
    path = root / f"recipe-{factor}x.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


DRIVER = """
import resource, sys
from pipelines.cli import main
try:
    main(["build", sys.argv[1], "--no-progress"])
finally:
    print("DRIVER_MAX_RSS_MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, file=sys.stderr)
"""


def run_build(recipe: Path) -> dict:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", DRIVER, str(recipe)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"build failed:\n{done.stderr[-3000:]}")
    driver_rss = float(done.stderr.rsplit("DRIVER_MAX_RSS_MB", 1)[1].split()[0])
    return {"wall_seconds": wall, "driver_max_rss_mb": driver_rss}


def stage_figures(run: Path) -> dict:
    stages = json.loads((run / "run.json").read_text())["stages"]
    out = {}
    for group, names in STAGE_GROUPS.items():
        present = [n for n in stages if any(fnmatch.fnmatchcase(n, pattern) for pattern in names)]
        if not present:
            continue
        rss = [json.loads(p.read_text()).get("max_rss_mb", 0.0)
               for n in present for p in (run / "_stats" / n).glob("*.json")]
        docs_out = [json.loads(p.read_text()).get("num_docs_out", 0) for p in (run / "_stats" / group).glob("*.json")]
        out[group] = {"seconds": round(sum(stages[n]["seconds"] for n in present), 3),
                      "worker_max_rss_mb": max(rss) if rss else None, "num_docs_out": sum(docs_out)}
    return out


ONE_PROCESS_MIX = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from pipelines.mixture import MixConfig
from tokenization.tokenizer import load_tokenizer
run, out, data = Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
if len(sys.argv) > 5:  # the replaced one-process mix, loaded from its source file
    import importlib.util
    spec_ = importlib.util.spec_from_file_location("old_shard_assembly", sys.argv[5])
    module = importlib.util.module_from_spec(spec_); sys.modules[spec_.name] = module; spec_.loader.exec_module(module)
    build_shards = module.build_shards
else:
    from pipelines.shard_assembly import build_shards
parts = {}
for path in sorted((run / "tokenize").glob("*/part-*.parquet")):
    parts.setdefault(path.parent.name, []).append(str(path))
tok = data / "tokenizers/whisper-gpt2"
spec = load_tokenizer(tok / "gpt2-from-whisper-tiktoken.tokenizer.json", tiktoken_ranks=tok / "gpt2.tiktoken")
config = MixConfig(natural=True, val_fraction=0.01, shard_tokens=1_000_000, seed=0)
started = time.perf_counter()
manifest = build_shards(parts, config, spec, out)
print(json.dumps({"seconds": time.perf_counter() - started,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "num_tokens": manifest.totals()["train"]["num_tokens"]}))
"""


def one_process_mix(run: Path, out: Path, data: Path, before_source: Path | None = None) -> dict:
    args = [sys.executable, "-c", ONE_PROCESS_MIX, str(REPO), str(run), str(out), str(data)]
    if before_source is not None:
        args.append(str(before_source))
    done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "RAYON_NUM_THREADS": "1"})
    if done.returncode != 0:
        raise SystemExit(f"one-process mix failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get(
        "CORPUSMILL_TEST_DATA", REPO.parent / "shared" / "data")))
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--unit", choices=("tiny", "small", "full"), default="small")
    parser.add_argument("--work", type=Path, help="keep inputs and runs here (default: a temporary folder)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--before-file", type=Path, help="the replaced shard_assembly.py (default: from git)")
    parser.add_argument("--quick", action="store_true", help="--unit tiny --factors 1 2 (checks, not figures)")
    args = parser.parse_args(argv)
    if args.quick:
        args.unit, args.factors = "tiny", [1, 2]
    root = args.work or Path(tempfile.mkdtemp(prefix="corpusmill-scaling-"))
    files = unit_files(args.data, args.unit)
    unit_bytes = sum(p.stat().st_size for _, paths in files.values() for p in paths)
    rows = []
    for factor in args.factors:
        folders = make_inputs(root, files, factor)
        recipe = recipe_for(root, folders, files, args.data, factor)
        figures = run_build(recipe)
        input_bytes = sum(p.stat().st_size for folder in folders.values() for p in folder.iterdir())
        figures.update(factor=factor, input_mb=round(input_bytes / 1e6, 1),
                       stages=stage_figures(root / f"run-{factor}x"))
        rows.append(figures)
        print(json.dumps(figures), flush=True)
    slopes = {}
    if len(rows) >= 2:
        x = np.log([r["factor"] for r in rows])
        for group in rows[-1]["stages"]:
            seconds = [max(r["stages"][group]["seconds"], 1e-3) for r in rows]
            slopes[group] = round(float(np.polyfit(x, np.log(seconds), 1)[0]), 3)
        slopes["total"] = round(float(np.polyfit(x, np.log([r["wall_seconds"] for r in rows]), 1)[0]), 3)
    largest = root / f"run-{rows[-1]['factor']}x"
    phases = json.loads((largest / "run.json").read_text())["stages"]
    mix = {"ray_tasks_seconds": rows[-1]["stages"]["mix"]["seconds"],
           "ray_tasks": {n: phases[n]["tasks_executed"] for n in STAGE_GROUPS["mix"] if n in phases},
           "ray_tasks_worker_max_rss_mb": rows[-1]["stages"]["mix"]["worker_max_rss_mb"],
           "one_task": one_process_mix(largest, root / "mix-one-task", args.data)}
    before = args.before_file or root / "shard_assembly_before.py"
    if args.before_file is None:
        source = subprocess.run(["git", "show", f"{BEFORE_COMMIT}:pipelines/shard_assembly.py"], cwd=REPO,
                                capture_output=True, text=True)
        if source.returncode == 0:
            before.write_text(source.stdout)
    if before.is_file():
        mix["before_one_process"] = one_process_mix(largest, root / "mix-before", args.data, before)
    print_table(rows, slopes, mix)
    record_figures(rows, slopes, mix)
    out = {"benchmark": "scaling", "unit": args.unit, "unit_mb": round(unit_bytes / 1e6, 1), "rows": rows,
           "slopes": slopes, "mix_at_largest": mix, "note": "shared 2-core machine: timings are noisy"}
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    if args.work is None:
        shutil.rmtree(root, ignore_errors=True)
    return out


def record_figures(rows, slopes, mix) -> None:
    """The figures for `python -m benchmarks`: slopes have no anchor (1 = linear is the target)."""
    sizes = f"{rows[0]['factor']}x -> {rows[-1]['factor']}x"
    for group, slope in slopes.items():
        record("scaling (full build)", f"{group}: slope of time vs input, {sizes} (1 = linear)", corpusmill=slope,
               anchor=None, unit="d log s / d log size", higher_is_better=False, anchor_name="none")
    record("scaling (full build)", f"driver peak RSS, {sizes}", corpusmill=rows[-1]["driver_max_rss_mb"],
           anchor=rows[0]["driver_max_rss_mb"], unit="MB", higher_is_better=False,
           anchor_name=f"the same driver at {rows[0]['factor']}x")
    tasks = "+".join(str(n) for n in mix["ray_tasks"].values())
    record("scaling (full build)", f"mix at {rows[-1]['factor']}x: Ray, {tasks} tasks on the embedded Ray",
           corpusmill=mix["ray_tasks_seconds"], anchor=mix["one_task"]["seconds"], unit="s", higher_is_better=False,
           anchor_name="the same steps in 1 process")


def print_table(rows, slopes, mix) -> None:
    groups = list(rows[-1]["stages"])
    print("\n| factor | input MB | " + " | ".join(f"{g} s" for g in groups) + " | total s | driver RSS MB | max worker RSS MB |")
    print("|---" * (len(groups) + 5) + "|")
    for r in rows:
        worker = max(v["worker_max_rss_mb"] or 0 for v in r["stages"].values())
        print(f"| {r['factor']}x | {r['input_mb']} | " + " | ".join(f"{r['stages'][g]['seconds']:.1f}" for g in groups)
              + f" | {r['wall_seconds']:.1f} | {r['driver_max_rss_mb']:.0f} | {worker:.0f} |")
    if slopes:
        print("| slope | | " + " | ".join(f"{slopes.get(g, float('nan')):.2f}" for g in groups)
              + f" | {slopes['total']:.2f} | | |")
    print(f"\nmix at {rows[-1]['factor']}x: Ray tasks {mix['ray_tasks_seconds']:.1f} s (largest worker RSS "
          f"{mix['ray_tasks_worker_max_rss_mb']} MB); same steps in 1 process {mix['one_task']['seconds']:.1f} s "
          f"(RSS {mix['one_task']['max_rss_mb']:.0f} MB)", end="")
    if "before_one_process" in mix:
        b = mix["before_one_process"]
        # Not the same documents: that mix drew its hold-out and selection over each whole source.
        print(f"; the replaced one-process mix {b['seconds']:.1f} s (RSS {b['max_rss_mb']:.0f} MB, "
              f"{b['num_tokens']:,} train tokens against {mix['one_task']['num_tokens']:,})")
    else:
        print()


if __name__ == "__main__":
    main()
