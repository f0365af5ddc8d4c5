"""dedup: exact + MinHash LSH across all sources, as phases of Ray tasks (no single-process step).

Runs after filter (or whatever stage precedes it) and before tokenize. Phases, each a list of tasks
with markers and stats (`_done/dedup.<phase>/<task>`, `_stats/dedup.<phase>/<task>.json`):
signature (one task per input part) -> candidates (one per hash partition) -> [verify_send ->
verify_check] -> propagate-0000, -0001, ... until a round sends no label -> route -> clusters ->
dedup (one task per input part, same task ids as filter). The layout of `dedup/_work/` is described
in dedup_phases.py. A killed run resumes in any phase: finished tasks are skipped by their markers
and every file a task writes has a name fixed by its inputs, so a rerun task rewrites the same file.

Keep rule (which document of a cluster stays): the source listed first in `dedup.source_priority`
(default: the recipe's order of sources), then the longest text, then the smallest document id.
"""
from __future__ import annotations

from pipelines.dedup.config import DedupConfig
from pipelines.rundir import RunDir
from pipelines.runner import StageResult, TaskSpec, fingerprint_of
from pipelines.stages.dedup_clusters import apply_task, clusters_task, propagate_task, route_task
from pipelines.stages.dedup_phases import candidates_task, signature_task, verify_check_task, verify_send_task
from pipelines.stages.extract import part_path

WORK_ROOT = "dedup/_work"


class DedupDidNotConverge(RuntimeError):
    pass


def source_priorities(config: DedupConfig, source_names: list[str]) -> dict[str, int]:
    order = list(config.source_priority or [])
    unknown = [name for name in order if name not in source_names]
    if unknown:
        raise ValueError(f"dedup.source_priority names unknown sources {unknown}; the sources are "
                         f"{', '.join(source_names)}")
    order += [name for name in source_names if name not in order]
    return {name: index for index, name in enumerate(order)}


def work_generation(config: DedupConfig, priorities: dict[str, int], previous: StageResult) -> str:
    """Fingerprint of everything dedup's output depends on; names the work directory."""
    return fingerprint_of(config.model_dump(mode="json"), priorities, previous.stage,
                          [(t.task_id, t.fingerprint) for t in previous.tasks])


def remove_other_generations(run: RunDir, keep: str) -> None:
    for path in run.glob(f"{WORK_ROOT}/*"):
        if path.rstrip("/").rsplit("/", 1)[-1] != keep:
            run.fs.rm(path, recursive=True)


def run_dedup(config: DedupConfig, source_names: list[str], runner, run: RunDir,
              previous: StageResult) -> tuple[StageResult, list[StageResult]]:
    """All phases in order; returns (the final `dedup` stage, the phases before it)."""
    priorities = source_priorities(config, source_names)
    generation = work_generation(config, priorities, previous)
    work = f"{WORK_ROOT}/{generation}"
    remove_other_generations(run, generation)
    common = {"config": config.model_dump(mode="json"), "work": work}
    phases: list[StageResult] = []

    def per_part(stage: str, fn, extra: dict) -> StageResult:
        tasks = [TaskSpec(spec.task_id, {
            "task_id": spec.task_id, "source": spec.payload["source"], "kind": spec.payload["kind"],
            "input": part_path(previous.stage, spec.payload["source"], spec.task_id),
            "priority": priorities[spec.payload["source"]], "upstream": spec.fingerprint, **common, **extra})
            for spec in previous.tasks]
        return runner.run_stage(run.url, stage, tasks, fn)

    def per_partition(stage: str, fn, extra: dict | None = None) -> StageResult:
        tasks = [TaskSpec(f"part-{p:05d}", {"partition": p, **common, **(extra or {})})
                 for p in range(config.num_partitions)]
        result = runner.run_stage(run.url, stage, tasks, fn)
        phases.append(result)
        return result

    phases.append(per_part("dedup.signature", signature_task, {}))
    per_partition("dedup.candidates", candidates_task)
    if config.verify_threshold is not None:
        per_partition("dedup.verify_send", verify_send_task)
        per_partition("dedup.verify_check", verify_check_task)
    final_iteration = None
    for iteration in range(config.max_iterations):
        result = per_partition(f"dedup.propagate-{iteration:04d}", propagate_task, {"iteration": iteration})
        if sum(s.get("num_messages", 0) for s in result.stats) == 0:
            final_iteration = iteration
            break
    if final_iteration is None:
        raise DedupDidNotConverge(
            f"dedup: connected components did not converge in {config.max_iterations} rounds of label "
            "propagation; raise `dedup.max_iterations` in the recipe and rerun (finished rounds are kept)")
    per_partition("dedup.route", route_task, {"final_iteration": final_iteration})
    per_partition("dedup.clusters", clusters_task)
    final = per_part("dedup", apply_task, {"clusters": phases[-1].tasks[0].fingerprint if phases[-1].tasks else None})
    return final, phases
