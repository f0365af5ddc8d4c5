"""The recipe's `filter:` section and its resolution into per-source settings.

Every filter (pipelines/filters/registry.py) has one pydantic model holding both kinds of knobs,
named like datatrove's constructor arguments. `settings_for` splits them into
  * `AnnotateSettings`: what changes the stored scores (which annotators run, model path, word
    lists, line-level rules) -> fingerprint of the `annotate` stage;
  * `ThresholdSettings`: what changes only decisions (thresholds, which rules apply) -> fingerprint
    of the `filter` stage.
so changing a threshold re-runs only the cheap `decide`.

Resolution order for one source: built-in defaults of its kind (KIND_DEFAULTS, from each filter's
profiles) <- `filter.defaults` <- `filter.sources.<name>`; only the keys a recipe sets override
(nested sections merge key by key).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, create_model

from corpora import TEXT_PROFILES, Strict
from pipelines.filters.gopher_quality import GOPHER_STOP_WORDS
from pipelines.filters.registry import DECISION_ORDER, FILTERS
from pipelines.filters.unit import PROFILES
from pipelines.paths import resolve_path
from pipelines.stage import fingerprint_of

# FilterSteps: all filters' options for one source; every key optional in a recipe (unset keys inherit).
FilterSteps = create_model(
    "FilterSteps", __base__=Strict,
    word_tokenizer=(Literal["spacy_en", "whitespace"], Field(
        "spacy_en", description="spacy_en: datatrove's English word splitting (identical words); "
        "whitespace: str.split, no spaCy needed (different scores)")),
    **{f.name: (f.config, f.config()) for f in FILTERS},
)


class FilterConfig(Strict):
    """The recipe's `filter:` section."""

    enabled: bool = True
    defaults: FilterSteps = Field(FilterSteps(), description="overrides for every source (only the keys set)")
    sources: dict[str, FilterSteps] = Field(default_factory=dict, description="overrides per source name")
    rejects_sample_rate: float = Field(1.0, ge=0, le=1, description="fraction of removed documents written to rejects/")

    def unknown_sources(self, source_names: list[str]) -> list[str]:
        """Names under `filter.sources` that are not sources of the recipe (for recipe validation)."""
        return sorted(set(self.sources) - set(source_names))


# The filters' defaults come in profiles (WEB, CURATED, CODE); a source kind picks one by the text it
# yields (corpora.TEXT_PROFILES). Curated prose is not run through web heuristics (Gopher's English
# stop words and FineWeb's line rules would drop most non-English articles, lists and plays): only
# its language is checked.
KIND_PROFILES = TEXT_PROFILES


def _profile_defaults(profile: str) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for unit in FILTERS:
        if profile not in unit.profiles:
            defaults[unit.name] = {"enabled": False}
        elif profile in unit.profile_options:
            defaults[unit.name] = dict(unit.profile_options[profile])
    return defaults


assert set(KIND_PROFILES.values()) <= set(PROFILES)
KIND_DEFAULTS: dict[str, dict[str, Any]] = {kind: _profile_defaults(profile) for kind, profile in KIND_PROFILES.items()}


class AnnotateSettings(Strict):
    """What changes stored scores. `steps` maps step name -> its score-affecting options."""

    source_kind: str
    word_tokenizer: str
    steps: dict[str, dict[str, Any]]

    def fingerprint(self) -> str:
        return fingerprint_of(self.model_dump(mode="json"))

    def __hash__(self) -> int:
        return hash(self.fingerprint())

    def has(self, step: str) -> bool:
        return step in self.steps


class ThresholdSettings(Strict):
    """What changes only decisions. `steps` maps step name -> its decision options."""

    steps: dict[str, dict[str, Any]]

    def fingerprint(self) -> str:
        return fingerprint_of(self.model_dump(mode="json"))

    def __hash__(self) -> int:
        return hash(self.fingerprint())


class ResolvedFilterSettings(Strict):
    source_name: str
    source_kind: str
    steps: FilterSteps
    annotate: AnnotateSettings
    thresholds: ThresholdSettings


# Decision order (FineWeb's chain for prose); filters without rules (PII) never drop.
STEP_ORDER = tuple(f.name for f in DECISION_ORDER)
SCORE_OPTIONS: dict[str, tuple[str, ...]] = {f.name: f.score_options for f in FILTERS}


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "languages":
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def english_rule_problems(config: FilterConfig | None, source_name: str, source_kind: str) -> list[str]:
    """Recipe problems where an English-only rule would silently drop a source kept for another
    language: Gopher's stop-word rule counts English words ("the", "and", ...), so with
    `lid.languages: [de]` nearly every German page fails it. (FineWeb-2 uses per-language lists.)"""
    steps = source_steps(config, source_name, source_kind)
    gopher, lid = steps.gopher_quality, steps.lid
    if not lid.enabled or lid.languages == "meta":
        return []  # the language is not chosen here: nothing says the source is not English
    languages = lid.languages
    english_only = isinstance(languages, list) and {lang.lower() for lang in languages} == {"en"}
    if (gopher.enabled and gopher.min_stop_words and sorted(gopher.stop_words) == sorted(GOPHER_STOP_WORDS)
            and not english_only):
        kept = "any language" if not isinstance(languages, list) else ", ".join(languages)
        return [f"filter.sources.{source_name}.gopher_quality: the stop-word rule counts English words "
                f"({', '.join(GOPHER_STOP_WORDS)}) but source {source_name!r} keeps {kept}: nearly every "
                f"non-English document would be dropped; set `stop_words` to that language's commonest "
                f"words, or `min_stop_words: null`"]
    return []


def source_steps(config: FilterConfig | None, source_name: str, source_kind: str,
                 base_dir: str | Path | None = None) -> FilterSteps:
    """One source's steps: its kind's defaults <- `filter.defaults` <- `filter.sources.<name>`
    (every step off when the section is disabled).

    Relative `lid.model_path` and `url.blocklist_paths` are taken relative to `base_dir` (the
    recipe's directory) when given, else to the working directory of the process reading them.
    """
    if source_kind not in KIND_DEFAULTS:
        raise ValueError(f"unknown source kind {source_kind!r}; choose one of {', '.join(KIND_DEFAULTS)}")
    config = config or FilterConfig()
    if not config.enabled:
        return FilterSteps.model_validate({unit.name: {"enabled": False} for unit in FILTERS})
    merged = _merge({}, KIND_DEFAULTS[source_kind])
    merged = _merge(merged, config.defaults.model_dump(exclude_unset=True))
    if source_name in config.sources:
        merged = _merge(merged, config.sources[source_name].model_dump(exclude_unset=True))
    lid = merged.get("lid") or {}
    if lid.get("model_path"):
        merged["lid"] = {**lid, "model_path": resolve_path(lid["model_path"], base_dir)}
    url = merged.get("url") or {}
    if url.get("blocklist_paths"):
        merged["url"] = {**url, "blocklist_paths": [resolve_path(p, base_dir) for p in url["blocklist_paths"]]}
    return FilterSteps.model_validate(merged)


def settings_for(config: FilterConfig | None, source_name: str, source_kind: str,
                 base_dir: str | Path | None = None) -> ResolvedFilterSettings:
    """Resolve one source's steps (`source_steps`) and split them into annotate and threshold
    settings."""
    steps = source_steps(config, source_name, source_kind, base_dir)

    score_steps: dict[str, dict[str, Any]] = {}
    threshold_steps: dict[str, dict[str, Any]] = {}
    # Decision order, then the filters that never drop (the settings read in the chain's order).
    for unit in (*DECISION_ORDER, *(f for f in FILTERS if f.rules is None)):
        step = getattr(steps, unit.name)
        if not step.enabled:
            continue
        dumped = step.model_dump(mode="json")
        score_steps[unit.name] = unit.scores_of(dumped)
        if unit.rules is not None:
            threshold_steps[unit.name] = unit.thresholds_of(dumped)
    # C4's cleaned text feeds FineWeb only when both run.
    if "fineweb" in score_steps:
        score_steps["fineweb"]["after_c4"] = bool(score_steps["fineweb"]["after_c4"] and "c4" in score_steps)
    annotate_settings = AnnotateSettings(
        source_kind=source_kind, word_tokenizer=steps.word_tokenizer, steps=score_steps)
    return ResolvedFilterSettings(
        source_name=source_name, source_kind=source_kind, steps=steps, annotate=annotate_settings,
        thresholds=ThresholdSettings(steps=threshold_steps))
