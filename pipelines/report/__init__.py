"""The data-mixture report: `corpusmill report RUN` and the end of every `corpusmill build`.

    write_report("runs/x")   # -> runs/x/report/report.json, report.html, report.schema.json; prints a summary

report.json (schema: pipelines/report/schema.py) has one key per section, null until the stage it
needs has output, so a partial or running build gets the sections it can:
  funnel         extract (then filter, dedup, tokenize, shards): docs, chars, tokens per step and source
  mixture        shards/manifest.json: target vs achieved weights, epochs, shards, splits, warnings
  distributions  length, languages, scores with thresholds, duplicate clusters, per source
  samples        kept and removed documents (cut, escaped on the page)
  scale          the corpus' tokens beside BERT, GPT-2, GPT-3 and LLaMA
  planner        Chinchilla model size, FLOPs, GPU-hours and cost for those tokens (pipelines/report/planner.py)
report.html is one self-contained page (inline CSS, SVG and script; a Content-Security-Policy that
forbids every fetch). Modules: runstate (reads the run), funnel, mixture_section, distributions,
thresholds, samples, scale, planner, known_models, schema, html_page, charts, page_script, terminal.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass

from rich.console import Console

from pipelines.report.distributions import distributions_section
from pipelines.report.funnel import funnel_section
from pipelines.report.mixture_section import mixture_section
from pipelines.report.runstate import read_run
from pipelines.report.samples import samples_section
from pipelines.report.scale import corpus_tokens, planner_section, scale_section

FORMAT_VERSION = 1
REPORT_DIR = "report"


def _finite(value):
    """JSON has no NaN or infinity: a score that is not a number (an empty document's average) is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def collect_report(run_url: str) -> dict:
    """Everything report.json holds, read from the run directory as it is now."""
    state = read_run(run_url)
    funnel = funnel_section(state)
    mixture = mixture_section(state)
    tokens = corpus_tokens(funnel, mixture)
    info = state.run_info or {}
    # finished: the last build wrote run.json and nothing ran since (the stages it lists are complete;
    # helper stages such as tokenizer-sample or dedup's phases get no merged stats file)
    built = (state.run_info or {}).get("stages", {})
    complete = bool(built) and all(state.stages[s].complete for s in built if s in state.stages)
    report = {
        "format_version": FORMAT_VERSION,
        "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "run_dir": run_url,
        "status": {
            "finished": state.run_info is not None and complete,
            "started": info.get("started"), "finished_at": info.get("finished"),
            "stages": {stage: {"num_tasks_done": s.num_tasks_done, "complete": s.complete}
                       for stage, s in state.stages.items()},
        },
        "sources": [{"name": name, "kind": state.source_kind(name)} for name in state.sources],
        "funnel": funnel,
        "mixture": mixture,
        "distributions": distributions_section(state),
        "samples": samples_section(state),
        "scale": scale_section(tokens, funnel),
        "planner": planner_section(tokens),
    }
    return _finite(report)


@dataclass(frozen=True)
class ReportFiles:
    json_path: str
    html_path: str
    report: dict


def write_report(run_url: str, console: Console | None = None, *, summary: bool = True) -> ReportFiles:
    """Write report/report.json, report.html and report.schema.json into the run; print the summary."""
    from pipelines.report.html_page import render_page
    from pipelines.report.schema import REPORT_SCHEMA
    from pipelines.report.terminal import print_report_summary
    from pipelines.rundir import RunDir

    report = collect_report(run_url)
    run = RunDir(run_url)
    run.write_bytes(f"{REPORT_DIR}/report.json",
                    (json.dumps(report, indent=1, ensure_ascii=False, allow_nan=False) + "\n").encode())
    run.write_bytes(f"{REPORT_DIR}/report.schema.json", (json.dumps(REPORT_SCHEMA, indent=1) + "\n").encode())
    run.write_bytes(f"{REPORT_DIR}/report.html", render_page(report).encode())
    if summary:
        print_report_summary(report, console or Console(stderr=True))
    return ReportFiles(run.path(REPORT_DIR, "report.json"), run.path(REPORT_DIR, "report.html"), report)
