"""One figure of a benchmark, for `python -m benchmarks` (benchmarks/__main__.py).

A benchmark script calls `record(...)` for each figure it prints that has an anchor; when the
environment names a results file (CORPUSMILL_BENCH_RESULTS, set by `python -m benchmarks`), the
figure is appended to it as one JSON line; run alone, the script only prints, as before.
"""
from __future__ import annotations

import json
import os

RESULTS_ENV = "CORPUSMILL_BENCH_RESULTS"


def record(benchmark: str, name: str, *, corpusmill: float, anchor: float | None, unit: str,
           higher_is_better: bool = True, anchor_name: str = "") -> None:
    """`corpusmill` and `anchor` in `unit`, measured in the same run on the same input; the ratio
    is how many times better corpusmill is (anchor time / corpusmill time for a time)."""
    path = os.environ.get(RESULTS_ENV)
    if not path:
        return
    ratio = None
    if anchor:
        ratio = corpusmill / anchor if higher_is_better else anchor / corpusmill
    row = {"benchmark": benchmark, "name": name, "unit": unit, "corpusmill": corpusmill, "anchor": anchor,
           "anchor_name": anchor_name, "ratio": ratio}
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")
