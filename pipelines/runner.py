"""The Ray stage runner: the only module in corpusmill that imports ray.

A stage is a list of TaskSpecs (derived from the inputs alone, so identical on every run) and a task
function `fn(run_url, payload) -> stats` that writes its outputs atomically. The runner skips tasks
whose completion marker exists with the same fingerprint (resume, and zero work on a finished run),
runs the rest as Ray tasks with retries, writes per-task stats then the marker, and shows one rich
progress bar per stage.
"""
from __future__ import annotations

import logging
import os
import resource
import time
import traceback

import ray
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from corpora.schema import InputError
from pipelines.rundir import RunDir
from pipelines.stage import StageResult, TaskFn, TaskSpec, fingerprint_of, marker_path  # noqa: F401 (fingerprint_of: re-exported)

# Ray rewrites 127.0.0.1 to the machine's external interface; another loopback address keeps an
# embedded instance's traffic on this machine (DESIGN.md, "Known facts").
EMBEDDED_NODE_IP = "127.0.0.2"
# `runner.dashboard: true` starts Ray's dashboard here only: reach it from elsewhere through ssh -L.
DASHBOARD_HOST = "127.0.0.1"
# Ray's dashboard also serves Prometheus metrics, on every interface unless the node IP is exactly
# 127.0.0.1 (ours is EMBEDDED_NODE_IP). An embedded run has no Prometheus to scrape it, so that
# server is not started: a port it cannot bind makes Ray log the failure and go on without it.
DASHBOARD_METRICS_OFF = {"DASHBOARD_METRIC_PORT": "-1"}
# The key a task returns, instead of its stats, when its input needs the user (corpora.InputError).
INPUT_ERROR = "input_error"

# One task per core: libraries that spawn their own thread pools (HF tokenizers' rayon, BLAS)
# would otherwise oversubscribe the cores Ray already fills.
WORKER_RUNTIME_ENV = {"env_vars": {"RAYON_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
                                   "OMP_NUM_THREADS": "1"}}
# Object-store settings the driver has (endpoint, credentials, region, fsspec options) go to every
# worker on every node, so an s3:// run directory or input works the same there.
FORWARDED_ENV_PREFIXES = ("AWS_", "FSSPEC_", "CORPUSMILL_CACHE")


def worker_runtime_env() -> dict:
    forwarded = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV_PREFIXES)}
    return {"env_vars": {**forwarded, **WORKER_RUNTIME_ENV["env_vars"]}}

RAY_TOKEN_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"
# Progress-bar labels share one width so the bars line up (`tokenizer-sample` and dedup's phases
# are the longest names).
STAGE_LABEL_WIDTH = 18


class StageFailed(RuntimeError):
    pass


def _stats_path(stage: str, task_id: str) -> str:
    return f"_stats/{stage}/{task_id}.json"


def error_log_path(stage: str, task_id: str) -> str:
    """Where a failed task's full traceback is kept (its last failed attempt), relative to the run."""
    return f"_errors/{stage}/{task_id}.log"


def _execute(run_url: str, stage: str, task: TaskSpec, fingerprint: str, fn: TaskFn) -> dict:
    started = time.perf_counter()
    run = RunDir(run_url)
    try:
        stats = fn(run_url, task.payload)
    except InputError as error:  # the input or the recipe is wrong: a retry would fail the same way
        run.write_bytes(error_log_path(stage, task.task_id), traceback.format_exc().encode())
        return {INPUT_ERROR: f"{type(error).__name__}: {error}"}
    except Exception:
        run.write_bytes(error_log_path(stage, task.task_id), traceback.format_exc().encode())
        raise  # Ray retries it
    if run.exists(error_log_path(stage, task.task_id)):  # an earlier attempt failed; this one did not
        run.fs.rm(run.path(error_log_path(stage, task.task_id)))
    stats = {"stage": stage, "task": task.task_id, **stats,
             "seconds": round(time.perf_counter() - started, 3),
             "node_ip": ray.util.get_node_ip_address(),
             # The worker process's peak so far (Linux: KiB), for benchmarks/bench_scaling.py.
             "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    run.write_json(_stats_path(stage, task.task_id), stats)
    run.write_bytes(marker_path(stage, task.task_id), fingerprint.encode())  # last: the task is done
    return stats


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""


class Runner:
    """Runs stages on an embedded Ray instance (default) or a cluster (`address`)."""

    def __init__(self, *, address: str | None = None, num_cpus: int | None = None,
                 max_retries: int = 3, console: Console | None = None, show_progress: bool = True,
                 node_ip: str | None = None, dashboard: bool = False):
        self.address = address
        self.dashboard = dashboard
        self.node_ip = node_ip
        self.num_cpus = num_cpus
        self.max_retries = max_retries
        self.console = console or Console(stderr=True)
        self.show_progress = show_progress
        self._started_ray = False

    def __enter__(self) -> "Runner":
        if not ray.is_initialized():
            if self.address:
                extra = {"_node_ip_address": self.node_ip} if self.node_ip else {}
                ray.init(address=self.address, log_to_driver=True, runtime_env=worker_runtime_env(), **extra)
            else:
                # Ray turns token authentication on for a new local instance (good: other local
                # users cannot submit code to it) and warns about that, with a link, on every run;
                # the warning is for cluster operators, so an embedded instance starts quietly.
                logging.getLogger(RAY_TOKEN_AUTH_LOGGER).setLevel(logging.ERROR)
                # The dashboard (off unless asked for) accepts job submissions: loopback only.
                saved_env = {name: os.environ.get(name) for name in DASHBOARD_METRICS_OFF}
                os.environ.update(DASHBOARD_METRICS_OFF if self.dashboard else {})  # Ray's processes inherit it
                try:
                    ray.init(num_cpus=self.num_cpus, include_dashboard=self.dashboard, dashboard_host=DASHBOARD_HOST,
                             runtime_env=worker_runtime_env(),
                             _node_ip_address=EMBEDDED_NODE_IP, log_to_driver=True, logging_level=logging.WARNING)
                except Exception as error:
                    if self.dashboard and "missing packages" in str(error):
                        raise RuntimeError("runner.dashboard: Ray's dashboard needs its packages: "
                                           "pip install 'ray[default]' (or set runner.dashboard: false)") from None
                    raise
                finally:
                    for name, value in saved_env.items():
                        if value is None:
                            os.environ.pop(name, None)
                        else:
                            os.environ[name] = value
            self._started_ray = True
        return self

    def __exit__(self, *exc) -> None:
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False

    def execute_stage(self, run_url: str, stage: str, tasks: list[TaskSpec], fn: TaskFn) -> StageResult:
        started = time.perf_counter()
        run = RunDir(run_url)
        ids = [t.task_id for t in tasks]
        if len(set(ids)) != len(ids):
            raise ValueError(f"stage {stage}: task ids are not unique")
        pending, done_stats = [], []
        for task in tasks:
            marker = marker_path(stage, task.task_id)
            if run.exists(marker) and run.fs.cat_file(run.path(marker)).decode() == task.fingerprint:
                done_stats.append(run.read_json(_stats_path(stage, task.task_id)))
            else:
                pending.append(task)

        remote = ray.remote(max_retries=self.max_retries, retry_exceptions=True)(_execute)
        futures = {remote.remote(run_url, stage, t, t.fingerprint, fn): t for t in pending}
        failures: list[str] = []
        with Progress(TextColumn(f"[bold]{stage:<{STAGE_LABEL_WIDTH}}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), TextColumn("{task.fields[note]}"),
                      console=self.console, disable=not self.show_progress) as progress:
            bar = progress.add_task(stage, total=len(tasks), completed=len(done_stats),
                                    note=f"{len(done_stats)} already done" if done_stats else "")
            waiting = list(futures)
            while waiting:
                ready, waiting = ray.wait(waiting, num_returns=1)
                for ref in ready:
                    try:
                        stats = ray.get(ref)
                        if INPUT_ERROR in stats:
                            failures.append(f"{futures[ref].task_id}: {stats[INPUT_ERROR]} (not retried; "
                                        f"traceback: {run.path(error_log_path(stage, futures[ref].task_id))})")
                        else:
                            done_stats.append(stats)
                    except Exception as error:  # after retries: keep going, report at the end
                        cause = getattr(error, "cause", None) or error
                        log = run.path(error_log_path(stage, futures[ref].task_id))
                        failures.append(f"{futures[ref].task_id}: {type(cause).__name__}: {_first_line(cause)} "
                                        f"(full traceback: {log})")
                    progress.advance(bar)
        if failures:
            raise StageFailed(
                f"stage {stage}: {len(failures)} of {len(tasks)} tasks failed (after {self.max_retries} "
                f"retries, input errors at once; finished tasks are kept; fix and rerun to resume):\n  "
                + "\n  ".join(failures)
            )
        order = {task_id: i for i, task_id in enumerate(ids)}
        done_stats.sort(key=lambda s: order.get(s["task"], len(order)))
        return StageResult(stage, len(pending), len(tasks) - len(pending), done_stats,
                           time.perf_counter() - started, list(tasks))

