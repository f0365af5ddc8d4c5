"""Per-task stats summed into per-source totals (`_stats/<stage>.json`, the report's funnel)."""
from __future__ import annotations


def merge_stats(stats: list[dict]) -> dict:
    """Sum per-task stats into per-source totals: `num_*` and `seconds` add, count maps
    (`reasons`, `reason_chars`) add key by key, lists (`warnings`) concatenate."""
    merged: dict[str, dict] = {}
    for item in stats:
        entry = merged.setdefault(item.get("source", "_all"), {"num_tasks": 0, "seconds": 0.0, "reasons": {}})
        entry["num_tasks"] += 1
        for key, value in item.items():
            if key == "seconds" or (key.startswith("num_") and isinstance(value, (int, float))):
                entry[key] = entry.get(key, 0) + value
            elif isinstance(value, dict) and all(isinstance(v, (int, float)) for v in value.values()):
                counts = entry.setdefault(key, {})
                for code, count in value.items():
                    counts[code] = counts.get(code, 0) + count
            elif isinstance(value, list):
                entry.setdefault(key, []).extend(value)
    for entry in merged.values():
        entry["seconds"] = round(entry["seconds"], 3)
        for key, value in entry.items():
            if isinstance(value, dict):
                entry[key] = dict(sorted(value.items()))
    return {source: dict(sorted(entry.items())) for source, entry in sorted(merged.items())}
