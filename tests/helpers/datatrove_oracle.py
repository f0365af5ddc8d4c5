"""datatrove's FineWeb filter chain on the same documents: the yardstick for our decisions and
speed (tests and benchmarks/bench_filters.py). Needs datatrove 0.10.1 (the `test`/`bench` extras).

The chain is FineWeb's (datatrove examples/fineweb.py): URLFilter, LanguageFilter(en, 0.65),
GopherRepetitionFilter, GopherQualityFilter, C4QualityFilter(filter_no_terminal_punct=False),
FineWebQualityFilter, all with their default thresholds, stopping at the first failing filter,
then PIIFormatter on the kept documents.
Offline: the LID model is the given local file and tldextract uses its bundled suffix list.
"""
from __future__ import annotations

from typing import Any

import pyarrow as pa

from pipelines.filters.config import ThresholdSettings
from pipelines.filters.decide import decide

STEPS = ("url", "lid", "gopher_repetition", "gopher_quality", "c4", "fineweb")
_URL_REASONS = {"domain": "url_blocked_domain", "subdomain": "url_blocked_domain", "url": "url_blocked_url",
                "hard_blacklisted": "url_hard_blacklisted", "soft_blacklisted": "url_soft_blacklisted",
                "blacklisted_subword": "url_blacklisted_subword"}
_PREFIX = {"gopher_repetition": "gopher_rep_", "gopher_quality": "", "c4": "c4_", "fineweb": "fineweb_"}


def datatrove_chain(lid_model_path: str, steps: tuple[str, ...] = (*STEPS, "pii")) -> list[tuple[str, Any]]:
    """[(step, datatrove filter or formatter)] in FineWeb's order, set up offline."""
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter, LanguageFilter, URLFilter)
    from datatrove.pipeline.formatters import PIIFormatter
    from fasttext.FastText import _FastText

    chain: list[tuple[str, Any]] = []
    for step in steps:
        if step == "url":
            from tldextract import TLDExtract

            url_filter = URLFilter()
            url_filter.tldextractor = TLDExtract(suffix_list_urls=())  # bundled snapshot, no network
            url_filter.download_data()
            chain.append((step, url_filter))
        elif step == "lid":
            language_filter = LanguageFilter(languages=["en"], language_threshold=0.65)
            language_filter.model._model = _FastText(model_path=lid_model_path)
            chain.append((step, language_filter))
        elif step == "gopher_repetition":
            chain.append((step, GopherRepetitionFilter()))
        elif step == "gopher_quality":
            chain.append((step, GopherQualityFilter()))
        elif step == "c4":
            chain.append((step, C4QualityFilter(filter_no_terminal_punct=False)))
        elif step == "fineweb":
            chain.append((step, FineWebQualityFilter()))
        elif step == "pii":
            chain.append((step, PIIFormatter()))
    return chain


def reason_code(step: str, datatrove_reason: str | None) -> str:
    """Our reason code for a datatrove (step, reason); LID has no reason in datatrove."""
    if step == "url":
        return _URL_REASONS[datatrove_reason]
    if step == "lid":
        return "lid"
    if step == "fineweb" and datatrove_reason == "empty":
        return "fineweb_empty"
    return _PREFIX[step] + (datatrove_reason or "")


def run_chain(chain: list[tuple[str, Any]], docs: list[dict[str, Any]]) -> list[tuple[str, str] | None]:
    """Per document: None (kept) or (step, our reason code) of the first failing filter."""
    from datatrove.data import Document

    out: list[tuple[str, str] | None] = []
    for index, doc in enumerate(docs):
        document = Document(text=doc["text"], id=str(index), metadata={"url": doc.get("url")})
        verdict = None
        for step, datatrove_filter in chain:
            if step == "pii":
                document.text = datatrove_filter.format(document.text)
                continue
            result = datatrove_filter.filter(document)
            if result is True or (isinstance(result, tuple) and result[0]):
                continue
            verdict = (step, reason_code(step, result[1] if isinstance(result, tuple) else None))
            break
        out.append(verdict)
    return out


def step_agreement(reference: list[tuple[str, str] | None], annotated: pa.Table,
                   thresholds: ThresholdSettings, steps: tuple[str, ...] = STEPS) -> dict[str, dict[str, Any]]:
    """Per step, over the documents that reached it in datatrove's chain: how often both keep,
    both drop (same reason or not), and the rows where only one side drops."""
    reached_until = [STEPS.index(v[0]) if v else len(STEPS) for v in reference]
    out: dict[str, dict[str, Any]] = {}
    for step in steps:
        position = STEPS.index(step)
        rows = [i for i, until in enumerate(reached_until) if until >= position]
        table = annotated.take(pa.array(rows, type=pa.int64()))
        if "lid_gated" in table.column_names:  # one step alone: the gate is LID's business
            table = table.drop_columns(["lid_gated"])
        ours = decide(table, ThresholdSettings(steps={step: thresholds.steps[step]})).column("drop_reason").to_pylist()
        entry = {"num_reached": len(rows), "both_keep": 0, "both_drop": 0, "same_reason": 0,
                 "only_datatrove_drops": [], "only_we_drop": []}
        for row, our_reason in zip(rows, ours):
            theirs = reference[row][1] if reached_until[row] == position else None
            if theirs is None and our_reason is None:
                entry["both_keep"] += 1
            elif theirs is not None and our_reason is not None:
                entry["both_drop"] += 1
                entry["same_reason"] += int(theirs == our_reason or (step == "lid" and our_reason.startswith("lid_")))
            elif theirs is not None:
                entry["only_datatrove_drops"].append((row, theirs))
            else:
                entry["only_we_drop"].append((row, our_reason))
        out[step] = entry
    return out
