"""FineWeb's filter chain on 1,018 real pages: our decisions against datatrove 0.10.1's, page by
page and filter by filter (the independent computation the counts are checked against)."""
from __future__ import annotations

from collections import Counter

import pytest

from pipelines.filters import decide, filter_stats
import datatrove_oracle as reference  # tests/helpers (pytest pythonpath): the datatrove oracle

pytestmark = [pytest.mark.shared_data, pytest.mark.slow,
              # tldextract's notice about a property datatrove's URLFilter reads, once per page
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(scope="module")
def datatrove_verdicts(web_pages, lid_model_path):
    chain = reference.datatrove_chain(lid_model_path, steps=reference.STEPS)
    return reference.run_chain(chain, web_pages)


def test_every_page_gets_datatroves_decision_and_reason(web_pages, web_annotated, web_settings, datatrove_verdicts):
    ours = decide(web_annotated, web_settings).column("drop_reason").to_pylist()
    theirs = [None if v is None else ("lid" if v[0] == "lid" else v[1]) for v in datatrove_verdicts]
    ours_comparable = [None if r is None else ("lid" if r.startswith("lid_") else r) for r in ours]
    mismatches = [(i, web_pages[i]["url"], a, b) for i, (a, b) in enumerate(zip(theirs, ours_comparable)) if a != b]
    assert mismatches == []
    table = Counter(r or "kept" for r in ours)
    print("\nper-reason drops, FineWeb order (URL, LID en > 0.65, Gopher rep, Gopher quality, C4, FineWeb):")
    for reason, count in table.most_common():
        print(f"  {reason:36s} {count:4d}")
    # the same table from datatrove's own reasons
    assert Counter(t or "kept" for t in theirs) == Counter(o or "kept" for o in ours_comparable)
    assert sum(table.values()) == len(web_pages) == 1018
    # this set is 70 % German: most pages leave at LID (MANIFEST: en 178 of 1,033 pages)
    assert table["lid_wrong_language"] + table["lid_low_score"] == sum(1 for t in theirs if t == "lid")
    stats = filter_stats(decide(web_annotated, web_settings))["web"]
    assert stats["num_documents_in"] == 1018
    assert stats["num_documents_out"] == table["kept"]
    assert stats["num_chars_in"] == sum(len(d["text"]) for d in web_pages)


def test_filter_by_filter_agreement(web_annotated, web_settings, datatrove_verdicts):
    """Per filter, over the pages that reach it in datatrove's chain: both keep / both drop, and
    no page on which only one side drops."""
    agreement = reference.step_agreement(datatrove_verdicts, web_annotated, web_settings.thresholds)
    print("\nstep               reached  both keep  both drop  same reason  only datatrove  only us")
    for step, entry in agreement.items():
        print(f"{step:18s} {entry['num_reached']:7d} {entry['both_keep']:10d} {entry['both_drop']:10d}"
              f" {entry['same_reason']:12d} {len(entry['only_datatrove_drops']):15d} {len(entry['only_we_drop']):8d}")
    for step, entry in agreement.items():
        assert entry["only_datatrove_drops"] == [] and entry["only_we_drop"] == [], step
        assert entry["same_reason"] == entry["both_drop"], step
        assert entry["both_keep"] + entry["both_drop"] == entry["num_reached"], step
    assert agreement["url"]["num_reached"] == 1018
    assert agreement["gopher_repetition"]["num_reached"] == agreement["lid"]["both_keep"]


def test_gopher_c4_fineweb_scores_on_all_pages_match_datatrove(web_pages, lid_model_path):
    """Beyond the chain: datatrove's Gopher/C4/FineWeb filters on EVERY page (German ones too)
    against our ungated scores, filter by filter (FineWeb on the C4-cleaned text where C4 keeps)."""
    from datatrove.data import Document
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter)

    from corpora import documents_to_table
    from pipelines.filters import FilterConfig, annotate, settings_for
    from pipelines.filters.config import ThresholdSettings

    sample = web_pages[::4]  # 255 pages keep the test short
    settings = settings_for(FilterConfig.model_validate(
        {"defaults": {"lid": {"model_path": lid_model_path, "quality_gate": None}}}), "web", "commoncrawl")
    annotated = annotate(documents_to_table(sample, "web"), settings)
    filters = {"gopher_repetition": GopherRepetitionFilter(), "gopher_quality": GopherQualityFilter(),
               "c4": C4QualityFilter(filter_no_terminal_punct=False), "fineweb": FineWebQualityFilter()}
    ours = {step: decide(annotated, ThresholdSettings(steps={step: settings.thresholds.steps[step]}))
            .column("drop_reason").to_pylist() for step in filters}
    disagreements = []
    num_drops = Counter()
    for i, page in enumerate(sample):
        doc = Document(text=page["text"], id=str(i))
        c4_kept = True
        for step, datatrove_filter in filters.items():
            if step == "fineweb" and not c4_kept:
                continue  # datatrove's FineWeb then sees the unmodified text; ours scores C4's output
            result = datatrove_filter.filter(doc)
            theirs = None if result is True else reference.reason_code(step, result[1])
            if step == "c4":
                c4_kept = theirs is None
            num_drops[step] += theirs is not None
            if theirs != ours[step][i]:
                disagreements.append((i, step, theirs, ours[step][i]))
    print("\ndrops per filter on", len(sample), "pages:", dict(num_drops))
    assert disagreements == []
    assert num_drops["gopher_quality"] > 150  # German pages fail the English stop-word rule
