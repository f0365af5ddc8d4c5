"""Reader throughput per source kind on the shared data, one core, no Ray.

    python benchmarks/bench_readers.py [--data ../shared/data]

Prints documents/s and MB/s (input bytes as stored, i.e. compressed where the file is) per core for
every reader, reading each input end to end exactly as an extract task does.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from corpora import SkipCounter, reader_for
from pipelines.inputs import expand_paths

try:  # run as `python benchmarks/<script>.py` or by `python -m benchmarks`
    from results import record  # noqa: E402
except ImportError:  # pragma: no cover
    from benchmarks.results import record  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CASES = [  # (label, kind, paths relative to the data root, options)
    ("commoncrawl WARC (resiliparse)", "commoncrawl", ["web/warc-real", "web/cc-whirlwind/cc-whirlwind.warc.gz"], {}),
    ("commoncrawl 1,033 pages (resiliparse)", "commoncrawl", ["web/warc-derived-realhtml/*.warc.gz"], {}),
    ("commoncrawl WET", "commoncrawl", ["web/cc-whirlwind/cc-whirlwind.warc.wet.gz"], {}),
    ("wikipedia (repaired dumps, bz2)", "wikipedia", ["wikipedia/repaired"], {}),
    ("books (Gutenberg)", "books", ["books/gitenberg"], {}),
    ("code (JSONL of files)", "code", ["code/code_corpus.jsonl.gz"], {}),
    ("jsonl (dolma CC text)", "jsonl", ["web/cc-text-jsonl"], {}),
    ("papers (32 arXiv-style e-prints, .tar.gz)", "papers", ["papers/*.tar.gz"], {}),
]


def measure(kind: str, paths: list[str], options: dict, data: Path) -> tuple[int, int, float, dict]:
    reader = reader_for(kind)
    opts = reader.Options.model_validate(options)
    files = expand_paths(kind, [str(data / p) for p in paths], str(data), kind)
    skips = SkipCounter()
    num_docs = 0
    started = time.process_time()
    for input_file in files:
        for _ in reader.iter_documents(input_file.path, source=kind, file_key=input_file.file_key,
                                       options=opts, skips=skips):
            num_docs += 1
    seconds = time.process_time() - started
    return num_docs, sum(f.size_bytes for f in files), seconds, dict(skips)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("CORPUSMILL_TEST_DATA", REPO.parent / "shared" / "data"))
    args = parser.parse_args()
    data = Path(args.data)
    print(f"{'reader':<40} {'docs':>7} {'MB in':>8} {'cpu s':>7} {'docs/s':>9} {'MB/s':>7}")
    for label, kind, paths, options in CASES:
        num_docs, num_bytes, seconds, _ = measure(kind, paths, options, data)
        print(f"{label:<40} {num_docs:>7} {num_bytes / 1e6:>8.2f} {seconds:>7.2f} "
              f"{num_docs / seconds:>9.0f} {num_bytes / 1e6 / seconds:>7.2f}")
        record("read", label, corpusmill=num_bytes / 1e6 / seconds, anchor=None, unit="MB/s per core (as stored)",
               anchor_name="none here (see extract/read rows)")


if __name__ == "__main__":
    main()
