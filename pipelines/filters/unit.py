"""What one filter is: a `Filter` record that `annotate`, `decide`, `inspection` and the recipe's
per-kind defaults iterate over (pipelines/filters/registry.py lists them).

A filter annotates first (its score columns, once per document) and decides later (its rules turn
stored scores into stable reason codes), as Dolma's taggers then mixer, with datatrove's names:
a rule's reason is what datatrove's `BaseFilter.filter(doc)` returns as `(False, reason)`.

Add a filter (one file + one line):
  1. `pipelines/filters/<name>.py` with its options model (a `corpora.Strict`), a per-document
     `features(doc, options) -> {column: value}`, a `rules(decider, options)` that calls
     `decider.fail(reason, mask)` / `.greater(...)` / `.less(...)`, and at the bottom
     `FILTER = Filter(name=..., config=..., score_options=..., columns=..., reasons=..., ...)`.
  2. import it in pipelines/filters/registry.py and add its FILTER to `FILTERS` (column order).
  Its options appear in the recipe as `filter.defaults.<name>` / `filter.sources.<src>.<name>`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel

# Per-kind defaults come in three profiles: every filter says for which it is on and how it differs.
WEB, CURATED, CODE, PAPERS = "web", "curated", "code", "papers"
PROFILES = (WEB, CURATED, CODE, PAPERS)


@dataclass
class DocumentScores:
    """One document while it is annotated: what the filters read, and what they leave for the
    filters after them (word ids, the text C4 left, the text to write)."""

    index: int
    text: str
    url: str | None
    meta_language: str | None
    steps: dict[str, dict[str, Any]]  # every enabled filter's score options
    batch: dict[str, Any]  # per-batch state by filter name (`Filter.prepare`)
    words: Any = None  # the batch's WordSplitter, when a filter needs words
    word_ids: np.ndarray | None = None  # (num_words,) int64 ids in words.vocab; None when not split
    gated: bool = False  # LID says: below the quality gate, skip the quality scores
    scored_text: str | None = None  # what FineWeb scores (C4's kept lines in FineWeb's chain)
    scored_num_words: int = 0
    out_text: str = ""  # the text written out (C4's replacement, then PII scrubbing)


@dataclass(frozen=True)
class Filter:
    name: str  # the recipe key and the step name in settings
    config: type[BaseModel]  # its options (score and threshold options together)
    score_options: tuple[str, ...]  # options that change scores; the rest change only decisions
    columns: Callable[[dict[str, Any]], list[str]]  # the columns it adds, given its score options
    reasons: tuple[str, ...]  # its reason codes (`<n>`: an n-gram size)
    features: Callable[[DocumentScores, dict[str, Any]], dict[str, Any] | None]
    rules: Callable[[Any, dict[str, Any]], None] | None  # None: never drops (PII)
    presence_column: str | None = None  # `decide` refuses a table without it (scores missing)
    decision_rank: int = 100  # position in the decision chain (FineWeb's order)
    column_types: dict[str, pa.DataType] = field(default_factory=dict)  # others: float64
    profiles: tuple[str, ...] = PROFILES  # the per-kind profiles it is on for
    profile_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # profile -> defaults
    needs_words: bool = False  # scored only for documents split into words (and not gated)
    prepare: Callable[[list[str], list[str | None], dict[str, Any], Any], Any] | None = None
    deciding_columns: Callable[[str], list[str] | None] = lambda reason: None
    score_settings: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    threshold_settings: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    def scores_of(self, dumped: dict[str, Any]) -> dict[str, Any]:
        """The options that go into the annotate fingerprint."""
        if self.score_settings is not None:
            return self.score_settings(dumped)
        return {key: dumped[key] for key in self.score_options}

    def thresholds_of(self, dumped: dict[str, Any]) -> dict[str, Any]:
        """The options that go into the filter (decision) fingerprint."""
        if self.threshold_settings is not None:
            return self.threshold_settings(dumped)
        return {key: value for key, value in dumped.items() if key not in self.score_options}


def columns_named(reason_columns: dict[str, str]) -> Callable[[str], list[str] | None]:
    """`deciding_columns` for filters whose reasons each read one column."""
    return lambda reason: [reason_columns[reason]] if reason in reason_columns else None


class MissingScores(KeyError):
    def __str__(self) -> str:
        return self.args[0]


class Decider:
    """The reasons decided so far; a filter's `rules` call `fail`, `greater`, `less`."""

    def __init__(self, table: pa.Table):
        self.table = table
        self.reason = np.full(table.num_rows, None, dtype=object)

    def column(self, name: str, fill: Any) -> np.ndarray:
        if name not in self.table.column_names:
            raise MissingScores(
                f"score column {name!r} is missing: the annotate stage ran with other settings; "
                "re-run annotate (its fingerprint must include the filter's annotate settings)")
        column = self.table.column(name)
        if isinstance(fill, float) and pa.types.is_integer(column.type):
            column = column.cast(pa.float64())  # so that +-inf can stand for "no value"
        if column.null_count:
            column = pc.fill_null(column, fill)
        return column.to_numpy(zero_copy_only=False)

    def fail(self, code: str | np.ndarray, mask: np.ndarray) -> None:
        undecided = self.reason == None  # noqa: E711 (elementwise on an object array)
        hit = mask & undecided
        if isinstance(code, np.ndarray):
            self.reason[hit] = code[hit]
        else:
            self.reason[hit] = code

    def greater(self, code: str, name: str, limit: float) -> None:
        values = self.column(name, -np.inf)
        self.fail(code, np.asarray(values > limit))

    def less(self, code: str, name: str, limit: float) -> None:
        values = self.column(name, np.inf)
        self.fail(code, np.asarray(values < limit))
