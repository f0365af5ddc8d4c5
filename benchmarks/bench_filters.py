"""Filter chain speed and decisions: corpusmill (annotate + decide) vs datatrove's FineWeb chain.

Same documents in the same process: the 1,033 real pages of trafilatura_eval_pages.warc.gz,
extracted once with corpora.commoncrawl (resiliparse). datatrove runs FineWeb's chain (URL, LID en
0.65, Gopher repetition, Gopher quality, C4, FineWeb) stopping at the first failing filter, as in
FineWeb. corpusmill runs annotate (all scores; default `lid.quality_gate` 0.2 skips Gopher/C4/FineWeb
scoring of documents far from English) then decide. Also shown: annotate without the gate (every
score for every document). Times are CPU seconds of this process (the machine is shared), setup
(URL lists, model load) excluded; round 1 is cold (empty spaCy caches on both sides).

    python benchmarks/bench_filters.py [--quick] [--rounds 3]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "helpers"))  # the datatrove oracle (test-only, not in the wheel)

from corpora import SkipCounter, documents_to_table, reader_for  # noqa: E402
from pipelines.filters import FilterConfig, annotate, decide, settings_for  # noqa: E402
import datatrove_oracle as reference  # noqa: E402
from pipelines.filters.word_splitting import _SPLITTERS  # noqa: E402

try:  # run as `python benchmarks/<script>.py` or by `python -m benchmarks`
    from results import record  # noqa: E402
except ImportError:  # pragma: no cover
    from benchmarks.results import record  # noqa: E402


def data_root() -> Path:
    configured = os.environ.get("CORPUSMILL_TEST_DATA")
    return Path(configured) if configured else ROOT.parent / "shared" / "data"


def load_pages(limit: int | None) -> list[dict]:
    reader = reader_for("commoncrawl")
    path = data_root() / "web/warc-derived-realhtml/trafilatura_eval_pages.warc.gz"
    docs = list(reader.iter_documents(str(path), source="web", file_key="pages",
                                      options=reader.Options(), skips=SkipCounter()))
    return docs[:limit] if limit else docs


def cpu(fn):
    start = time.process_time()
    result = fn()
    return time.process_time() - start, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="300 pages, 2 rounds")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds = 2 if args.quick else args.rounds
    model_path = str(data_root() / "models/langid/lid.176.ftz")
    docs = load_pages(300 if args.quick else None)
    table = documents_to_table(docs, "web")
    print(f"{len(docs)} pages, {sum(len(d['text']) for d in docs) / 1e6:.1f} M chars")

    gated = settings_for(FilterConfig.model_validate({"defaults": {"lid": {"model_path": model_path}}}),
                         "web", "commoncrawl")
    ungated = settings_for(FilterConfig.model_validate(
        {"defaults": {"lid": {"model_path": model_path, "quality_gate": None}}}), "web", "commoncrawl")
    setup, chain = cpu(lambda: reference.datatrove_chain(model_path))
    print(f"setup: datatrove chain {setup:.1f} s", end="; ")
    setup, _ = cpu(lambda: annotate(table.slice(0, 1), gated))  # URL lists, model
    _SPLITTERS.clear()  # start the timed rounds with cold word caches, like datatrove's spaCy
    print(f"corpusmill {setup:.1f} s")

    rows = []
    for round_index in range(rounds):
        dt_seconds, dt_verdicts = cpu(lambda: reference.run_chain(chain, docs))
        ours_seconds, decided = cpu(lambda: decide(annotate(table, gated), gated))
        full_seconds, decided_full = cpu(lambda: decide(annotate(table, ungated), ungated))
        rows.append((dt_seconds, ours_seconds, full_seconds))
        print(f"round {round_index + 1}: datatrove {len(docs) / dt_seconds:7.1f} docs/s   "
              f"corpusmill {len(docs) / ours_seconds:7.1f} docs/s ({dt_seconds / ours_seconds:.2f}x)   "
              f"ungated {len(docs) / full_seconds:7.1f} docs/s ({dt_seconds / full_seconds:.2f}x)")

    ours = decided.column("drop_reason").to_pylist()
    full = decided_full.column("drop_reason").to_pylist()
    same_keep = sum((a is None) == (b is None) for a, b in zip(dt_verdicts, ours))
    same_reason = sum((a is None and b is None) or (a is not None and b is not None and (
        a[1] == b or (a[0] == "lid" and b.startswith("lid_")))) for a, b in zip(dt_verdicts, ours))
    print(f"\nkeep/drop agreement: {same_keep}/{len(docs)}; same reason: {same_reason}/{len(docs)}; "
          f"gated == ungated decisions: {ours == full}")
    for i, (a, b) in enumerate(zip(dt_verdicts, ours)):
        if (a is None) != (b is None):
            print(f"  disagreement doc {i} {docs[i].get('url')}: datatrove {a}, corpusmill {b}")
    print("\nper-reason drops (corpusmill):")
    for reason, count in Counter(r or "kept" for r in ours).most_common():
        print(f"  {reason:40s} {count:5d}")
    # Pages that pass URL and LID go through every step on both sides: the quality steps' cost.
    english = [doc for doc, verdict in zip(docs, dt_verdicts) if verdict is None or verdict[0] not in ("url", "lid")]
    english_table = documents_to_table(english, "web")
    dt_en, _ = cpu(lambda: reference.run_chain(chain, english))
    ours_en, _ = cpu(lambda: decide(annotate(english_table, gated), gated))
    print(f"\n{len(english)} pages that reach Gopher (warm caches): datatrove {len(english) / dt_en:.1f} docs/s, "
          f"corpusmill {len(english) / ours_en:.1f} docs/s ({dt_en / ours_en:.2f}x)")
    best = min(rows[1:] or rows, key=lambda r: r[1])
    record("filter", "FineWeb-style chain (warm, best later round)", corpusmill=len(docs) / best[1],
           anchor=len(docs) / best[0], unit="docs/s per core", anchor_name="datatrove FineWeb chain")
    print(f"\ncold (round 1): {rows[0][0] / rows[0][1]:.2f}x datatrove; warm (best later round): "
          f"{best[0] / best[1]:.2f}x; ungated warm: {best[0] / best[2]:.2f}x")


if __name__ == "__main__":
    main()
