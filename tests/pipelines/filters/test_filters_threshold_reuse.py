"""Changing a threshold re-runs only `decide`, on stored scores: no text is read again."""
from __future__ import annotations

import pytest

from pipelines.filters import FilterConfig, MissingScores, decide, settings_for

pytestmark = pytest.mark.shared_data


def _settings(lid_model_path: str, **overrides):
    overrides["lid"] = {"model_path": lid_model_path, **overrides.get("lid", {})}
    return settings_for(FilterConfig.model_validate({"defaults": overrides}), "web", "commoncrawl")


def test_new_thresholds_reuse_the_scores_without_text(web_annotated, lid_model_path):
    default = _settings(lid_model_path)
    stricter = _settings(lid_model_path, gopher_quality={"min_doc_words": 300},
                         fineweb={"char_duplicates_ratio": 0.1})
    # same annotate settings -> the runner keeps the annotate outputs; only the filter stage reruns
    assert default.annotate.fingerprint() == stricter.annotate.fingerprint()
    assert default.thresholds.fingerprint() != stricter.thresholds.fingerprint()

    scores_only = web_annotated.drop_columns(["text"])  # decide cannot rescan what is not there
    before = decide(scores_only, default).column("drop_reason").to_pylist()
    after = decide(scores_only, stricter).column("drop_reason").to_pylist()
    assert before == decide(web_annotated, default).column("drop_reason").to_pylist()

    # expected from the stored columns alone: previously kept pages with < 300 Gopher words now go
    num_words = scores_only.column("gopher_num_words").to_pylist()
    char_dup = scores_only.column("fineweb_char_dup_ratio").to_pylist()
    for i, (old, new) in enumerate(zip(before, after)):
        if old is None:
            assert new == ("gopher_short_doc" if num_words[i] < 300 else None)
        elif old == "fineweb_char_dup_ratio" and char_dup[i] <= 0.1:
            assert new == ("gopher_short_doc" if num_words[i] < 300 else None)
        elif not old.startswith(("gopher_", "c4_", "fineweb_")):
            assert new == old  # url and lid decisions do not move
    newly_short = sum(1 for a, b in zip(before, after) if a is None and b == "gopher_short_doc")
    rescued = sum(1 for a, b in zip(before, after) if a == "fineweb_char_dup_ratio" and b is None)
    print(f"\nmin_doc_words 50 -> 300 drops {newly_short} more pages; char_dup 0.01 -> 0.1 keeps {rescued}")
    assert newly_short > 0 and rescued > 0


def test_a_threshold_below_the_quality_gate_asks_for_a_new_annotate(web_annotated, lid_model_path):
    below_gate = _settings(lid_model_path, lid={"threshold": 0.1})
    with pytest.raises(MissingScores, match="quality_gate"):
        decide(web_annotated.drop_columns(["text"]), below_gate)
    at_gate = _settings(lid_model_path, lid={"threshold": 0.2})
    assert at_gate.annotate.fingerprint() == _settings(lid_model_path).annotate.fingerprint()
    reasons = decide(web_annotated.drop_columns(["text"]), at_gate).column("drop_reason").to_pylist()
    assert reasons.count("lid_low_score") + reasons.count("lid_wrong_language") < 837  # fewer LID drops


def test_decide_refuses_thresholds_for_steps_that_were_not_annotated(web_annotated, lid_model_path):
    without_c4 = web_annotated.drop_columns([c for c in web_annotated.column_names if c.startswith("c4_")])
    with pytest.raises(MissingScores, match="'c4'"):
        decide(without_c4, _settings(lid_model_path))
