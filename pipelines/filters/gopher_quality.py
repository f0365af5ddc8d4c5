"""Gopher quality rules (Rae et al. 2021, table A1), as datatrove 0.10.1's GopherQualityFilter."""
from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import Field

from corpora import Strict
from pipelines.filters.word_splitting import TokenVocab
from pipelines.filters.unit import WEB, Decider, DocumentScores, Filter, columns_named

GOPHER_STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")


def quality_features(text: str, ids: np.ndarray, vocab: TokenVocab, stop_word_ids: set[int]) -> dict[str, Any]:
    """Gopher quality statistics of one document (datatrove's GopherQualityFilter)."""
    flags = vocab.flags[ids]
    lengths = vocab.lengths[ids]
    non_symbol = (flags & TokenVocab.FLAG_NON_SYMBOL) != 0
    num_words = len(ids)
    num_non_symbol = int(non_symbol.sum())
    lines = text.splitlines()
    num_lines = len(lines)
    out: dict[str, Any] = {
        "gopher_num_words": num_non_symbol,
        "gopher_avg_word_length": float(lengths[non_symbol].mean()) if num_non_symbol else float("nan"),
        "gopher_hash_word_ratio": text.count("#") / num_words if num_words else None,
        "gopher_ellipsis_word_ratio": (text.count("...") + text.count("…")) / num_words if num_words else None,
        "gopher_bullet_lines_ratio": (
            sum(1 for line in lines if line.lstrip().startswith(("•", "-"))) / num_lines if num_lines else None),
        "gopher_end_ellipsis_lines_ratio": (
            sum(1 for line in lines if line.rstrip().endswith(("...", "…"))) / num_lines if num_lines else None),
        "gopher_alpha_words_ratio": (
            int(((flags & TokenVocab.FLAG_ALPHA) != 0).sum()) / num_words if num_words else None),
        "gopher_num_stop_words": len(stop_word_ids.intersection(ids.tolist())) if stop_word_ids else 0,
    }
    return out


COLUMNS = ["gopher_num_words", "gopher_avg_word_length", "gopher_hash_word_ratio",
                   "gopher_ellipsis_word_ratio", "gopher_bullet_lines_ratio",
                   "gopher_end_ellipsis_lines_ratio", "gopher_alpha_words_ratio", "gopher_num_stop_words"]


def rule_limits(options: dict[str, Any]) -> list[tuple[str, str, str, float | None]]:
    """(reason, column, comparison, limit) in datatrove's order: 'lt' fails when value < limit."""
    ratio = options["max_symbol_word_ratio"]
    rules = [
        ("gopher_short_doc", "gopher_num_words", "lt", options["min_doc_words"]),
        ("gopher_long_doc", "gopher_num_words", "gt", options["max_doc_words"]),
        ("gopher_below_avg_threshold", "gopher_avg_word_length", "lt", options["min_avg_word_length"]),
        ("gopher_above_avg_threshold", "gopher_avg_word_length", "gt", options["max_avg_word_length"]),
        ("gopher_too_many_hashes", "gopher_hash_word_ratio", "gt", ratio),
        ("gopher_too_many_ellipsis", "gopher_ellipsis_word_ratio", "gt", ratio),
        ("gopher_too_many_bullets", "gopher_bullet_lines_ratio", "gt", options["max_bullet_lines_ratio"]),
        ("gopher_too_many_end_ellipsis", "gopher_end_ellipsis_lines_ratio", "gt", options["max_ellipsis_lines_ratio"]),
        ("gopher_below_alpha_threshold", "gopher_alpha_words_ratio", "lt", options["max_non_alpha_words_ratio"]),
        ("gopher_enough_stop_words", "gopher_num_stop_words", "lt", options["min_stop_words"]),
    ]
    return [rule for rule in rules if rule[3]]


class GopherQualityConfig(Strict):
    enabled: bool = True
    min_doc_words: int | None = 50
    max_doc_words: int | None = 100_000
    min_avg_word_length: float | None = 3
    max_avg_word_length: float | None = 10
    max_symbol_word_ratio: float | None = 0.1
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    max_non_alpha_words_ratio: float | None = Field(
        0.8, description="datatrove's name; drops when the fraction of words WITH a letter is below it")
    min_stop_words: int | None = 2
    stop_words: list[str] = Field(default_factory=lambda: list(GOPHER_STOP_WORDS))


def _prepare(texts, urls, options: dict[str, Any], words) -> set[int]:
    return {words.vocab.add(word) for word in options["stop_words"]}


def features(doc: DocumentScores, options: dict[str, Any]) -> dict[str, Any]:
    return quality_features(doc.text, doc.word_ids, doc.words.vocab, doc.batch["gopher_quality"])


def rules(decider: Decider, options: dict[str, Any]) -> None:
    for code, name, comparison, limit in rule_limits(options):
        (decider.less if comparison == "lt" else decider.greater)(code, name, limit)


FILTER = Filter(
    name="gopher_quality", config=GopherQualityConfig, score_options=("stop_words",),
    columns=lambda scores: list(COLUMNS),
    reasons=("gopher_short_doc", "gopher_long_doc", "gopher_below_avg_threshold", "gopher_above_avg_threshold",
             "gopher_too_many_hashes", "gopher_too_many_ellipsis", "gopher_too_many_bullets",
             "gopher_too_many_end_ellipsis", "gopher_below_alpha_threshold", "gopher_enough_stop_words"),
    features=features, rules=rules, presence_column="gopher_num_words", decision_rank=40,
    column_types={"gopher_num_words": pa.int64(), "gopher_num_stop_words": pa.int32()},
    profiles=(WEB,), needs_words=True, prepare=_prepare,
    deciding_columns=columns_named({
        "gopher_short_doc": "gopher_num_words", "gopher_long_doc": "gopher_num_words",
        "gopher_below_avg_threshold": "gopher_avg_word_length", "gopher_above_avg_threshold": "gopher_avg_word_length",
        "gopher_too_many_hashes": "gopher_hash_word_ratio", "gopher_too_many_ellipsis": "gopher_ellipsis_word_ratio",
        "gopher_too_many_bullets": "gopher_bullet_lines_ratio",
        "gopher_too_many_end_ellipsis": "gopher_end_ellipsis_lines_ratio",
        "gopher_below_alpha_threshold": "gopher_alpha_words_ratio",
        "gopher_enough_stop_words": "gopher_num_stop_words"}),
)
