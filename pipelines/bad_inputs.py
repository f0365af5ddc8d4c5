"""Inputs of the wrong kind: skipped and counted up to `runner.max_bad_inputs`, else the build stops.

A reader raises `corpora.InputError` for a file that is not what its source's kind reads at all
(plain text named `.warc.gz`, a non-XML file among Wikipedia dumps, a JSONL file no record of which
has the text field). Damage *inside* a real input (a truncated stream, a clipped record) is not
this: readers count it per document and go on.

A days-long crawl of 90,000 WARCs must not stop for one such file, but a recipe whose `paths` point
at the wrong files altogether must stop at once. So the extract task turns an InputError into an
empty part plus a stats entry, and after the stage the driver checks each source:

    runner.max_bad_inputs: 0.01   (the default) a fraction: up to floor(0.01 x the source's input
                                  files) may be bad, i.e. 1 in 100; a source of fewer than 100
                                  files stops at its first bad file
    runner.max_bad_inputs: 5      a count: up to 5 bad files per source
    runner.max_bad_inputs: 0      every bad file stops the build (the behaviour before this setting)

Within the limit, the stage goes on and `_stats/extract.json` lists them per source under
`bad_inputs` ([{"path", "reason"}], `num_bad_inputs`). Above it, the build stops with every bad
file and its reason, naming the setting; the bad files' completion markers are removed, so a rerun
after fixing them (or raising the limit) reads them again.
"""
from __future__ import annotations

import math

from pipelines.stage import BuildContext, StageResult

BAD_INPUTS_KEY = "bad_inputs"  # per source in _stats/extract.json: [{"path": ..., "reason": ...}]
NUM_BAD_INPUTS_KEY = "num_bad_inputs"
DEFAULT_MAX_BAD_INPUTS = 0.01


class TooManyBadInputs(RuntimeError):
    """More inputs of the wrong kind than `runner.max_bad_inputs` allows, in some source."""


def bad_input_stats(payload: dict, error: Exception) -> dict:
    """The extract stats of a task whose input is not of its source's kind (its part is empty)."""
    return {
        "source": payload["source"],
        "input": payload["path"],
        "num_bytes_in": payload["size_bytes"],
        "num_docs_out": 0,
        "num_chars_out": 0,
        "reasons": {},
        NUM_BAD_INPUTS_KEY: 1,
        BAD_INPUTS_KEY: [{"path": payload["path"], "reason": f"{type(error).__name__}: {error}"}],
    }


def allowed_bad_inputs(max_bad_inputs: int | float, num_inputs: int) -> int:
    """How many of a source's `num_inputs` files may be bad: a count as is, a fraction rounded down."""
    if isinstance(max_bad_inputs, float):
        return math.floor(max_bad_inputs * num_inputs + 1e-9)
    return max_bad_inputs


def check_bad_inputs(ctx: BuildContext, result: StageResult) -> None:
    """After extract: refuse the build if a source has more bad inputs than the recipe allows."""
    setting = ctx.resolved.recipe.runner.max_bad_inputs
    inputs_per_source: dict[str, set[str]] = {}
    for task in result.tasks:
        inputs_per_source.setdefault(task.payload["source"], set()).add(task.payload["path"])
    bad_per_source: dict[str, dict[str, str]] = {}
    bad_tasks: list[str] = []
    for stats in result.stats:
        for entry in stats.get(BAD_INPUTS_KEY, []):
            bad_per_source.setdefault(stats["source"], {})[entry["path"]] = entry["reason"]
            bad_tasks.append(stats["task"])
    over = []
    for source, bad in sorted(bad_per_source.items()):
        num_inputs = len(inputs_per_source.get(source, ()))
        allowed = allowed_bad_inputs(setting, num_inputs)
        lines = "\n    ".join(f"{path}: {reason}" for path, reason in sorted(bad.items()))
        summary = f"source {source!r}: {len(bad)} of {num_inputs} input files are not what its kind reads"
        if len(bad) > allowed:
            over.append(f"{summary} (runner.max_bad_inputs = {setting!r} allows {allowed}):\n    {lines}")
        else:
            ctx.console.print(f"[yellow]skipped[/yellow] {summary} (within runner.max_bad_inputs = "
                              f"{setting!r}; listed under bad_inputs in _stats/extract.json):\n    {lines}",
                              markup=True, highlight=False)
    if over:
        for task_id in bad_tasks:  # read them again on the next run: they may have been fixed
            marker = ctx.run.path("_done", result.stage, task_id)
            if ctx.run.fs.exists(marker):
                ctx.run.fs.rm(marker)
        raise TooManyBadInputs(
            "stage extract: too many inputs of the wrong kind; remove or fix these files in the "
            "recipe's `paths`, or raise `runner.max_bad_inputs` (a count, or a fraction of each "
            "source's files) to skip them:\n  " + "\n  ".join(over)
        )
