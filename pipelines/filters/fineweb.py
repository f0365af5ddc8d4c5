"""FineWeb quality rules (Penedo et al. 2024) as datatrove's FineWebQualityFilter runs them.

In FineWeb's chain this filter sees the text C4's line rules left (`after_c4`, default)."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import Field

from corpora import Strict
from pipelines.filters.gopher_repetition import find_duplicates
from pipelines.filters.word_splitting import terminal_punctuation
from pipelines.filters.unit import WEB, Decider, DocumentScores, Filter


@lru_cache(maxsize=1)
def _stop_chars() -> tuple[str, ...]:
    return tuple(sorted(terminal_punctuation()))


COLUMNS = ["fineweb_empty", "fineweb_line_punct_ratio", "fineweb_short_line_ratio",
           "fineweb_char_dup_ratio", "fineweb_list_ratio"]


def fineweb_features(text: str, num_words: int, options: dict[str, Any]) -> dict[str, Any]:
    """Scores of `text` (which has `num_words` datatrove words)."""
    lines = [line for line in text.split("\n") if line.strip() != ""]
    if not lines:
        return {"fineweb_empty": True}
    stop_chars = _stop_chars()
    short = options["short_line_length"]
    num_lines = len(lines)
    return {
        "fineweb_empty": False,
        "fineweb_line_punct_ratio": sum(1 for line in lines if line.endswith(stop_chars)) / num_lines,
        "fineweb_short_line_ratio": sum(1 for line in lines if len(line) <= short) / num_lines,
        "fineweb_char_dup_ratio": find_duplicates(lines)[1] / len(text.replace("\n", "")),
        "fineweb_list_ratio": text.count("\n") / num_words if num_words else None,
    }


class FineWebConfig(Strict):
    enabled: bool = True
    line_punct_thr: float = 0.12
    line_punct_exclude_zero: bool = False
    short_line_thr: float = 0.67
    short_line_length: int = 30
    char_duplicates_ratio: float = 0.01
    new_line_ratio: float = 0.3
    after_c4: bool = Field(True, description="score the text left by C4's line rules (FineWeb's chain)")


def features(doc: DocumentScores, options: dict[str, Any]) -> dict[str, Any] | None:
    if "c4" not in doc.steps:  # C4 sets what FineWeb scores when it runs before
        doc.scored_text, doc.scored_num_words = doc.text, len(doc.word_ids)
    if doc.scored_text is None:
        return None  # C4 raised on this document
    return fineweb_features(doc.scored_text, doc.scored_num_words, options)


def rules(decider: Decider, options: dict[str, Any]) -> None:
    decider.fail("fineweb_empty", decider.column("fineweb_empty", False).astype(bool))
    ratio = decider.column("fineweb_line_punct_ratio", np.inf)
    low = ratio < options["line_punct_thr"]
    if options["line_punct_exclude_zero"]:
        low &= ratio != 0
    decider.fail("fineweb_line_punct_ratio", low)
    decider.greater("fineweb_short_line_ratio", "fineweb_short_line_ratio", options["short_line_thr"])
    decider.greater("fineweb_char_dup_ratio", "fineweb_char_dup_ratio", options["char_duplicates_ratio"])
    decider.greater("fineweb_list_ratio", "fineweb_list_ratio", options["new_line_ratio"])


FILTER = Filter(
    name="fineweb", config=FineWebConfig, score_options=("short_line_length", "after_c4"),
    columns=lambda scores: list(COLUMNS),
    reasons=("fineweb_empty", "fineweb_line_punct_ratio", "fineweb_short_line_ratio", "fineweb_char_dup_ratio",
             "fineweb_list_ratio"),
    features=features, rules=rules, presence_column="fineweb_empty", decision_rank=60,
    column_types={"fineweb_empty": pa.bool_()}, profiles=(WEB,), needs_words=True,
    deciding_columns=lambda reason: [reason] if reason.startswith("fineweb_") else None,
)
