"""FineWeb quality rules (Penedo et al. 2024) as datatrove's FineWebQualityFilter runs them.

In FineWeb's chain this filter sees the text C4's line rules left (`after_c4`, default)."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from pipelines.filters.gopher import find_duplicates
from pipelines.filters.text_stats import terminal_punctuation

@lru_cache(maxsize=1)
def _stop_chars() -> tuple[str, ...]:
    return tuple(sorted(terminal_punctuation()))


COLUMNS = ["fineweb_empty", "fineweb_line_punct_ratio", "fineweb_short_line_ratio",
           "fineweb_char_dup_ratio", "fineweb_list_ratio"]


def fineweb_features(text: str, num_words: int, options: dict[str, Any]) -> dict[str, Any]:
    """Scores of `text` (which has `num_words` datatrove words)."""
    lines = [line for line in text.split("\n") if line.strip() != ""]
    if not lines:
        return {"fineweb_empty": True}
    stop_chars = _stop_chars()
    short = options["short_line_length"]
    num_lines = len(lines)
    return {
        "fineweb_empty": False,
        "fineweb_line_punct_ratio": sum(1 for line in lines if line.endswith(stop_chars)) / num_lines,
        "fineweb_short_line_ratio": sum(1 for line in lines if len(line) <= short) / num_lines,
        "fineweb_char_dup_ratio": find_duplicates(lines)[1] / len(text.replace("\n", "")),
        "fineweb_list_ratio": text.count("\n") / num_words if num_words else None,
    }
