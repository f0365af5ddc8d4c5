"""`corpusmill build` with fault-injection points, so that a kill test hits each phase for sure.

The build phases of a small corpus last milliseconds (a dedup round is 16 tasks in ~50 ms), so a
test that polls the run directory and kills "when a phase is under way" misses most of them. Run
as `python tests/pipelines/held_build.py build recipe.yaml ...` (the arguments of `corpusmill`),
this is the real build with two additions, both driven by environment variables:

- CORPUSMILL_HOLD_PHASE=<phase> (or `*`: every phase): a task of that phase, once its worker
  function has returned (its outputs are written), announces itself with an empty file
  `<CORPUSMILL_HOLD_DIR>/<phase>--<task>--<node ip>` and sleeps before the runner writes its stats
  and marker. Killed there, it is the crash between an output and its marker. Which tasks hold:
  with CORPUSMILL_HOLD_NODE=<ip>, every task on that node and none elsewhere (a task elsewhere
  waits, up to OTHER_NODES_WAIT_SECONDS, until one is held there: a phase of tiny tasks would
  otherwise be over on the head before the other node has started a worker process for the
  build); without it, one task in two (by task id), so a kill lands with part of the phase done. `tokenizer` holds the driver
  right after training, before the tokenizer is written into the run.
- CORPUSMILL_PAUSE_DIR=<dir>, CORPUSMILL_PAUSE_PHASES=<a,b,...>: before each listed phase the
  driver writes `<dir>/ready-<phase>` and waits for `<dir>/go-<phase>` (the test sets up a fresh
  worker node meanwhile).

Nothing here changes what a task writes: outputs stay byte-identical to a plain build's.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import time
from pathlib import Path

# A held task waits for its kill; this cap only keeps a forgotten process from living forever.
MAX_HOLD_SECONDS = 600
OTHER_NODES_WAIT_SECONDS = 20


def _announce(hold_dir: str, phase: str, task_id: str, node_ip: str) -> None:
    Path(hold_dir).mkdir(parents=True, exist_ok=True)
    Path(hold_dir, f"{phase}--{task_id}--{node_ip}").touch()


def _holds(task_id: str, node_ip: str, hold_node: str | None, num_tasks: int) -> bool:
    if hold_node:
        return node_ip == hold_node
    return num_tasks == 1 or int(hashlib.sha256(task_id.encode()).hexdigest(), 16) % 2 == 1


def held_task(fn, phase: str, hold_dir: str, hold_node: str | None, num_tasks: int, run_url: str,
              payload: dict) -> dict:
    """Runs on a worker: the real task function, then (if this task holds) announce and sleep."""
    import ray  # the test harness may; the product's worker functions never do

    stats = fn(run_url, payload)
    node_ip = ray.util.get_node_ip_address()
    task_id = str(payload.get("task_id") or hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12])
    if _holds(task_id, node_ip, hold_node, num_tasks):
        _announce(hold_dir, phase, task_id, node_ip)
        time.sleep(MAX_HOLD_SECONDS)
    elif hold_node:
        deadline = time.monotonic() + OTHER_NODES_WAIT_SECONDS
        while time.monotonic() < deadline and not list(Path(hold_dir).glob(f"{phase}--*--{hold_node}")):
            time.sleep(0.05)
    return stats


def _install() -> None:
    from pipelines import runner
    from pipelines.stages import tokenizer as tokenizer_stage

    hold_phase = os.environ.get("CORPUSMILL_HOLD_PHASE")
    hold_dir = os.environ.get("CORPUSMILL_HOLD_DIR", "")
    hold_node = os.environ.get("CORPUSMILL_HOLD_NODE") or None
    pause_dir = os.environ.get("CORPUSMILL_PAUSE_DIR")
    pause_phases = set(filter(None, os.environ.get("CORPUSMILL_PAUSE_PHASES", "").split(",")))
    execute_stage = runner.Runner.execute_stage

    def patched_execute_stage(self, run_url, stage, tasks, fn):
        if pause_dir and stage in pause_phases:
            Path(pause_dir, f"ready-{stage}").touch()
            while not Path(pause_dir, f"go-{stage}").exists():
                time.sleep(0.05)
        if hold_phase in ("*", stage):
            fn = functools.partial(held_task, fn, stage, hold_dir, hold_node, len(tasks))
        return execute_stage(self, run_url, stage, tasks, fn)

    runner.Runner.execute_stage = patched_execute_stage
    if hold_phase == "tokenizer":
        train_tokenizer = tokenizer_stage.train_tokenizer

        def held_training(*args, **kwargs):
            result = train_tokenizer(*args, **kwargs)
            _announce(hold_dir, "tokenizer", "train", "driver")
            time.sleep(MAX_HOLD_SECONDS)
            return result

        tokenizer_stage.train_tokenizer = held_training


if __name__ == "__main__":
    _install()
    from pipelines.cli import main

    sys.exit(main())
