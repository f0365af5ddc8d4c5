"""`decide`: the cheap half of filtering. Turns stored scores into `drop_reason`.

Reads only score columns (never `text`), so a threshold change re-runs this alone. The first
failing rule in FineWeb's order (url, lid, gopher repetition, gopher quality, c4, fineweb; then
code; each filter's `decision_rank`) gives the reason; within a filter, datatrove's order.
`null` = kept. Each filter's reason codes are its `reasons` (pipelines/filters/<filter>.py);
`error:<Type>` means a filter raised on the document (see `annotate_error`).
"""
from __future__ import annotations

import pyarrow as pa

from pipelines.filters.config import ResolvedFilterSettings, ThresholdSettings
from pipelines.filters.registry import DECISION_ORDER
from pipelines.filters.unit import Decider, MissingScores  # noqa: F401 (MissingScores: re-exported)


def decide(table: pa.Table, settings: ResolvedFilterSettings | ThresholdSettings) -> pa.Table:
    """Return `table` with `drop_reason` (string, null = kept) added or replaced."""
    settings = settings.thresholds if isinstance(settings, ResolvedFilterSettings) else settings
    decider = Decider(table)
    if "annotate_error" in table.column_names:
        errors = table.column("annotate_error").to_numpy(zero_copy_only=False)
        decider.fail(errors, errors != None)  # noqa: E711
    for unit in DECISION_ORDER:
        if unit.name in settings.steps:
            if unit.presence_column is not None and unit.presence_column not in table.column_names:
                raise MissingScores(
                    f"filter step {unit.name!r} is enabled but its scores ({unit.presence_column}...) were "
                    "not annotated; re-run the annotate stage with this step enabled")
            unit.rules(decider, settings.steps[unit.name])
    if "lid_gated" in table.column_names and table.num_rows:
        kept_unscored = (decider.reason == None) & decider.column("lid_gated", False).astype(bool)  # noqa: E711
        if kept_unscored.any():
            raise MissingScores(
                f"{int(kept_unscored.sum())} documents pass the language check but were not scored by "
                "Gopher/C4/FineWeb (annotate skipped them: target-language score below lid.quality_gate); "
                "keep lid.threshold >= lid.quality_gate and the same languages, or re-run annotate")
    column = pa.array(decider.reason.tolist(), type=pa.string())
    if "drop_reason" in table.column_names:
        return table.set_column(table.column_names.index("drop_reason"), "drop_reason", column)
    return table.append_column("drop_reason", column)
