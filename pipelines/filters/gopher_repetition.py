"""Gopher repetition rules (Rae et al. 2021, table A1), as datatrove 0.10.1's GopherRepetitionFilter.

Scores are computed once per document; `rules` turn stored scores into datatrove's first failing
rule. The features are datatrove's, computed faster:
  * n-grams are compared as tuples of token ids (numpy) instead of joined strings. datatrove joins
    the words of its duplicated n-grams WITHOUT a separator, so "ab c" and "a bc" count as the same
    5-gram there and not here; with the same words this needs the same characters split
    differently by whitespace, which we have not met on real pages (tests compare decisions).
  * the greedy duplicated-n-gram scan only visits positions whose n-gram occurred before.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator

from corpora import Strict
from pipelines.filters.word_splitting import TokenVocab
from pipelines.filters.unit import WEB, Decider, DocumentScores, Filter

_PARAGRAPHS = re.compile(r"\n{2,}")
_LINES = re.compile(r"\n+")


def find_duplicates(items: list[str]) -> tuple[int, int]:
    """(number of repeated elements, characters in them): datatrove's find_duplicates."""
    seen: set[str] = set()
    num_duplicates = duplicate_chars = 0
    for item in items:
        if item in seen:
            num_duplicates += 1
            duplicate_chars += len(item)
        else:
            seen.add(item)
    return num_duplicates, duplicate_chars


class _NGrams:
    """One n: an id per position (equal iff the n-gram tuples are equal), the first position and
    the count of each distinct n-gram."""

    __slots__ = ("ids", "first", "counts")

    def __init__(self, keys: np.ndarray | None, num_positions: int = 0):
        if keys is None:  # all n-grams distinct: no sort needed
            self.ids = self.first = np.arange(num_positions, dtype=np.int64)
            self.counts = np.ones(num_positions, dtype=np.int64)
            return
        _, self.first, self.ids, self.counts = np.unique(
            keys, return_index=True, return_inverse=True, return_counts=True)
        self.ids = self.ids.astype(np.int64).reshape(-1)


def _ngrams(ids: np.ndarray, sizes: set[int]) -> dict[int, _NGrams]:
    """n-gram ids for the wanted sizes, built incrementally: (n-1)-gram id * base + next token
    (the product stays below len(ids) * base, far inside int64). Once all n-grams of a size are
    distinct, all longer ones are too."""
    out: dict[int, _NGrams] = {}
    base = int(ids.max()) + 1 if len(ids) else 1
    previous: _NGrams | None = None
    all_distinct = False
    for n in range(1, max(sizes, default=0) + 1):
        num_positions = len(ids) - n + 1
        if num_positions < 1:
            break
        if all_distinct:
            previous = _NGrams(None, num_positions)
        else:
            previous = _NGrams(ids if previous is None else previous.ids[:-1] * base + ids[n - 1:])
            all_distinct = len(previous.counts) == num_positions
        if n in sizes:
            out[n] = previous
    return out


def _top_ngram_chars(grams: _NGrams, n: int, char_prefix: np.ndarray) -> int:
    """len(" ".join(top n-gram)) * its count; ties go to the n-gram seen first (Counter order)."""
    best_count = grams.counts.max()
    start = int(grams.first[grams.counts == best_count].min())
    length = int(char_prefix[start + n] - char_prefix[start]) + (n - 1)
    return length * int(best_count)


def _duplicated_ngram_chars(grams: _NGrams, n: int, char_prefix: np.ndarray) -> int:
    """datatrove's find_all_duplicate: left to right, a repeated n-gram counts its characters and
    the scan jumps past it; the n-grams jumped over are never remembered."""
    first_position = grams.first[grams.ids]
    positions = np.arange(len(grams.ids))
    candidates = np.flatnonzero(first_position != positions)  # occurred before
    if not len(candidates):
        return 0
    gram_ids = grams.ids[candidates].tolist()
    gram_first = first_position[candidates].tolist()
    starts = char_prefix[candidates].tolist()
    ends = char_prefix[candidates + n].tolist()
    jumped: set[int] = set()
    remembered_later: set[int] = set()  # ids whose later (not first) occurrence was remembered
    repeated = 0
    position = 0
    for i, candidate in enumerate(candidates.tolist()):
        if candidate < position:
            continue  # inside a jump: never looked at
        gram = gram_ids[i]
        if gram_first[i] not in jumped or gram in remembered_later:
            repeated += ends[i] - starts[i]
            jumped.update(range(candidate + 1, candidate + n))
            position = candidate + n
        else:
            remembered_later.add(gram)
            position = candidate + 1
    return repeated


def repetition_features(text: str, ids: np.ndarray, vocab: TokenVocab, scores: dict[str, Any]) -> dict[str, Any]:
    """All Gopher repetition ratios of one document (None for an empty text)."""
    top_ns, dup_ns = scores["top_n_grams"], scores["dup_n_grams"]
    out: dict[str, Any] = {"gopher_rep_empty": not text}
    if not text:
        return out
    text_len = len(text)
    paragraphs = _PARAGRAPHS.split(text.strip())
    num, chars = find_duplicates(paragraphs)
    out["gopher_rep_dup_para_frac"] = num / len(paragraphs)
    out["gopher_rep_dup_para_char_frac"] = chars / text_len
    lines = _LINES.split(text)
    num, chars = find_duplicates(lines)
    out["gopher_rep_dup_line_frac"] = num / len(lines)
    out["gopher_rep_dup_line_char_frac"] = chars / text_len

    char_prefix = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum(vocab.lengths[ids], out=char_prefix[1:])
    ngrams = _ngrams(ids, {*top_ns, *dup_ns})
    for n in top_ns:
        value = 0.0
        if n in ngrams:
            value = _top_ngram_chars(ngrams[n], n, char_prefix) / text_len
        out[f"gopher_rep_top_{n}_gram_frac"] = value
    for n in dup_ns:
        value = 0.0
        if n in ngrams:
            value = _duplicated_ngram_chars(ngrams[n], n, char_prefix) / text_len
        out[f"gopher_rep_dup_{n}_gram_char_frac"] = value
    return out


def columns(scores: dict[str, Any]) -> list[str]:
    return ["gopher_rep_empty", "gopher_rep_dup_para_frac", "gopher_rep_dup_para_char_frac",
            "gopher_rep_dup_line_frac", "gopher_rep_dup_line_char_frac",
            *(f"gopher_rep_top_{n}_gram_frac" for n in scores["top_n_grams"]),
            *(f"gopher_rep_dup_{n}_gram_char_frac" for n in scores["dup_n_grams"])]


def rule_limits(options: dict[str, Any]) -> list[tuple[str, str, float | None]]:
    """(reason, column, max allowed) in datatrove's order; a doc fails when value > max."""
    rules = [("gopher_rep_dup_para_frac", "gopher_rep_dup_para_frac", options["dup_para_frac"]),
             ("gopher_rep_dup_para_char_frac", "gopher_rep_dup_para_char_frac", options["dup_para_char_frac"]),
             ("gopher_rep_dup_line_frac", "gopher_rep_dup_line_frac", options["dup_line_frac"]),
             ("gopher_rep_dup_line_char_frac", "gopher_rep_dup_line_char_frac", options["dup_line_char_frac"])]
    rules += [(f"gopher_rep_top_{n}_gram", f"gopher_rep_top_{n}_gram_frac", limit)
              for n, limit in sorted((int(k), v) for k, v in options["top_n_grams"].items())]
    rules += [(f"gopher_rep_duplicated_{n}_n_grams", f"gopher_rep_dup_{n}_gram_char_frac", limit)
              for n, limit in sorted((int(k), v) for k, v in options["dup_n_grams"].items())]
    # datatrove skips a rule whose threshold is falsy (None or 0)
    return [rule for rule in rules if rule[2]]




class GopherRepetitionConfig(Strict):
    """Gopher (Rae et al. 2021, table A1) repetition rules; a rule is off when its value is null."""

    enabled: bool = True
    dup_para_frac: float | None = 0.3
    dup_para_char_frac: float | None = 0.2
    dup_line_frac: float | None = 0.3
    dup_line_char_frac: float | None = 0.2
    top_n_grams: dict[int, float] = Field(default_factory=lambda: {2: 0.2, 3: 0.18, 4: 0.16})
    dup_n_grams: dict[int, float] = Field(
        default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10})

    @field_validator("top_n_grams", "dup_n_grams")
    @classmethod
    def _n_positive(cls, value: dict[int, float]) -> dict[int, float]:
        if any(n < 1 for n in value):
            raise ValueError("n-gram sizes must be >= 1")
        return dict(sorted(value.items()))


def features(doc: DocumentScores, options: dict[str, Any]) -> dict[str, Any]:
    return repetition_features(doc.text, doc.word_ids, doc.words.vocab, options)


def rules(decider: Decider, options: dict[str, Any]) -> None:
    decider.fail("gopher_rep_empty", decider.column("gopher_rep_empty", False).astype(bool))
    for code, name, limit in rule_limits(options):
        decider.greater(code, name, limit)


def deciding_columns(reason: str) -> list[str] | None:
    if reason.startswith("gopher_rep_top_"):
        return [reason + "_frac"]
    if reason.startswith("gopher_rep_duplicated_"):
        n = reason.removeprefix("gopher_rep_duplicated_").removesuffix("_n_grams")
        return [f"gopher_rep_dup_{n}_gram_char_frac"]
    if reason.startswith("gopher_rep_"):
        return [reason]  # the column has the reason's name
    return None


def _score_settings(dumped: dict[str, Any]) -> dict[str, Any]:
    # only the n's (keys) change scores; the fractions are thresholds
    return {key: sorted(int(n) for n in dumped[key]) for key in ("top_n_grams", "dup_n_grams")}


FILTER = Filter(
    name="gopher_repetition", config=GopherRepetitionConfig, score_options=("top_n_grams", "dup_n_grams"),
    columns=columns,
    reasons=("gopher_rep_empty", "gopher_rep_dup_para_frac", "gopher_rep_dup_para_char_frac",
             "gopher_rep_dup_line_frac", "gopher_rep_dup_line_char_frac", "gopher_rep_top_<n>_gram",
             "gopher_rep_duplicated_<n>_n_grams"),
    features=features, rules=rules, presence_column="gopher_rep_empty", decision_rank=30,
    column_types={"gopher_rep_empty": pa.bool_()}, profiles=(WEB,), needs_words=True,
    deciding_columns=deciding_columns, score_settings=_score_settings,
    threshold_settings=lambda dumped: dict(dumped),  # the n-gram dicts are thresholds too
)
