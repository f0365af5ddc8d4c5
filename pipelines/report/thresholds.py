"""Which score column each filter rule reads, and its threshold, for one source of a run.

The thresholds come from the run's recipe.resolved.yaml through the filter's own resolution
(`settings_for`), and the Gopher rules from the filter's own rule lists, so the marks on the
report's histograms are the limits `decide` applied.
"""
from __future__ import annotations

from dataclasses import dataclass

from pipelines.filters import FilterConfig, settings_for
from pipelines.filters import gopher


@dataclass(frozen=True, slots=True)
class ScoreRule:
    column: str
    limit: float
    drop_when: str  # "above" (value > limit drops), "below" (value < limit drops)
    reason: str
    note: str = ""


def _lid(o: dict) -> list[ScoreRule]:
    note = ("drops when the target language's score is <= the limit; lid_score is the top language's "
            "score, the target's when it is the top one")
    return [ScoreRule("lid_score", o["threshold"], "below", "lid_low_score", note)]


def _gopher_repetition(o: dict) -> list[ScoreRule]:
    return [ScoreRule(column, limit, "above", reason) for reason, column, limit in gopher.repetition_rules(o)]


def _gopher_quality(o: dict) -> list[ScoreRule]:
    return [ScoreRule(column, limit, "below" if comparison == "lt" else "above", reason)
            for reason, column, comparison, limit in gopher.quality_rules(o)]


def _c4(o: dict) -> list[ScoreRule]:
    if o["min_num_sentences"] == -1:
        return []
    return [ScoreRule("c4_num_sentences", o["min_num_sentences"], "below", "c4_too_few_sentences")]


def _fineweb(o: dict) -> list[ScoreRule]:
    return [ScoreRule("fineweb_line_punct_ratio", o["line_punct_thr"], "below", "fineweb_line_punct_ratio"),
            ScoreRule("fineweb_short_line_ratio", o["short_line_thr"], "above", "fineweb_short_line_ratio"),
            ScoreRule("fineweb_char_dup_ratio", o["char_duplicates_ratio"], "above", "fineweb_char_dup_ratio"),
            ScoreRule("fineweb_list_ratio", o["new_line_ratio"], "above", "fineweb_list_ratio")]


def _code(o: dict) -> list[ScoreRule]:
    note = "the general limit; per-language overrides (code.languages) are not marked" if o.get("languages") else ""
    rules = [("code_max_line_length", o["max_line_length"], "above", "code_max_line_length"),
             ("code_mean_line_length", o["max_mean_line_length"], "above", "code_mean_line_length"),
             ("code_alnum_fraction", o["min_alnum_fraction"], "below", "code_alnum_fraction"),
             ("num_chars", o["max_num_chars"], "above", "code_too_large"),
             ("num_chars", o["min_num_chars"], "below", "code_too_small")]
    return [ScoreRule(column, limit, when, reason, note) for column, limit, when, reason in rules if limit is not None]


_STEPS = {"lid": _lid, "gopher_repetition": _gopher_repetition, "gopher_quality": _gopher_quality,
          "c4": _c4, "fineweb": _fineweb, "code": _code}


def score_rules(recipe: dict | None, source_name: str) -> list[ScoreRule]:
    """The threshold rules applied to a source's scores, in the filter's order ([] without a filter)."""
    if not recipe or recipe.get("filter") is None:
        return []
    kind = next((s["kind"] for s in recipe.get("sources", []) if s["name"] == source_name), None)
    if kind is None:
        return []
    thresholds = settings_for(FilterConfig.model_validate(recipe["filter"]), source_name, kind).thresholds
    rules = []
    for step, options in thresholds.steps.items():
        if step in _STEPS:
            rules += _STEPS[step](options)
    return rules
