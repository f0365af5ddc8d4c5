"""`corpusmill build`: run a recipe's stages in order on the runner, resumably.

extract -> [annotate -> filter] -> [dedup] -> [tokenizer -> tokenize -> mix/shards]
The stages and their order are `pipelines.stages.STAGES`; each names the stage it reads
(pipelines/stage.py says how to add one). Also `corpusmill tokenizer train`: the same build,
stopped after the `tokenizer` stage.
"""
from __future__ import annotations

import datetime as dt
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pipelines.recipe import ResolvedRecipe, load_recipe
from pipelines.report import write_report
from pipelines.run_lock import RunLock
from pipelines.rundir import RunDir
from pipelines.runner import Runner
from pipelines.stage import BuildContext, Stage, StageResult
from pipelines.stage_stats import merge_stats  # noqa: F401 (also imported from here)
from pipelines.stages import STAGES
from pipelines.stages.tokenizer import TOKENIZER_REL
from tokenization.atomic_files import TEMP_GLOB
from tokenization.remote import local_tokenizer


@dataclass
class BuildResult:
    run_dir: str
    stages: list[StageResult]

    @property
    def num_executed(self) -> int:
        return sum(s.num_executed for s in self.stages)


def _git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except OSError:
        return None


def _versions() -> dict[str, str]:
    names = ["corpusmill", "ray", "pyarrow", "fastwarc", "resiliparse", "mwparserfromhell",
             "tokenizers", "torch", "trafilatura", "fasttext-numpy2-wheel"]
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def remove_stale_temporaries(run: RunDir) -> None:
    """Delete half-written temporaries (tokenization.atomic_files: the one style every writer uses)
    and abort unfinished S3 multipart uploads a killed run left behind (one build per run dir)."""
    for path in run.glob(TEMP_GLOB):
        run.fs.rm(path)
    run.abort_unfinished_uploads()


def stage_inputs(resolved: ResolvedRecipe, stages: tuple[Stage, ...] = STAGES) -> dict[str, str | None]:
    """For each enabled stage, the name of the stage whose output it reads. A disabled stage stands
    aside: whoever reads it reads its own input instead. Refuses a stage listed before its input."""
    output_of: dict[str, str | None] = {}  # stage name -> the enabled stage holding its output
    inputs: dict[str, str | None] = {}
    for stage in stages:
        if stage.reads is not None and stage.reads not in output_of:
            raise ValueError(f"stage {stage.name} reads {stage.reads!r}, which is not listed before it in STAGES")
        source = output_of[stage.reads] if stage.reads is not None else None
        if stage.enabled(resolved):
            inputs[stage.name] = source
            output_of[stage.name] = stage.name
        else:
            output_of[stage.name] = source
    return inputs


def build(resolved: ResolvedRecipe, **options) -> BuildResult:
    """Run the recipe's enabled stages in order (through stage `until` only, when given), holding the
    run directory (pipelines.run_lock): a second live build into it is refused, naming the holder."""
    with RunLock(RunDir(resolved.run_dir)):
        return _build_holding_lock(resolved, **options)


def _build_holding_lock(resolved: ResolvedRecipe, *, address: str | None = None, node_ip: str | None = None,
                        console: Console | None = None, show_progress: bool = True,
                        until: str | None = None) -> BuildResult:
    console = console or Console(stderr=True)
    run = RunDir(resolved.run_dir)
    remove_stale_temporaries(run)
    run.write_bytes("recipe.resolved.yaml", resolved.to_yaml().encode())
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    runner_config = resolved.recipe.runner
    inputs = stage_inputs(resolved)
    ctx = BuildContext(resolved, run, console, inputs=inputs)
    with Runner(address=address, num_cpus=runner_config.num_cpus,
                max_retries=runner_config.max_retries, console=console,
                show_progress=show_progress, node_ip=node_ip, dashboard=runner_config.dashboard) as runner:
        for stage in STAGES:
            if stage.name not in inputs:
                continue
            for phase in stage.phases(ctx):
                result = runner.execute_stage(run.url, phase.name, phase.plan(ctx), phase.worker)
                ctx.results[phase.name] = result
                if phase.finish is not None:
                    phase.finish(ctx, result)
            stage.finish(ctx)
            if stage.name == until:
                break
    remove_stale_temporaries(run)  # left by tasks whose worker died (their retries succeeded)
    results = list(ctx.results.values())
    summary = {r.stage: merge_stats(r.stats) for r in results}
    for stage_name, merged in summary.items():
        run.write_json(f"_stats/{stage_name}.json", merged)
    run.write_json("run.json", {
        "corpusmill": _versions().get("corpusmill"),
        "versions": _versions(),
        "git_sha": _git_sha(),
        "argv": sys.argv,
        "started": started,
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "stages": {r.stage: {"tasks_executed": r.num_executed, "tasks_skipped": r.num_skipped,
                             "seconds": round(r.seconds, 3)} for r in results},
    })
    print_summary(console, results, summary)
    write_report(run.url, console)  # report/report.html + report.json, and its terminal summary
    return BuildResult(run.url, results)


def train_tokenizer_from_recipe(recipe_path: str, *, out: str | None = None, run_dir: str | None = None,
                                address: str | None = None) -> Path:
    """`corpusmill tokenizer train`: run the recipe through the `tokenizer` stage (resumably):
    filtering, then the tokenizer its `tokenize.train` section describes, trained on a seeded
    sample of the kept documents."""
    resolved = load_recipe(recipe_path, run_dir=run_dir)
    tok = resolved.recipe.tokenize
    if tok is None or tok.train is None:
        raise ValueError(f"{recipe_path}: `tokenize.train` is not set; add e.g. "
                         "`tokenize: {train: {vocab_size: 32000, kind: bpe, sample_docs: 100000}}`")
    build(resolved, address=address, until="tokenizer")
    run = RunDir(resolved.run_dir)
    if run.is_local:
        path = Path(run.local_path(TOKENIZER_REL))
    else:  # a remote run: its tokenizer, fetched into the local cache
        path = local_tokenizer(run.fs.unstrip_protocol(run.path(TOKENIZER_REL)), None)
    if out is not None:
        shutil.copyfile(path, out)
        return Path(out)
    return path


def print_summary(console: Console, results: list[StageResult], summary: dict) -> None:
    table = Table(title="corpusmill build", show_lines=False)
    for column in ("stage", "source", "tasks run/skipped", "docs out", "top reasons"):
        table.add_column(column)
    for result in results:
        for i, (source, totals) in enumerate(summary[result.stage].items()):
            top = sorted(totals["reasons"].items(), key=lambda kv: -kv[1])[:3]
            table.add_row(result.stage if i == 0 else "", source,
                          f"{result.num_executed}/{result.num_skipped}" if i == 0 else "",
                          f"{totals.get('num_docs_out', 0):,}",
                          ", ".join(f"{k}={v}" for k, v in top))
    console.print(table)
