"""Main-text extraction quality of the commoncrawl reader against trafilatura's ground truth.

    python benchmarks/extraction_quality.py            # all 990 evaluated pages, both extractors
    python benchmarks/extraction_quality.py --quick    # the every-5th-URL subset the test uses

Data: shared/data/web/warc-derived-realhtml/ (1,033 real pages in one WARC; 990 of them have
ground truth: `with` snippets that must appear in the main text, `without` boilerplate snippets
that must not). Pages are matched by URL; a page the reader drops (empty text) counts as empty.
A snippet matches when it is a substring of the text after both are whitespace-collapsed.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from corpora.commoncrawl import Options, SkipRecord, record_to_document, target_uri  # noqa: E402
from corpora.schema import SkipCounter  # noqa: E402

try:  # run as `python benchmarks/<script>.py` or by `python -m benchmarks`
    from results import record as record_figure  # noqa: E402
except ImportError:  # pragma: no cover
    from benchmarks.results import record as record_figure  # noqa: E402
from corpora.warc_records import iter_archive_records  # noqa: E402

_SPACES = re.compile(r"\s+")


def data_root() -> Path:
    configured = os.environ.get("CORPUSMILL_TEST_DATA")
    return Path(configured) if configured else REPO.parent / "shared" / "data"


def load_ground_truth(root: Path) -> dict[str, dict]:
    path = root / "web/warc-derived-realhtml/trafilatura_evaldata_groundtruth.jsonl"
    with open(path, encoding="utf-8") as lines:
        return {row["url"]: row for row in map(json.loads, lines)}


def subset(urls, every: int) -> set[str]:
    """A fixed, deterministic subset: every `every`-th URL in sorted order."""
    return set(sorted(urls)[::every])


def extract_pages(root: Path, urls: set[str], extractor: str) -> tuple[dict[str, str], float]:
    """Main text per URL (empty when the reader drops the page) and CPU seconds spent."""
    options = Options(extractor=extractor)
    warc = root / "web/warc-derived-realhtml/trafilatura_eval_pages.warc.gz"

    def select(record):
        return None if record.record_type == "response" and target_uri(record) in urls else "not_evaluated"

    texts = dict.fromkeys(urls, "")
    started = time.process_time()
    for record in iter_archive_records(str(warc), select=select, skips=SkipCounter()):
        try:
            texts[target_uri(record)], _ = record_to_document(record, options)
        except SkipRecord:
            pass
    return texts, time.process_time() - started


def score(texts: dict[str, str], truth: dict[str, dict]) -> tuple[float, float]:
    """(share of `with` snippets present, share of `without` snippets absent)."""
    present = absent = num_with = num_without = 0
    for url, text in texts.items():
        flat = _SPACES.sub(" ", text)
        row = truth[url]
        for snippet in row["with"]:
            num_with += 1
            present += _SPACES.sub(" ", snippet) in flat
        for snippet in row["without"]:
            num_without += 1
            absent += _SPACES.sub(" ", snippet) not in flat
    return present / num_with, absent / num_without


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the test's every-5th-URL subset only")
    args = parser.parse_args()
    root = data_root()
    truth = load_ground_truth(root)
    urls = subset(truth, 5) if args.quick else set(truth)
    print(f"{len(urls)} pages with ground truth ({'subset' if args.quick else 'all'})")
    print(f"{'extractor':<12} {'with present':>13} {'without absent':>15} {'mean':>7} {'docs/s/core':>12}")
    figures = {}
    for extractor in ("resiliparse", "trafilatura"):
        texts, seconds = extract_pages(root, urls, extractor)
        with_present, without_absent = score(texts, truth)
        figures[extractor] = ((with_present + without_absent) / 2, len(urls) / seconds)
        print(f"{extractor:<12} {with_present:>13.4f} {without_absent:>15.4f} "
              f"{(with_present + without_absent) / 2:>7.4f} {len(urls) / seconds:>12.1f}")
    # corpusmill's default extractor (resiliparse) against trafilatura (datatrove's extractor)
    (ours_score, ours_speed), (anchor_score, anchor_speed) = figures["resiliparse"], figures["trafilatura"]
    record_figure("extract quality", f"ground-truth snippets, mean of with/without ({len(urls)} pages)",
           corpusmill=ours_score, anchor=anchor_score, unit="fraction", anchor_name="trafilatura")
    record_figure("extract quality", "pages/s per core", corpusmill=ours_speed, anchor=anchor_speed, unit="pages/s",
           anchor_name="trafilatura")


if __name__ == "__main__":
    main()
