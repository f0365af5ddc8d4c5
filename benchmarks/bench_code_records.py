"""Code and record readers against plain baselines, same inputs, same run, one core.

    python benchmarks/bench_code_records.py [--quick] [--data ../shared/data]

Cases (documents/s and MB/s per core, MB = uncompressed input bytes; CPU seconds of this
process, best of the repeats):
  code  JSONL of files   shared code_corpus.jsonl.gz (3,147 files)
                          vs plain gzip + orjson, and datatrove's JsonlReader (text_key=content)
  code  .tar.gz          Python stdlib *.py packed in a temp dir
                          vs plain tarfile streaming + UTF-8 decode
  jsonl                  the 30 real Dolma CC docs repeated into one .jsonl.gz in a temp dir
                          vs datatrove's JsonlReader
  parquet                the same docs as Parquet vs plain pyarrow iter_batches + to_pylist
The plain baselines skip nothing and build no ids/meta: they bound what any reader can do.
"""
from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import tarfile
import tempfile
import time

try:  # run as `python benchmarks/<script>.py` or by `python -m benchmarks`
    from results import record  # noqa: E402
except ImportError:  # pragma: no cover
    from benchmarks.results import record  # noqa: E402
from pathlib import Path
from typing import Callable

import orjson

from corpora import SkipCounter, reader_for

REPO = Path(__file__).resolve().parents[1]
STDLIB = Path(os.path.dirname(os.__file__))


def best_cpu_seconds(run: Callable[[], int], repeats: int) -> tuple[int, float]:
    best, count = float("inf"), 0
    for _ in range(repeats):
        started = time.process_time()
        count = run()
        best = min(best, time.process_time() - started)
    return count, best


def ours(kind: str, path: Path, options: dict | None = None) -> Callable[[], int]:
    reader = reader_for(kind)
    opts = reader.Options.model_validate(options or {})

    def run() -> int:
        skips = SkipCounter()
        return sum(1 for _ in reader.iter_documents(str(path), source=kind, file_key=path.name,
                                                    options=opts, skips=skips))
    return run


def plain_jsonl(path: Path) -> Callable[[], int]:
    def run() -> int:
        with gzip.open(path, "rb") as handle:
            return sum(1 for line in handle if orjson.loads(line))
    return run


def datatrove_jsonl(path: Path, text_key: str) -> Callable[[], int]:
    from datatrove.pipeline.readers import JsonlReader

    def run() -> int:
        reader = JsonlReader(str(path.parent), glob_pattern=path.name, text_key=text_key,
                             doc_progress=False, file_progress=False)
        return sum(1 for _ in reader.run())
    return run


def plain_tar(path: Path) -> Callable[[], int]:
    def run() -> int:
        count = 0
        with tarfile.open(path, "r|gz") as tar:
            for member in tar:
                if member.isreg():
                    tar.extractfile(member).read().decode("utf-8", "replace")
                    count += 1
        return count
    return run


def plain_parquet(path: Path) -> Callable[[], int]:
    import pyarrow.parquet as pq

    def run() -> int:
        return sum(len(b.to_pylist()) for b in pq.ParquetFile(path).iter_batches(batch_size=1024))
    return run


def build_stdlib_tar(directory: Path, max_files: int | None) -> tuple[Path, int]:
    files = sorted(p for p in STDLIB.rglob("*.py")
                   if "site-packages" not in p.parts and "__pycache__" not in p.parts)
    files = files[:max_files] if max_files else files
    path = directory / "cpython-stdlib.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for file in files:
            tar.add(file, arcname="cpython-stdlib/" + file.relative_to(STDLIB).as_posix())
    return path, sum(f.stat().st_size for f in files)


def build_cc_files(data: Path, directory: Path, copies: int) -> tuple[Path, Path, int]:
    records = []
    for name in sorted((data / "web" / "cc-text-jsonl").glob("*.gz")):
        with gzip.open(name, "rt", encoding="utf-8") as handle:
            records += [json.loads(line) for line in handle]
    payload = b"".join(json.dumps(r).encode() + b"\n" for r in records) * copies
    jsonl = directory / "cc.jsonl.gz"
    jsonl.write_bytes(gzip.compress(payload, compresslevel=6))
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = directory / "cc.parquet"
    pq.write_table(pa.Table.from_pylist(records * copies), parquet, row_group_size=2048)
    return jsonl, parquet, len(payload)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller inputs, one repeat")
    parser.add_argument("--data", default=os.environ.get("CORPUSMILL_TEST_DATA",
                                                         REPO.parent / "shared" / "data"))
    args = parser.parse_args()
    data = Path(args.data)
    repeats = 1 if args.quick else 3
    code_jsonl = data / "code" / "code_corpus.jsonl.gz"
    with gzip.open(code_jsonl, "rb") as handle:
        code_bytes = sum(len(line) for line in handle)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        tar_path, tar_bytes = build_stdlib_tar(tmp_dir, 300 if args.quick else None)
        jsonl, parquet, cc_bytes = build_cc_files(data, tmp_dir, 20 if args.quick else 200)
        cases = [
            ("code JSONL (3,147 files)", code_bytes, [
                ("corpusmill code", ours("code", code_jsonl)),
                ("plain gzip+orjson", plain_jsonl(code_jsonl)),
                ("datatrove JsonlReader", datatrove_jsonl(code_jsonl, "content")),
            ]),
            ("code stdlib .tar.gz", tar_bytes, [
                ("corpusmill code", ours("code", tar_path)),
                ("plain tarfile+decode", plain_tar(tar_path)),
            ]),
            ("jsonl Dolma CC docs", cc_bytes, [
                ("corpusmill jsonl", ours("jsonl", jsonl)),
                ("datatrove JsonlReader", datatrove_jsonl(jsonl, "text")),
                ("plain gzip+orjson", plain_jsonl(jsonl)),
            ]),
            ("parquet Dolma CC docs", cc_bytes, [
                ("corpusmill parquet", ours("parquet", parquet)),
                ("plain pyarrow to_pylist", plain_parquet(parquet)),
            ]),
        ]
        for label, num_bytes, runners in cases:
            anchor = None
            for name, run in runners:
                count, seconds = best_cpu_seconds(run, repeats)
                docs_per_s = count / seconds
                anchor = anchor or docs_per_s
                rows.append((label, name, count, num_bytes / 1e6, seconds, docs_per_s,
                             num_bytes / 1e6 / seconds, docs_per_s / anchor))
    print(f"{'input':<26} {'reader':<24} {'docs':>7} {'MB':>7} {'cpu s':>7} {'docs/s':>9} "
          f"{'MB/s':>7} {'vs ours':>8}")
    ours_per_s = {}
    for label, name, count, mb, seconds, docs_per_s, mb_per_s, ratio in rows:
        if name.startswith("corpusmill"):
            ours_per_s[label] = mb_per_s
        else:
            record("read (code, records)", f"{label}: corpusmill", corpusmill=ours_per_s[label], anchor=mb_per_s,
                   unit="MB/s per core (uncompressed)", anchor_name=name)
        print(f"{label:<26} {name:<24} {count:>7} {mb:>7.1f} {seconds:>7.3f} {docs_per_s:>9.0f} "
              f"{mb_per_s:>7.1f} {ratio:>7.2f}x")
    print("docs = documents yielded (ours after skips; baselines: every record/member). "
          "MB = uncompressed input. 'vs ours' = that row's docs/s over corpusmill's.")


if __name__ == "__main__":
    main()
