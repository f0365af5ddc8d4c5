"""`corpusmill build`: run a recipe's stages in order on the runner, resumably.

extract -> [annotate -> filter] -> [dedup: later] -> [tokenize -> mix/shards]
Each stage reads the parts of the stage before it, so a new stage slots in by naming its input stage.
"""
from __future__ import annotations

import datetime as dt
import platform
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from rich.console import Console
from rich.table import Table

from corpora import reader_for
from pipelines.recipe import ResolvedRecipe
from pipelines.rundir import RunDir
from pipelines.runner import Runner, StageResult, TaskSpec
from pipelines.stages.extract import extract_task, part_path
from tokenization.shards import file_sha256


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


def extract_tasks(resolved: ResolvedRecipe) -> list[TaskSpec]:
    """One task per input file, or per byte range of a huge file whose reader can split it."""
    runner = resolved.recipe.runner
    tasks = []
    for source in resolved.recipe.sources:
        reader = reader_for(source.kind)
        options = resolved.reader_options[source.name].model_dump(mode="json")
        for index, input_file in enumerate(resolved.inputs[source.name]):
            ranges = None
            if hasattr(reader, "split_ranges") and input_file.size_bytes > runner.split_bytes:
                ranges = reader.split_ranges(input_file.path, input_file.size_bytes, runner.split_bytes)
            for part, byte_range in enumerate(ranges or [None]):
                task_id = f"{source.name}.{index:05d}" + (f"-r{part:04d}" if ranges else "")
                tasks.append(TaskSpec(task_id, {
                    "task_id": task_id, "source": source.name, "kind": source.kind,
                    "path": input_file.path, "file_key": input_file.file_key,
                    "size_bytes": (byte_range[1] - byte_range[0]) if byte_range else input_file.size_bytes,
                    "byte_range": list(byte_range) if byte_range else None,
                    "options": options, "batch_size": runner.batch_size,
                }))
    return tasks


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


def remove_stale_temporaries(run: RunDir) -> None:
    """Delete half-written `*.tmp-*` files a killed run left behind (one build per run dir)."""
    for path in run.glob("**/*.tmp-*"):
        run.fs.rm(path)


def build(resolved: ResolvedRecipe, *, address: str | None = None, node_ip: str | None = None,
          console: Console | None = None, show_progress: bool = True,
          until: str | None = None) -> BuildResult:
    """Run the recipe's stages in order (through stage `until` only, when given)."""
    console = console or Console(stderr=True)
    run = RunDir(resolved.run_dir)
    remove_stale_temporaries(run)
    run.write_bytes("recipe.resolved.yaml", resolved.to_yaml().encode())
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    runner_config = resolved.recipe.runner
    results: list[StageResult] = []
    with Runner(address=address, num_cpus=runner_config.num_cpus,
                max_retries=runner_config.max_retries, console=console,
                show_progress=show_progress, node_ip=node_ip) as runner:
        tasks = extract_tasks(resolved)
        results.append(runner.run_stage(run.url, "extract", tasks, extract_task))
        for stage in later_stages(resolved):
            if until is not None and results[-1].stage == until:
                break
            results.append(stage(resolved, runner, run, results))
    remove_stale_temporaries(run)  # left by tasks whose worker died (their retries succeeded)
    summary = {r.stage: merge_stats(r.stats) for r in results}
    for stage, merged in summary.items():
        run.write_json(f"_stats/{stage}.json", merged)
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
    return BuildResult(run.url, results)


def later_stages(resolved: ResolvedRecipe) -> list:
    """Stages after extract, in order, each `fn(resolved, runner, run, results) -> StageResult`."""
    stages = []
    if resolved.sections.get("filter") is not None:
        stages += [run_annotate, run_filter]
    if resolved.recipe.tokenize is not None:
        stages.append(run_tokenize)
        if resolved.sections.get("mix") is not None:
            stages.append(run_mix)
    return stages


def _downstream(previous: StageResult, stage: str, extra: dict) -> list[TaskSpec]:
    """One task per part of the previous stage, same task id, chained to its fingerprint."""
    tasks = []
    for spec in previous.tasks:
        payload = {
            "task_id": spec.task_id, "source": spec.payload["source"], "kind": spec.payload["kind"],
            "input": part_path(previous.stage, spec.payload["source"], spec.task_id),
            "upstream": spec.fingerprint, **extra,
        }
        tasks.append(TaskSpec(spec.task_id, payload))
    return tasks


def _filter_settings(resolved: ResolvedRecipe, payload: dict):
    from pipelines.filters import settings_for

    return settings_for(resolved.sections["filter"], payload["source"], payload["kind"],
                        base_dir=resolved.base_dir)


def run_annotate(resolved, runner, run, results):
    from pipelines.stages.filtering import annotate_task

    # Only the settings that change scores: a threshold change leaves these tasks done.
    tasks = [TaskSpec(t.task_id, {**t.payload, "annotate": _filter_settings(resolved, t.payload)
                                  .annotate.model_dump(mode="json")})
             for t in _downstream(results[-1], "annotate", {})]
    return runner.run_stage(run.url, "annotate", tasks, annotate_task)


def run_filter(resolved, runner, run, results):
    from pipelines.stages.filtering import filter_task

    common = {"rejects_sample_rate": resolved.sections["filter"].rejects_sample_rate,
              "seed": resolved.recipe.seed}
    tasks = [TaskSpec(t.task_id, {**t.payload, "thresholds": _filter_settings(resolved, t.payload)
                                  .thresholds.model_dump(mode="json")})
             for t in _downstream(results[-1], "filter", common)]
    return runner.run_stage(run.url, "filter", tasks, filter_task)


def run_tokenize(resolved, runner, run, results):
    from pipelines.stages.tokenize import prepare_tokenizer, tokenize_task

    previous = results[-1]
    tok = resolved.recipe.tokenize
    for key in ("tokenizer", "tiktoken_ranks"):
        if getattr(tok, key) is not None:
            tok = tok.model_copy(update={key: str(resolved.resolve_path(getattr(tok, key)))})
    path = prepare_tokenizer(run, tok, previous, resolved.recipe.seed, runner)
    tokenizer = {"path": str(path), "sha256": file_sha256(path), "eos_token": tok.eos_token,
                 "tiktoken_ranks": tok.tiktoken_ranks}
    tasks = _downstream(previous, "tokenize", {"tokenizer": tokenizer})
    return runner.run_stage(run.url, "tokenize", tasks, tokenize_task)


def run_mix(resolved, runner, run, results):
    from pipelines.stages.mix import mix_task

    previous = results[-1]
    config = resolved.sections["mix"]
    if "seed" not in config.model_fields_set:
        config = config.model_copy(update={"seed": resolved.recipe.seed})
    parts: dict[str, list[str]] = {}
    for task in previous.tasks:
        parts.setdefault(task.payload["source"], []).append(part_path("tokenize", task.payload["source"], task.task_id))
    payload = {"task_id": "shards", "source": "_all", "kind": "mix", "mix": config.model_dump(mode="json"),
               "tokenizer": previous.tasks[0].payload["tokenizer"] if previous.tasks else None,
               "parts": parts, "upstream": [t.fingerprint for t in previous.tasks]}
    return runner.run_stage(run.url, "mix", [TaskSpec("shards", payload)], mix_task)


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
