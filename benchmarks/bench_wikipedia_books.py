"""Throughput of the Wikipedia-dump and Project Gutenberg readers, per core, on the shared data.

    python benchmarks/bench_wikipedia_books.py [--quick] [--data PATH]

Times are CPU seconds of this one process (`time.process_time`), so the rates are per core.
MB/s is given against the input as stored (compressed) and as decompressed XML/text.

Anchors, measured in the same run on the same files:
- Wikipedia: the common recipe (e.g. the former HF `datasets` wikipedia builder): ElementTree
  `iterparse` with element clearing + `mwparserfromhell.parse(text).strip_code()` per article.
  Our stages are also shown: decompression alone, decompression + XML page extraction (expat).
- Books: `gutenberg_cleaner.simple_cleaner` (the c-w/gutenberg `strip_headers` port) after a
  UTF-8-else-Latin-1 decode; install it with `pip install --no-deps gutenberg-cleaner` (nltk is
  only needed by its other cleaner). Also counted: books where "Project Gutenberg" survives.
"""
from __future__ import annotations

import argparse
import bz2
import lzma
import os
import re
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mwparserfromhell  # noqa: E402

from corpora import books, wikipedia, wikipedia_dump  # noqa: E402
from corpora.schema import SkipCounter  # noqa: E402

MB = 1_000_000

try:  # run as `python benchmarks/<script>.py` or by `python -m benchmarks`
    from results import record  # noqa: E402
except ImportError:  # pragma: no cover
    from benchmarks.results import record  # noqa: E402


def default_data_dir() -> Path:
    configured = os.environ.get("CORPUSMILL_TEST_DATA")
    return Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared" / "data"


def cpu_seconds(function) -> tuple[float, object]:
    start = time.process_time()
    result = function()
    return time.process_time() - start, result


def decompressed(path: Path) -> bytes:
    data = path.read_bytes()
    if data.startswith(b"BZh"):
        return bz2.decompress(data)
    if data.startswith(b"\xfd7zXZ"):
        return lzma.decompress(data)
    return data


# -- Wikipedia ----------------------------------------------------------------------------------

def read_wikipedia(path: Path) -> int:
    skips = SkipCounter()
    return sum(1 for _ in wikipedia.iter_documents(
        str(path), source="wiki", file_key=path.name, options=wikipedia.Options(), skips=skips))


def decompress_only(path: Path) -> int:
    with wikipedia_dump.open_decompressed(str(path)) as stream:
        return sum(len(chunk) for chunk in iter(lambda: stream.read1(1 << 20), b""))


def extract_pages_only(path: Path) -> int:
    handler = wikipedia_dump.DumpHandler()
    parser = handler.make_parser()
    pages = 0
    with wikipedia_dump.open_decompressed(str(path)) as stream:
        for chunk in iter(lambda: stream.read1(1 << 20), b""):
            parser.Parse(chunk, False)
            pages += len(handler.pages)
            handler.pages = []
    return pages


def anchor_strip_code(path: Path) -> int:
    """ElementTree iterparse + mwparserfromhell strip_code, articles (ns 0, not redirects) only."""
    opener = bz2.open if path.read_bytes()[:3] == b"BZh" else lzma.open
    documents = 0
    with opener(path, "rb") as stream:
        try:
            for _, element in ET.iterparse(stream, events=("end",)):
                if not element.tag.endswith("}page"):
                    continue
                ns = element.findtext("{*}ns")
                text = element.findtext("{*}revision/{*}text") or ""
                if ns == "0" and element.find("{*}redirect") is None:
                    plain = mwparserfromhell.parse(text).strip_code().strip()
                    documents += bool(plain)
                element.clear()
        except ET.ParseError:  # the truncated originals end mid-page
            pass
    return documents


def bench_wikipedia(data: Path, quick: bool) -> None:
    names = ["ukwiki", "mrwiki"] if quick else ["hywiki", "mrwiki", "ukwiki", "viwiki"]
    files = [data / "wikipedia" / "repaired" / f"{n}-truncated-100k.repaired.xml.bz2" for n in names]
    if not quick:
        files += [data / "wikipedia" / f"{n}-truncated-100k.xml.xz" for n in names]
        files += [data / "wikipedia" / "wiki_dump_extractor-tiny_dump.xml.bz2",
                  data / "wikipedia" / "wikipedia2vec-enwiki-pages-articles-sample.xml.bz2"]
    print("Wikipedia dumps (CPU seconds, one core)")
    header = f"{'file':52} {'docs':>5} {'in MB':>6} {'xml MB':>7} {'cpu s':>6} {'docs/s':>7} {'MB/s in':>8} {'MB/s xml':>8}"
    print(header)
    totals = dict(docs=0, stored=0, xml=0, ours=0.0, decompress=0.0, pages=0.0, anchor=0.0, anchor_docs=0)
    for path in files:
        stored, xml = path.stat().st_size, len(decompressed(path))
        seconds, docs = cpu_seconds(lambda: read_wikipedia(path))
        totals["decompress"] += cpu_seconds(lambda: decompress_only(path))[0]
        totals["pages"] += cpu_seconds(lambda: extract_pages_only(path))[0]
        anchor_seconds, anchor_docs = cpu_seconds(lambda: anchor_strip_code(path))
        totals["anchor"] += anchor_seconds
        totals["anchor_docs"] += anchor_docs
        for key, value in (("docs", docs), ("stored", stored), ("xml", xml), ("ours", seconds)):
            totals[key] += value
        print(f"{path.name:52} {docs:5d} {stored / MB:6.2f} {xml / MB:7.2f} {seconds:6.2f} "
              f"{docs / seconds:7.1f} {stored / MB / seconds:8.2f} {xml / MB / seconds:8.2f}")
    ours = totals["ours"]
    print(f"{'TOTAL':52} {totals['docs']:5d} {totals['stored'] / MB:6.2f} {totals['xml'] / MB:7.2f} "
          f"{ours:6.2f} {totals['docs'] / ours:7.1f} {totals['stored'] / MB / ours:8.2f} "
          f"{totals['xml'] / MB / ours:8.2f}")
    print(f"  stages: decompress {totals['decompress']:.2f} s; + expat page extraction "
          f"{totals['pages']:.2f} s; + wikitext->text (full reader) {ours:.2f} s")
    anchor = totals["anchor"]
    print(f"  anchor (iterparse + strip_code): {totals['anchor_docs']} docs in {anchor:.2f} s = "
          f"{totals['anchor_docs'] / anchor:.1f} docs/s, {totals['xml'] / MB / anchor:.2f} MB/s xml")
    # Same input bytes and the same articles go through both; documents differ only in which
    # near-empty pages count (strip_code keeps category-link text, so fewer pages come out empty).
    print(f"  speed-up ours vs anchor (same inputs, CPU time): {anchor / ours:.2f}x")
    record("extract (Wikipedia)", "dump pages to text", corpusmill=totals["xml"] / MB / ours,
           anchor=totals["xml"] / MB / anchor, unit="MB/s xml per core", anchor_name="iterparse + strip_code")


# -- books --------------------------------------------------------------------------------------

def read_book(path: Path) -> str:
    skips = SkipCounter()
    docs = list(books.iter_documents(str(path), source="books", file_key=path.name,
                                     options=books.Options(), skips=skips))
    return docs[0]["text"]


def anchor_book(path: Path, simple_cleaner) -> str:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return simple_cleaner(text)


def bench_books(data: Path, quick: bool) -> None:
    paths = sorted((data / "books" / "gitenberg").glob("*.txt"))[: 5 if quick else None]
    stored = sum(p.stat().st_size for p in paths)
    seconds, texts = cpu_seconds(lambda: [read_book(p) for p in paths])
    text_mb = sum(len(t.encode("utf-8")) for t in texts) / MB
    leaks = sum(bool(re.search(r"project\s+gutenberg", t, re.I)) for t in texts)
    print("\nProject Gutenberg books (CPU seconds, one core)")
    print(f"  ours: {len(paths)} books, {stored / MB:.2f} MB in, {text_mb:.2f} MB text out, "
          f"{seconds:.3f} s = {len(paths) / seconds:.1f} docs/s, {stored / MB / seconds:.1f} MB/s; "
          f"books still naming Project Gutenberg: {leaks}")
    try:
        from _cleaning_options.cleaner import simple_cleaner
    except ImportError:
        print("  anchor unavailable: pip install --no-deps gutenberg-cleaner")
        return
    anchor_seconds, anchor_texts = cpu_seconds(lambda: [anchor_book(p, simple_cleaner) for p in paths])
    anchor_leaks = sum(bool(re.search(r"project\s+gutenberg", t, re.I)) for t in anchor_texts)
    print(f"  anchor (gutenberg_cleaner.simple_cleaner): {anchor_seconds:.3f} s = "
          f"{len(paths) / anchor_seconds:.1f} docs/s, {stored / MB / anchor_seconds:.1f} MB/s; "
          f"books still naming Project Gutenberg: {anchor_leaks}")
    print(f"  speed-up ours vs anchor (same inputs, CPU time): {anchor_seconds / seconds:.2f}x")
    record("extract (books)", "Gutenberg books", corpusmill=stored / MB / seconds, anchor=stored / MB / anchor_seconds,
           unit="MB/s per core", anchor_name="gutenberg_cleaner.simple_cleaner")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="two dumps and five books")
    parser.add_argument("--data", type=Path, default=default_data_dir())
    args = parser.parse_args()
    if not (args.data / "MANIFEST.md").is_file():
        raise SystemExit(f"no test data at {args.data}; pass --data or set CORPUSMILL_TEST_DATA")
    bench_wikipedia(args.data, args.quick)
    bench_books(args.data, args.quick)


if __name__ == "__main__":
    main()
