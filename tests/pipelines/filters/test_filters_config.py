"""The `filter:` section: per-kind defaults, overrides, the annotate/threshold split."""
from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from pipelines.filters import (KIND_DEFAULTS, AnnotateSettings, FilterConfig, ThresholdSettings,
                               settings_for)


def test_per_kind_defaults():
    web = settings_for(None, "web", "commoncrawl")
    assert list(web.annotate.steps) == ["url", "lid", "gopher_repetition", "gopher_quality", "c4", "fineweb", "pii"]
    assert web.thresholds.steps["lid"] == {"enabled": True, "languages": ["en"], "threshold": 0.65}
    assert list(settings_for(None, "wiki", "wikipedia").annotate.steps) == ["lid", "pii"]
    assert settings_for(None, "wiki", "wikipedia").thresholds.steps["lid"]["languages"] == "meta"
    assert list(settings_for(None, "src", "code").annotate.steps) == ["code", "pii"]
    assert list(settings_for(None, "j", "jsonl").thresholds.steps) == list(web.thresholds.steps)
    assert set(KIND_DEFAULTS) == {"commoncrawl", "wikipedia", "code", "books", "papers", "jsonl", "parquet"}
    # C4 constants: datatrove's, as FineWeb uses them (TFDS: 5 words per line, 3 sentences)
    c4 = web.thresholds.steps["c4"]
    assert (c4["min_num_sentences"], web.annotate.steps["c4"]["min_words_per_line"]) == (5, 3)
    assert web.annotate.steps["c4"]["filter_no_terminal_punct"] is False


def test_overrides_merge_key_by_key_defaults_then_source():
    config = FilterConfig.model_validate({
        "defaults": {"lid": {"threshold": 0.7}, "gopher_quality": {"min_doc_words": 80}},
        "sources": {"forum": {"lid": {"languages": ["en", "fr"]}, "c4": {"enabled": False}},
                    "repo": {"code": {"max_line_length": 5000}}},
    })
    forum = settings_for(config, "forum", "commoncrawl")
    assert forum.thresholds.steps["lid"] == {"enabled": True, "languages": ["en", "fr"], "threshold": 0.7}
    assert forum.thresholds.steps["gopher_quality"]["min_doc_words"] == 80
    assert "c4" not in forum.annotate.steps and "c4" not in forum.thresholds.steps
    assert forum.annotate.steps["fineweb"]["after_c4"] is False  # nothing to score after
    other = settings_for(config, "news", "commoncrawl")
    assert other.thresholds.steps["lid"]["languages"] == ["en"] and "c4" in other.annotate.steps
    assert settings_for(config, "repo", "code").thresholds.steps["code"]["max_line_length"] == 5000
    assert config.unknown_sources(["forum", "news"]) == ["repo"]


def test_unknown_keys_and_bad_values_are_refused():
    with pytest.raises(ValidationError, match="extra"):
        FilterConfig.model_validate({"defaults": {"gopher_quality": {"min_doc_word": 10}}})
    with pytest.raises(ValidationError):
        FilterConfig.model_validate({"defaults": {"lid": {"threshold": 1.5}}})
    with pytest.raises(ValidationError):
        FilterConfig.model_validate({"sources": {"x": {"word_tokenizer": "nltk"}}})
    with pytest.raises(ValueError, match="unknown source kind"):
        settings_for(None, "x", "pdf")


def test_split_puts_score_options_in_annotate_and_the_rest_in_thresholds():
    base = settings_for(None, "web", "commoncrawl")

    def with_(**defaults):
        return settings_for(FilterConfig.model_validate({"defaults": defaults}), "web", "commoncrawl")

    for change in ({"gopher_repetition": {"top_n_grams": {2: 0.3, 3: 0.18, 4: 0.16}}},
                   {"gopher_quality": {"max_bullet_lines_ratio": 0.5}}, {"c4": {"min_num_sentences": 3}},
                   {"fineweb": {"new_line_ratio": 0.5}}, {"url": {"soft_word_threshold": 3}}):
        changed = with_(**change)
        assert changed.annotate.fingerprint() == base.annotate.fingerprint(), change
        assert changed.thresholds.fingerprint() != base.thresholds.fingerprint(), change
    for change in ({"lid": {"model_path": "/models/lid.176.bin"}}, {"c4": {"min_words_per_line": 5}},
                   {"gopher_repetition": {"dup_n_grams": {5: 0.15}}}, {"word_tokenizer": "whitespace"},
                   {"pii": {"remove_ips": False}}, {"url": {"extra_domains": ["x.example"]}}):
        assert with_(**change).annotate.fingerprint() != base.annotate.fingerprint(), change
    # languages change the scores only through the quality gate
    assert with_(lid={"languages": ["de"]}).annotate.fingerprint() != base.annotate.fingerprint()
    assert (with_(lid={"languages": ["de"], "quality_gate": None}).annotate.fingerprint()
            == with_(lid={"quality_gate": None}).annotate.fingerprint())


def test_settings_round_trip_through_json_and_hash():
    settings = settings_for(None, "web", "commoncrawl")
    annotate_json = json.dumps(settings.annotate.model_dump(mode="json"))
    thresholds_json = json.dumps(settings.thresholds.model_dump(mode="json"))
    assert AnnotateSettings.model_validate(json.loads(annotate_json)).fingerprint() == settings.annotate.fingerprint()
    restored = ThresholdSettings.model_validate(json.loads(thresholds_json))
    assert restored.steps["gopher_repetition"]["top_n_grams"] == {"2": 0.2, "3": 0.18, "4": 0.16}
    assert hash(settings.annotate) == hash(AnnotateSettings.model_validate(json.loads(annotate_json)))
    assert len(settings.annotate.fingerprint()) == 16


def test_filter_off_disables_every_step():
    settings = settings_for(FilterConfig(enabled=False), "web", "commoncrawl")
    assert settings.annotate.steps == {} and settings.thresholds.steps == {}


def test_relative_paths_resolve_against_the_recipe_directory(tmp_path):
    config = FilterConfig.model_validate({"defaults": {"lid": {"model_path": "../models/lid.176.ftz"},
                                                       "url": {"blocklist_paths": ["lists/blocked.txt", "/abs/x.txt"]}}})
    settings = settings_for(config, "web", "commoncrawl", base_dir=tmp_path / "recipes")
    assert settings.annotate.steps["lid"]["model_path"] == str(tmp_path / "models" / "lid.176.ftz")
    assert settings.annotate.steps["url"]["blocklist_paths"] == [str(tmp_path / "recipes" / "lists" / "blocked.txt"),
                                                                 "/abs/x.txt"]
    assert settings_for(config, "web", "commoncrawl").annotate.steps["lid"]["model_path"] == "../models/lid.176.ftz"
