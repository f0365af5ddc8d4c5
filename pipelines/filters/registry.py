"""The registered filters. `annotate` runs them in this order (and adds their columns in it);
`decide` applies their rules in FineWeb's chain order (`decision_rank`: url, lid, Gopher
repetition, Gopher quality, C4, FineWeb; then code). See pipelines/filters/unit.py to add one.
"""
from __future__ import annotations

from pipelines.filters import (c4, code_rules, fineweb, gopher_quality, gopher_repetition, langid, paper_rules, pii,
                               url)
from pipelines.filters.unit import Filter

# Column and annotate order (LID first: its quality gate decides which documents are scored).
FILTERS: tuple[Filter, ...] = (
    langid.FILTER,
    url.FILTER,
    gopher_repetition.FILTER,
    gopher_quality.FILTER,
    c4.FILTER,
    fineweb.FILTER,
    code_rules.FILTER,
    paper_rules.FILTER,
    pii.FILTER,
)
FILTERS_BY_NAME: dict[str, Filter] = {f.name: f for f in FILTERS}
# The filters that can drop a document, in decision order.
DECISION_ORDER: tuple[Filter, ...] = tuple(sorted((f for f in FILTERS if f.rules is not None),
                                                  key=lambda f: f.decision_rank))
