"""Throughput of the commoncrawl reader vs datatrove's WarcReader + Trafilatura, same files, same run.

    python benchmarks/bench_commoncrawl.py            # all shared WARCs incl. the 1,033-page one
    python benchmarks/bench_commoncrawl.py --quick    # the small real crawl WARCs only (~240 pages)

Per core = per CPU-second of this process plus its children (datatrove runs trafilatura in a
sandbox subprocess, whose CPU time is counted too). MB = compressed input bytes. Documents out
differ by design: datatrove keeps every `response` whose payload type is HTML (404s and
redirect pages included) and drops pages trafilatura returns nothing for; corpusmill keeps
HTTP 200 HTML only (see corpora/commoncrawl.py).
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from corpora.commoncrawl import Options, iter_documents  # noqa: E402
from corpora.schema import SkipCounter  # noqa: E402

try:  # run as `python benchmarks/<script>.py` or by `python -m benchmarks`
    from results import record  # noqa: E402
except ImportError:  # pragma: no cover
    from benchmarks.results import record  # noqa: E402


def data_root() -> Path:
    configured = os.environ.get("CORPUSMILL_TEST_DATA")
    return Path(configured) if configured else REPO.parent / "shared" / "data"


def input_files(root: Path, quick: bool) -> list[Path]:
    web = root / "web"
    # The clipped WARC is left out: datatrove's WarcReader raises EOFError on it and stops the
    # whole run (corpusmill counts it as error:clipped_record; see the tests).
    files = [p for p in sorted((web / "warc-real").glob("*.warc.gz")) if "clipped" not in p.name]
    files.append(web / "cc-whirlwind/cc-whirlwind.warc.gz")
    if not quick:
        files.append(web / "warc-derived-realhtml/trafilatura_eval_pages.warc.gz")
    return files


def cpu_seconds() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def run_corpusmill(files: list[Path], extractor: str) -> int:
    options = Options(extractor=extractor)
    num_docs = 0
    for path in files:
        skips = SkipCounter()
        for _ in iter_documents(str(path), source="bench", file_key=path.name, options=options, skips=skips):
            num_docs += 1
    return num_docs


def run_datatrove(files: list[Path], root: Path, extract: bool) -> int:
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.readers import WarcReader

    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as paths_file:
        paths_file.write("\n".join(str(p.relative_to(root)) for p in files) + "\n")
    try:
        reader = WarcReader(data_folder=str(root), paths_file=paths_file.name)
        documents = reader.run(None, rank=0, world_size=1)
        if extract:
            documents = Trafilatura().run(documents)  # FineWeb's settings (its defaults)
        return sum(1 for _ in documents)
    finally:
        os.unlink(paths_file.name)


def measure(label: str, fn, megabytes: float) -> dict:
    started_cpu, started_wall = cpu_seconds(), time.perf_counter()
    num_docs = fn()
    cpu, wall = cpu_seconds() - started_cpu, time.perf_counter() - started_wall
    row = dict(label=label, docs=num_docs, cpu=cpu, wall=wall,
               docs_per_s=num_docs / cpu, mb_per_s=megabytes / cpu)
    print(f"{label:<38} {num_docs:>6} {cpu:>8.2f} {wall:>8.2f} {row['docs_per_s']:>10.1f} {row['mb_per_s']:>8.2f}",
          flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small real crawl WARCs only")
    args = parser.parse_args()
    root = data_root()
    files = input_files(root, args.quick)
    megabytes = sum(p.stat().st_size for p in files) / 1e6

    from datatrove.utils.logging import logger

    logger.remove()  # datatrove logs every file and step at INFO

    # Warm imports (trafilatura, lxml, justext stoplists) outside the timings.
    run_corpusmill(files[:1], "trafilatura")
    print(f"{len(files)} WARC files, {megabytes:.1f} MB compressed")
    print(f"{'pipeline':<38} {'docs':>6} {'cpu s':>8} {'wall s':>8} {'docs/s/core':>10} {'MB/s/core':>8}")
    ours_fast = measure("corpusmill resiliparse", lambda: run_corpusmill(files, "resiliparse"), megabytes)
    ours_traf = measure("corpusmill trafilatura", lambda: run_corpusmill(files, "trafilatura"), megabytes)
    measure("datatrove WarcReader (read only)", lambda: run_datatrove(files, root, extract=False), megabytes)
    anchor = measure("datatrove WarcReader + Trafilatura", lambda: run_datatrove(files, root, extract=True), megabytes)

    print("\nratio vs datatrove WarcReader + Trafilatura (MB/s per core; docs/s per core)")
    for row in (ours_fast, ours_traf):
        print(f"  {row['label']:<36} {row['mb_per_s'] / anchor['mb_per_s']:>6.2f}x  "
              f"{row['docs_per_s'] / anchor['docs_per_s']:>6.2f}x")
        record("extract (Common Crawl)", row["label"], corpusmill=row["mb_per_s"], anchor=anchor["mb_per_s"],
               unit="MB/s per core", anchor_name="datatrove WarcReader + Trafilatura")


if __name__ == "__main__":
    main()
