"""Random 1,025-token windows from the shard reader: tokens/s per core (target >= 10M).

    python benchmarks/bench_windows.py [--quick] [--data ../shared/data] [--windows 200000]

A real corpus is built first in a temp dir: the 25 shared books + 1,500 code files tokenized with
GPT-2 (tiktoken path) and mixed naturally into shards of 500k tokens (so many windows cross a
shard boundary). Then, per core (CPU seconds of this process, best of 3):

  window()    corpusmill ShardedCorpus.window(start, 1025) copied into a batch row, one call per
              window (what a map-style torch Dataset does)
  windows()   ShardedCorpus.windows(starts, 1025): the same windows into one [n, 1025] array
  flat mmap   anchor: one np.memmap over the same tokens as a single flat file (Megatron .bin
              from tokenization.megatron.export_megatron), slicing [s:s+1025] into the batch
              -- the floor of any memory-mapped reader, with no shard lookup at all
Every window is checked against the flat file before the figures are printed.
"""
from __future__ import annotations

import argparse
import gzip
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pipelines.mixture import MixConfig  # noqa: E402
from pipelines.shard_assembly import build_shards  # noqa: E402
from tokenization.corpus import ShardedCorpus  # noqa: E402
from tokenization.encode import encode_table  # noqa: E402
from tokenization.megatron import export_megatron, read_megatron  # noqa: E402
from tokenization.tokenizer import load_tokenizer  # noqa: E402

WINDOW = 1025

try:  # run as `python benchmarks/<script>.py` or by `python -m benchmarks`
    from results import record  # noqa: E402
except ImportError:  # pragma: no cover
    from benchmarks.results import record  # noqa: E402


def build_corpus(data: Path, out: Path, num_code: int):
    tok = data / "tokenizers/whisper-gpt2"
    spec = load_tokenizer(tok / "gpt2-from-whisper-tiktoken.tokenizer.json", tiktoken_ranks=tok / "gpt2.tiktoken")
    books = []
    for path in sorted((data / "books/gitenberg").glob("*.txt")):
        raw = path.read_bytes()
        books.append(raw.decode("utf-8") if path.name.endswith("-0.txt") else raw.decode("latin-1"))
    with gzip.open(data / "code/code_corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
        code = [json.loads(line)["content"] for line in itertools.islice(handle, num_code)]
    parts = {}
    for source, texts in (("books", books), ("code", code)):
        table = pa.table({"id": [f"{source}-{i}" for i in range(len(texts))], "source": [source] * len(texts),
                          "text": pa.array(texts, pa.large_string())})
        path = out / "tokenize" / f"{source}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(encode_table(table, spec), path)
        parts[source] = [path]
    return build_shards(parts, MixConfig(natural=True, shard_tokens=500_000, val_fraction=0), spec, out / "shards")


def cpu_best(run, repeats=3):
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--quick", action="store_true", help="300 code files, 50,000 windows")
    parser.add_argument("--windows", type=int, default=200_000)
    args = parser.parse_args()
    num_windows = 50_000 if args.quick else args.windows
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        manifest = build_corpus(args.data, tmp, 300 if args.quick else 1500)
        corpus = ShardedCorpus(manifest, "train")
        export_megatron(manifest, tmp / "flat")
        flat = read_megatron(tmp / "flat").tokens
        starts = np.random.default_rng(0).integers(0, corpus.num_tokens - WINDOW, num_windows)
        crossing = int(np.sum(np.searchsorted(corpus.token_starts, starts, "right")
                              != np.searchsorted(corpus.token_starts, starts + WINDOW - 1, "right")))
        batch = np.empty((num_windows, WINDOW), dtype=corpus.dtype)
        reference = np.empty_like(batch)

        def one_by_one():
            for row, start in enumerate(starts.tolist()):
                batch[row] = corpus.window(start, WINDOW)

        def flat_mmap():
            for row, start in enumerate(starts.tolist()):
                reference[row] = flat[start : start + WINDOW]

        flat_mmap()  # warm the page cache for everyone alike
        timings = {
            "corpusmill window() per window": cpu_best(one_by_one),
            "corpusmill windows() batch": cpu_best(lambda: corpus.windows(starts, WINDOW, out=batch)),
            "flat np.memmap slice (anchor)": cpu_best(flat_mmap),
        }
        if not np.array_equal(batch, reference):
            raise SystemExit("windows differ from the flat token stream")
        print(f"{corpus.num_tokens:,} tokens in {len(corpus.shards)} shards; {num_windows:,} random windows of "
              f"{WINDOW} tokens, {crossing:,} crossing a shard boundary; all equal to the flat stream\n")
        print(f"{'':34s} {'CPU s':>7s} {'Mtok/s/core':>12s} {'windows/s':>11s} {'vs anchor':>10s}")
        anchor = timings["flat np.memmap slice (anchor)"]
        for name, seconds in timings.items():
            print(f"{name:34s} {seconds:7.3f} {num_windows * WINDOW / seconds / 1e6:12.1f} "
                  f"{num_windows / seconds:11,.0f} {anchor / seconds:9.2f}x")
        for name in ("corpusmill window() per window", "corpusmill windows() batch"):
            record("windows", name, corpusmill=num_windows * WINDOW / timings[name] / 1e6,
                   anchor=num_windows * WINDOW / anchor / 1e6, unit="M tokens/s per core",
                   anchor_name="flat np.memmap slice")
        slowest = max(timings["corpusmill window() per window"], timings["corpusmill windows() batch"])
        rate = num_windows * WINDOW / slowest / 1e6
        print(f"\ntarget >= 10M tokens/s per core: {'met' if rate >= 10 else 'NOT met'} ({rate:.1f}M, slower of the two)")


if __name__ == "__main__":
    main()
