"""The stage protocol: what `corpusmill build` walks. No Ray here (only pipelines/runner.py imports it).

A stage is an object that names the stage it reads. `build` walks the explicit list
`pipelines.stages.STAGES` in order; for each enabled stage it runs the stage's phases one after the
other on the runner, then the stage's driver-side `finish`. Each phase is one `runner.execute_stage`
call: a list of TaskSpecs planned on the driver from results already in hand, and a worker
function `fn(run_url, payload) -> stats` that writes its outputs atomically and never imports Ray.
A phase's result is kept under the phase's name; a stage's last phase carries the stage's name, so
the next stage finds its input by name (`ctx.input_of(stage)`), never by position.

A disabled stage passes its input through: a stage reading `filter` reads `extract` when the
recipe has no `filter:` section, and a stage inserted later (say `dedup`, reading `filter`) is
skipped the same way when its section is absent.

Add a stage (one file + one line):
  1. `pipelines/stages/<name>.py` with a worker function and a `Stage` subclass:
         class DedupStage(Stage):
             name = "dedup"; reads = "filter"; section = "dedup"; config_model = DedupConfig
             worker = staticmethod(dedup_task)
             def plan(self, ctx):            # one task per input part, chained by fingerprint
                 return downstream_tasks(ctx.input_of(self), {"dedup": ctx.config(self).model_dump()})
  2. add an instance to `STAGES` in `pipelines/stages/__init__.py`, before the stages that read it,
     and point the next stage's `reads` at it.
  The recipe section is validated by `config_model` (pipelines.recipe collects them from STAGES).

Add a multi-phase stage (e.g. dedup's signatures -> buckets -> components -> selection): override
`phases(ctx)` to return `Phase`s in order; each phase plans from the results before it
(`ctx.results["<earlier phase>"]`), and the last one is named like the stage. Driver work between
phases (merging, thresholds, training) goes in a phase's `finish(ctx, result)`. See
`pipelines/stages/tokenizer.py` (a sample phase, then the tokenizer trained on the driver).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from rich.console import Console

    from pipelines.recipe import ResolvedRecipe
    from pipelines.rundir import RunDir

TaskFn = Callable[[str, dict], dict]


def fingerprint_of(*parts: Any) -> str:
    """A stable hash of JSON-able configuration (task payloads, filter settings)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class TaskSpec:
    task_id: str  # stable, path-safe; unique within a stage
    payload: dict  # a config, never a live object: it travels to a worker

    @property
    def fingerprint(self) -> str:
        """Everything the task's output depends on. Downstream payloads carry their upstream
        task's fingerprint, so a changed input reruns exactly the tasks it reaches."""
        return fingerprint_of(self.payload)


@dataclass
class StageResult:
    stage: str  # the phase's name (a one-phase stage: the stage's name)
    num_executed: int
    num_skipped: int
    stats: list[dict] = field(default_factory=list)  # per task, executed and skipped alike
    seconds: float = 0.0
    tasks: list[TaskSpec] = field(default_factory=list)  # what the next stage maps over


def marker_path(stage: str, task_id: str) -> str:
    """A task's completion marker (its fingerprint), written after its outputs: _done/<stage>/<task>."""
    return f"_done/{stage}/{task_id}"


def part_path(stage: str, source: str, task_id: str) -> str:
    """Where a stage's task writes its documents: <stage>/<source>/part-<task>.parquet."""
    return f"{stage}/{source}/part-{task_id}.parquet"


def downstream_tasks(previous: StageResult, extra: dict | None = None) -> list[TaskSpec]:
    """One task per part of `previous`, same task id, chained to its fingerprint."""
    tasks = []
    for spec in previous.tasks:
        payload = {
            "task_id": spec.task_id, "source": spec.payload["source"], "kind": spec.payload["kind"],
            "input": part_path(previous.stage, spec.payload["source"], spec.task_id),
            "upstream": spec.fingerprint, **(extra or {}),
        }
        tasks.append(TaskSpec(spec.task_id, payload))
    return tasks


@dataclass
class BuildContext:
    """What a stage's driver-side code sees: the recipe, the run directory, the results so far
    (by phase name), and values a stage hands to later stages (e.g. the tokenizer's settings)."""

    resolved: "ResolvedRecipe"
    run: "RunDir"
    console: "Console"
    results: dict[str, StageResult] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str | None] = field(default_factory=dict)  # enabled stage -> the stage it reads

    def config(self, stage: "Stage") -> BaseModel | None:
        """The stage's validated recipe section (None when absent)."""
        return self.resolved.sections.get(stage.section) if stage.section else None

    def input_of(self, stage: "Stage") -> StageResult:
        """The result of the stage `stage` reads (a disabled stage stands aside for its own input)."""
        name = self.inputs.get(stage.name)
        if name is None or name not in self.results:
            raise RuntimeError(f"stage {stage.name}: its input stage {stage.reads!r} has not run")
        return self.results[name]


@dataclass(frozen=True)
class Phase:
    """One runner call: tasks planned on the driver, run by `worker` on the workers."""

    name: str  # its directories in the run: <name>/, _done/<name>/, _stats/<name>/
    plan: Callable[[BuildContext], list[TaskSpec]]
    worker: TaskFn
    finish: Callable[[BuildContext, StageResult], None] | None = None  # driver work after the tasks


class Stage:
    """A build stage. Subclasses set the class attributes and `plan`, or override `phases`."""

    name: ClassVar[str]
    reads: ClassVar[str | None] = None  # the stage whose output this one reads
    section: ClassVar[str | None] = None  # the recipe section that configures (and enables) it
    config_model: ClassVar[type[BaseModel] | None] = None  # validates that section
    worker: ClassVar[TaskFn | None] = None

    def enabled(self, resolved: "ResolvedRecipe") -> bool:
        """Runs when its recipe section is present (a stage without a section always runs)."""
        return self.section is None or resolved.sections.get(self.section) is not None

    def plan(self, ctx: BuildContext) -> list[TaskSpec]:
        raise NotImplementedError(f"stage {self.name}: define plan() or phases()")

    def phases(self, ctx: BuildContext) -> list[Phase]:
        """The phases in order; the last is named like the stage. Default: one phase."""
        return [Phase(self.name, self.plan, type(self).worker)]

    def finish(self, ctx: BuildContext) -> None:
        """Driver-side work after the last phase (default: none)."""
