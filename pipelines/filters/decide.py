"""`decide`: the cheap half of filtering. Turns stored scores into `drop_reason`.

Reads only score columns (never `text`), so a threshold change re-runs this alone. The first
failing rule in FineWeb's order (url, lid, gopher repetition, gopher quality, c4, fineweb; then
code; each filter's `decision_rank`) gives the reason; within a filter, datatrove's order.
`null` = kept. Each filter's reason codes are its `reasons` (pipelines/filters/<filter>.py);
`error:<Type>` means a filter raised on the document (see `annotate_error`).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.filters.config import ResolvedFilterSettings, ThresholdSettings
from pipelines.filters.registry import DECISION_ORDER


class MissingScores(KeyError):
    def __str__(self) -> str:
        return self.args[0]


class Decider:
    """The reasons decided so far; a filter's `rules` call `fail`, `greater`, `less`."""

    def __init__(self, table: pa.Table):
        self.table = table
        self.reason = np.full(table.num_rows, None, dtype=object)

    def column(self, name: str, fill: Any) -> np.ndarray:
        if name not in self.table.column_names:
            raise MissingScores(
                f"score column {name!r} is missing: the annotate stage ran with other settings; "
                "re-run annotate (its fingerprint must include the filter's annotate settings)")
        column = self.table.column(name)
        if isinstance(fill, float) and pa.types.is_integer(column.type):
            column = column.cast(pa.float64())  # so that +-inf can stand for "no value"
        if column.null_count:
            column = pc.fill_null(column, fill)
        return column.to_numpy(zero_copy_only=False)

    def fail(self, code: str | np.ndarray, mask: np.ndarray) -> None:
        undecided = self.reason == None  # noqa: E711 (elementwise on an object array)
        hit = mask & undecided
        if isinstance(code, np.ndarray):
            self.reason[hit] = code[hit]
        else:
            self.reason[hit] = code

    def greater(self, code: str, name: str, limit: float) -> None:
        values = self.column(name, -np.inf)
        self.fail(code, np.asarray(values > limit))

    def less(self, code: str, name: str, limit: float) -> None:
        values = self.column(name, np.inf)
        self.fail(code, np.asarray(values < limit))


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
