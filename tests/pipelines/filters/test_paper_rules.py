"""The papers filter: its shares on hand-counted texts, its reasons through annotate + decide, and
the per-kind defaults a `papers` source gets (LID against the paper's meta language, PII)."""
from __future__ import annotations

import pytest

from corpora import documents_to_table
from pipelines.filters import FilterConfig, annotate, decide, settings_for
from pipelines.filters.paper_rules import paper_features


def test_shares_counted_by_hand():
    # 25 characters; `$x+1$` (5) and `\[y\]` (5) are math: 10/25. Prose outside math, blanks
    # removed: "Letandhold." -> 11 characters, 1 of them ('.') not a letter.
    text = "Let $x+1$ and \\[y\\] hold."
    assert len(text) == 25
    scores = paper_features(text)
    assert scores["papers_math_fraction"] == pytest.approx(10 / 25)
    assert scores["papers_non_alpha_fraction"] == pytest.approx(1 / 11)
    # an escaped dollar is not math; code blocks count for neither share's prose
    scores = paper_features("Costs \\$5 today.\n\n```\nx = [1, 2]\n```")
    assert scores["papers_math_fraction"] == 0.0
    assert scores["papers_non_alpha_fraction"] == pytest.approx(4 / 14)  # "Costs\$5today." has \ $ 5 .


def test_reasons_through_annotate_and_decide():
    prose = "A sentence of a real paper about results. " * 60  # 2,520 characters
    docs = [
        {"id": "ok", "text": prose, "meta": {"language": "en"}},
        {"id": "short", "text": "Too short.", "meta": {"language": "en"}},
        {"id": "math", "text": prose + "\\[" + "x+" * 3000 + "1\\]", "meta": {"language": "en"}},
        {"id": "symbols", "text": prose + " 1.2 3.4 5.6 | 7.8 " * 400, "meta": {"language": "en"}},
    ]
    config = FilterConfig.model_validate({"defaults": {"lid": {"enabled": False}}})
    settings = settings_for(config, "arxiv", "papers")
    assert list(settings.annotate.steps) == ["papers", "pii"]
    decided = decide(annotate(documents_to_table(docs, "arxiv"), settings), settings)
    assert decided.column("drop_reason").to_pylist() == [
        None, "papers_too_short", "papers_too_much_math", "papers_too_many_non_alpha"]
    looser = FilterConfig.model_validate({"defaults": {"lid": {"enabled": False}},
                                          "sources": {"arxiv": {"papers": {"max_math_fraction": None}}}})
    relaxed = settings_for(looser, "arxiv", "papers")
    assert relaxed.annotate.fingerprint() == settings.annotate.fingerprint()  # a threshold: no rescoring
    assert decide(decided, relaxed).column("drop_reason").to_pylist()[2] is None


def test_papers_defaults_check_the_meta_language_and_scrub_emails():
    settings = settings_for(None, "arxiv", "papers")
    assert list(settings.annotate.steps) == ["lid", "papers", "pii"]
    assert settings.thresholds.steps["lid"]["languages"] == "meta"
    assert settings.thresholds.steps["papers"] == {
        "enabled": True, "min_num_chars": 2000, "max_math_fraction": 0.6, "max_non_alpha_fraction": 0.3}
    assert "papers" not in settings_for(None, "wiki", "wikipedia").annotate.steps
