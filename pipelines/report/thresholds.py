"""Which score column each filter rule reads, and its limit, for one source of a run.

The limits are recorded, not restated: every enabled filter's own `rules` run on an empty table
with the source's annotate columns through a Decider that notes each `greater(reason, column,
limit)` / `less(...)` it is asked for, with the source's thresholds as `decide` resolves them from
the run's recipe.resolved.yaml. Rules that compare by a mask (`fail`) are added by hand below:
LID's target-language score, FineWeb's line punctuation and the general code limits.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from pipelines.filters import FilterConfig, MissingScores, settings_for
from pipelines.filters.decide import Decider
from pipelines.filters.registry import FILTERS_BY_NAME


@dataclass(frozen=True, slots=True)
class ScoreRule:
    column: str
    limit: float
    drop_when: str  # "above" (value > limit drops), "below" (value < limit drops)
    reason: str
    note: str = ""


class _RecordingDecider(Decider):
    def __init__(self, table: pa.Table):
        super().__init__(table)
        self.recorded: list[ScoreRule] = []

    def greater(self, code: str, name: str, limit: float) -> None:
        self.recorded.append(ScoreRule(name, float(limit), "above", code))
        super().greater(code, name, limit)

    def less(self, code: str, name: str, limit: float) -> None:
        self.recorded.append(ScoreRule(name, float(limit), "below", code))
        super().less(code, name, limit)


def _masked_rules(step: str, o: dict) -> list[ScoreRule]:
    """The comparisons a filter makes through `fail(mask)`, which the recorder cannot see."""
    if step == "lid":
        return [ScoreRule("lid_score", o["threshold"], "below", "lid_low_score",
                          "LID drops when the target language's score is <= the limit; lid_score is the top "
                          "language's score (the target's when it is the top one)")]
    if step == "fineweb":
        return [ScoreRule("fineweb_line_punct_ratio", o["line_punct_thr"], "below", "fineweb_line_punct_ratio")]
    if step == "code":
        note = "the general code limit; per-language overrides (code.languages) are not marked" if o.get("languages") else ""
        limits = [("code_max_line_length", o["max_line_length"], "above", "code_max_line_length"),
                  ("code_mean_line_length", o["max_mean_line_length"], "above", "code_mean_line_length"),
                  ("code_alnum_fraction", o["min_alnum_fraction"], "below", "code_alnum_fraction"),
                  ("num_chars", o["max_num_chars"], "above", "code_too_large"),
                  ("num_chars", o["min_num_chars"], "below", "code_too_small")]
        return [ScoreRule(c, float(limit), when, reason, note) for c, limit, when, reason in limits if limit is not None]
    return []


def score_rules(recipe: dict | None, source_name: str, annotate_schema: pa.Schema) -> list[ScoreRule]:
    """The threshold rules applied to a source's scores, in decision order ([] without a filter)."""
    if not recipe or recipe.get("filter") is None:
        return []
    kind = next((s["kind"] for s in recipe.get("sources", []) if s["name"] == source_name), None)
    if kind is None:
        return []
    thresholds = settings_for(FilterConfig.model_validate(recipe["filter"]), source_name, kind).thresholds
    rules: list[ScoreRule] = []
    for step, options in thresholds.steps.items():
        unit = FILTERS_BY_NAME.get(step)
        if unit is None or unit.rules is None:
            continue
        recorder = _RecordingDecider(annotate_schema.empty_table())
        try:
            unit.rules(recorder, options)
        except (MissingScores, KeyError):
            continue  # its scores were not annotated (the annotate stage ran with other settings)
        rules += _masked_rules(step, options) + recorder.recorded
    return rules
