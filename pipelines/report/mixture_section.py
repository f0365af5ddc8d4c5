"""The mixture: target vs achieved weights, epochs, tokens per shard, train/val, warnings.

Read from shards/manifest.json alone (written last by the mix stage, so it exists only for a
finished mixture). `observations` are the report's own remarks, kept apart from the mixture's
`warnings` (which the planner wrote).
"""
from __future__ import annotations

from pipelines.report.runstate import RunState

SOURCE_FIELDS = ("available_tokens", "target_weight", "planned_weight", "achieved_weight", "max_epochs",
                 "planned_epochs", "achieved_epochs", "planned_tokens", "achieved_tokens", "train_docs",
                 "val_docs", "val_tokens")


def _observations(sources: dict, totals: dict, limited_by: list[str]) -> list[str]:
    notes = []
    train, val = totals.get("train", {}), totals.get("val", {})
    if val.get("num_tokens", 0) > train.get("num_tokens", 0) > 0:
        notes.append(f"the val split holds more tokens ({val['num_tokens']:,}) than train "
                     f"({train['num_tokens']:,}): a few long documents were held out; lower "
                     "mix.val_fraction or min_val_docs, or set mix.total_tokens")
    for name, entry in sources.items():
        achieved, target = entry.get("achieved_weight", 0.0), entry.get("target_weight", 0.0)
        if target > 0 and abs(achieved - target) > 0.02:
            notes.append(f"source '{name}': achieved weight {achieved:.3f} vs target {target:.3f} "
                         "(whole documents are drawn; few, long documents miss the target)")
        epochs = entry.get("achieved_epochs", 0.0)
        if 0 < epochs < 0.05:
            capped = ", ".join(limited_by) or "the capped sources"
            notes.append(f"source '{name}': only {epochs:.1%} of its tokens are used: the budget is set by "
                         f"{capped} at its max_epochs; raise mix.max_epochs for {capped} (or lower its weight) "
                         "to use more")
    return notes


def mixture_section(state: RunState) -> dict | None:
    manifest = state.manifest
    if manifest is None:
        return None
    mixture = manifest.get("mixture", {})
    limited_by = list(mixture.get("limited_by", []))
    sources = {}
    for name, entry in sorted(mixture.get("sources", {}).items()):
        sources[name] = {key: entry.get(key) for key in SOURCE_FIELDS}
    shards = [{"split": split, "path": shard["path"], "num_docs": int(shard["num_docs"]),
               "num_tokens": int(shard["num_tokens"]),
               "tokens_per_source": {k: int(v) for k, v in sorted(shard["tokens_per_source"].items())}}
              for split in ("train", "val") for shard in manifest.get("splits", {}).get(split, [])]
    totals = {split: {"num_docs": int(t["num_docs"]), "num_tokens": int(t["num_tokens"])}
              for split, t in manifest.get("totals", {}).items()}
    observations = _observations(sources, totals, limited_by)
    return {
        "sources": sources,
        "requested_total_tokens": mixture.get("requested_total_tokens"),
        "planned_total_tokens": mixture.get("planned_total_tokens"),
        "achieved_total_tokens": mixture.get("achieved_total_tokens"),
        "limited_by": limited_by,
        "warnings": list(mixture.get("warnings", [])),
        "observations": observations,
        "splits": totals,
        "shards": shards,
        "tokenizer": {"vocab_size": manifest.get("tokenizer", {}).get("vocab_size"), "dtype": manifest.get("dtype")},
    }
