"""dedup: exact + MinHash LSH across all sources, as phases of Ray tasks (no single-process step).

Reads `filter` (or what stands in for it), read by `tokenizer` and `tokenize`. On unless the recipe
says `dedup: false`. Phases, each with markers and stats per task (`_done/<phase>/<task>`,
`_stats/<phase>/<task>.json`): dedup.signature (one task per input part) -> dedup.candidates (one
per hash partition) -> [dedup.verify_send -> dedup.verify_check] -> dedup.round-0000, -0001, ...
until a round sends no label -> dedup.route -> dedup.clusters -> dedup (one task per input part,
same task ids as filter). The layout of `dedup/_work/` is in dedup_phases.py. A killed build
resumes in any phase: finished tasks are skipped by their markers, and every file a task writes has
a name fixed by its inputs, so a rerun task rewrites the same file.

The number of propagation rounds depends on the data, so `phases` yields phases one at a time:
each is planned after the one before it ran (build's loop consumes it lazily).

Keep rule (which document of a cluster stays): the source listed first in `dedup.source_priority`
(default: the recipe's order of sources), then the longest text, then the smallest document id.
"""
from __future__ import annotations

from typing import Iterator

from pipelines.dedup.config import DedupConfig
from pipelines.rundir import RunDir
from pipelines.stage import BuildContext, Phase, Stage, StageResult, TaskSpec, fingerprint_of, part_path
from pipelines.stages.dedup_clusters import apply_task, clusters_task, propagate_task, route_task
from pipelines.stages.dedup_phases import candidates_task, signature_task, verify_check_task, verify_send_task

WORK_ROOT = "dedup/_work"


class DedupDidNotConverge(RuntimeError):
    pass


def source_priorities(config: DedupConfig, source_names: list[str]) -> dict[str, int]:
    order = list(config.source_priority or [])
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


class DedupStage(Stage):
    name = "dedup"
    reads = "filter"
    section = "dedup"
    config_model = DedupConfig

    def enabled(self, resolved) -> bool:
        return self._config(resolved).enabled

    @staticmethod
    def _config(resolved) -> DedupConfig:
        return resolved.sections.get("dedup") or DedupConfig()  # on unless the recipe turns it off

    def phases(self, ctx: BuildContext) -> Iterator[Phase]:
        previous = ctx.input_of(self)
        num_documents = sum(s.get("num_docs_out", 0) for s in previous.stats)
        config = self._config(ctx.resolved).with_partitions_for(num_documents)
        priorities = source_priorities(config, [s.name for s in ctx.resolved.recipe.sources])
        generation = work_generation(config, priorities, previous)
        remove_other_generations(ctx.run, generation)
        common = {"config": config.model_dump(mode="json"), "work": f"{WORK_ROOT}/{generation}"}

        def per_part(extra: dict):
            return lambda c: [TaskSpec(spec.task_id, {
                "task_id": spec.task_id, "source": spec.payload["source"], "kind": spec.payload["kind"],
                "input": part_path(previous.stage, spec.payload["source"], spec.task_id),
                "priority": priorities[spec.payload["source"]], "upstream": spec.fingerprint, **common, **extra})
                for spec in previous.tasks]

        def per_partition(extra: dict | None = None):
            return lambda c: [TaskSpec(f"part-{p:05d}", {"partition": p, **common, **(extra or {})})
                              for p in range(config.num_partitions)]

        yield Phase("dedup.signature", per_part({}), signature_task)
        yield Phase("dedup.candidates", per_partition(), candidates_task)
        if config.verify_threshold is not None:
            yield Phase("dedup.verify_send", per_partition(), verify_send_task)
            yield Phase("dedup.verify_check", per_partition(), verify_check_task)
        final_iteration = None
        for iteration in range(config.max_iterations):
            name = f"dedup.round-{iteration:04d}"
            yield Phase(name, per_partition({"iteration": iteration}), propagate_task)
            if sum(s.get("num_messages", 0) for s in ctx.results[name].stats) == 0:
                final_iteration = iteration
                break
        if final_iteration is None:
            raise DedupDidNotConverge(
                f"dedup: connected components did not converge in {config.max_iterations} rounds of label "
                "propagation; raise `dedup.max_iterations` in the recipe and rerun (finished rounds are kept)")
        yield Phase("dedup.route", per_partition({"final_iteration": final_iteration}), route_task)
        yield Phase("dedup.clusters", per_partition(), clusters_task)
        yield Phase("dedup", per_part({}), apply_task)
