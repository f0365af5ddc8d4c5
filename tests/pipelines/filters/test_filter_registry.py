"""The filter registry: each filter is one unit that annotate, decide, inspection and the per-kind
defaults iterate over."""
from __future__ import annotations

import pyarrow as pa

from pipelines.filters import FilterSteps, score_columns, settings_for
from pipelines.filters.annotate import COLUMN_TYPES
from pipelines.filters.config import KIND_DEFAULTS, STEP_ORDER
from pipelines.filters.registry import FILTERS, FILTERS_BY_NAME
from pipelines.inspection import deciding_columns


def test_the_registered_filters_in_column_and_decision_order():
    assert [f.name for f in FILTERS] == ["lid", "url", "gopher_repetition", "gopher_quality", "c4", "fineweb",
                                         "code", "papers", "pii"]
    assert STEP_ORDER == ("url", "lid", "gopher_repetition", "gopher_quality", "c4", "fineweb", "code", "papers")
    assert set(FilterSteps.model_fields) == {"word_tokenizer", *FILTERS_BY_NAME}


def test_every_reason_code_belongs_to_one_filter_and_names_its_columns():
    owners: dict[str, str] = {}
    for unit in FILTERS:
        for reason in unit.reasons:
            assert reason not in owners, (reason, owners.get(reason), unit.name)
            owners[reason] = unit.name
    assert len(owners) == 5 + 2 + 7 + 10 + 3 + 5 + 6 + 3  # url, lid, Gopher rep./quality, C4, FineWeb, code, papers
    # inspection finds the deciding columns through the filter that owns the reason
    assert deciding_columns("gopher_short_doc") == ["gopher_num_words"]
    assert deciding_columns("gopher_rep_top_2_gram") == ["gopher_rep_top_2_gram_frac"]
    assert deciding_columns("gopher_rep_duplicated_5_n_grams") == ["gopher_rep_dup_5_gram_char_frac"]
    assert deciding_columns("lid_low_score") == ["lid_lang", "lid_score", "lid_top_langs", "lid_top_scores",
                                                 "lid_meta_language"]
    assert deciding_columns("url_hard_blacklisted") == ["url_banned_word"]
    assert deciding_columns("code_too_small") == ["num_chars"]
    assert deciding_columns("fineweb_list_ratio") == ["fineweb_list_ratio"]
    assert deciding_columns("papers_too_much_math") == ["papers_math_fraction"]
    assert deciding_columns("error:ValueError") == ["annotate_error"]


def test_columns_and_types_come_from_the_filters():
    web = settings_for(None, "web", "commoncrawl")
    columns = score_columns(web.annotate)
    assert columns[:8] == ["num_chars", "annotate_error", "lid_lang", "lid_score", "lid_top_langs",
                           "lid_top_scores", "lid_meta_language", "lid_gated"]
    assert columns[-1] == "pii_num_replaced" and "code_language" not in columns
    assert len(columns) == 2 + 6 + 5 + (5 + 3 + 6) + 8 + 5 + 5 + 1  # Gopher rep.: 3 top n-grams, 6 duplicated
    assert COLUMN_TYPES["lid_top_langs"] == pa.list_(pa.string())
    assert COLUMN_TYPES["c4_num_sentences"] == pa.int64() and "gopher_avg_word_length" not in COLUMN_TYPES


def test_per_kind_defaults_come_from_the_filters_profiles():
    assert KIND_DEFAULTS["commoncrawl"] == {"code": {"enabled": False}, "papers": {"enabled": False}}
    assert KIND_DEFAULTS["code"] == {name: {"enabled": False} for name in
                                     ("lid", "url", "gopher_repetition", "gopher_quality", "c4", "fineweb", "papers")}
    assert KIND_DEFAULTS["books"] == KIND_DEFAULTS["wikipedia"] == {
        "lid": {"languages": "meta"},
        **{name: {"enabled": False} for name in ("url", "gopher_repetition", "gopher_quality", "c4", "fineweb",
                                                 "code", "papers")}}
    assert KIND_DEFAULTS["papers"] == {
        "lid": {"languages": "meta"},
        **{name: {"enabled": False} for name in ("url", "gopher_repetition", "gopher_quality", "c4", "fineweb",
                                                 "code")}}
