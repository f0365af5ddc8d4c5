"""Faults at every stage: a build killed anywhere resumes to outputs byte-identical to an undisturbed one.

One undisturbed baseline build (embedded Ray) over real stdlib code with every stage on: extract,
annotate, filter, every dedup phase, tokenizer-sample + tokenizer training, tokenize, mix (plan,
scatter, shards). Phases are found from the baseline run (its `_done/<phase>/` folders, in the
order their first marker appeared), so new stages and phases are covered without editing this file.

The phases of this corpus last milliseconds, so the kills do not poll and hope: the builds run
through tests/pipelines/held_build.py (the real build plus fault-injection points), which holds a
phase's tasks after their outputs are written and before their markers, and announces each held
task with a file. A kill lands once a held task is announced: every phase is hit, every time.

- the driver matrix: one run directory; for each phase in turn a build is started with that
  phase's tasks held (one in two; the driver itself for the tokenizer's training), SIGKILLed once
  one is held, and restarted for the next phase. After each kill the phases already complete are
  compared with the baseline byte for byte, and the final run whole. Every kill also checks that
  the killed driver's own Ray processes (raylet, GCS, workers, agents) exit by themselves.
- the worker-node matrix: one build on a 2-node loopback cluster, paused before each multi-task
  phase while a fresh worker node joins (told apart by its new node id), then run with every task
  that lands on the worker node held; the worker node (raylet, workers and all) is SIGKILLed once
  one of them is held, and the phase finishes on the head. The final output is compared whole.
- a crash between an output and its marker, and a half-written object: neither is taken as done.
Slow: marked `slow`.
"""
from __future__ import annotations

import filecmp
import importlib.util
import json
import os
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest
import yaml

STDLIB = Path(sysconfig.get_paths()["stdlib"])
PACKAGES = ["json", "email", "http", "logging", "unittest", "asyncio", "importlib", "xml"]
REPO = Path(__file__).resolve().parents[2]
HELD_BUILD = Path(__file__).with_name("held_build.py")
# Files whose bytes legitimately differ between runs: timings, the command line, per-task stats
# (seconds, node ip, peak RSS), error logs of retried tasks, and the report built from them.
VOLATILE = ("run.json", "_stats/", "_errors/", "report/", "recipe.resolved.yaml")
# Steps that run on the driver only, after their phase's tasks: killing a worker node there is moot.
DRIVER_ONLY = {"tokenizer"}
WORKER_IP = "127.0.0.3"
# Ray's GCS declares a node dead after `health_check_failure_threshold` failed health checks sent
# every `health_check_period_ms` (defaults 5 and 3,000 ms: RayConfig, ray/common/ray_config_def.h,
# read from RAY_<name> environment variables by the head). A killed raylet refuses the check at
# once, so the test cluster's head declares it dead in ~3 s; a live but busy raylet still has the
# default 10 s per check (health_check_timeout_ms, unchanged) times 3 before it could be mistaken.
FAST_NODE_DEATH_ENV = {"RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "3"}
# The killed node is declared dead well within this (measured ~3 s); if not, the build goes on
# anyway (Ray retries tasks sent to a dead node elsewhere) and the test says so in its output.
NODE_DEATH_WAIT_SECONDS = 60
NEW_NODE_WAIT_SECONDS = 120
HOLD_WAIT_SECONDS = 300

_spec = importlib.util.spec_from_file_location("multinode_helpers", Path(__file__).with_name("test_multinode.py"))
multinode = importlib.util.module_from_spec(_spec)
sys.modules["multinode_helpers"] = multinode
_spec.loader.exec_module(multinode)


def write_recipe(path: Path, run_dir: Path) -> Path:
    recipe = {
        "run_dir": str(run_dir), "seed": 3,
        "sources": [{"name": "stdlib", "kind": "code", "paths": [str(STDLIB / p) for p in PACKAGES]}],
        "runner": {"num_cpus": 2, "batch_size": 100},
        "filter": {},
        "tokenize": {"train": {"vocab_size": 2000, "kind": "bpe", "sample_docs": 400}},
        "mix": {"natural": True, "shard_tokens": 150_000, "val_fraction": 0.05},
    }
    from pipelines.stages import STAGES_BY_NAME

    dedup = STAGES_BY_NAME.get("dedup")
    if dedup is not None and dedup.section:  # every dedup phase joins the matrix once the stage exists
        recipe[dedup.section] = {}
    path.write_text(yaml.safe_dump(recipe))
    return path


def _command(recipe: Path, address: str | None = None, *, held: bool = False) -> list[str]:
    extra = ["--address", address, "--node-ip", "127.0.0.2"] if address else []
    entry = [str(HELD_BUILD)] if held else ["-m", "pipelines.cli"]
    return [sys.executable, *entry, "build", str(recipe), "--no-progress", *extra]


def _env(**extra: str) -> dict:
    # held_build.py is run as a script: the repository goes on the path for its imports (and its
    # Ray workers', which inherit the driver's or the node's environment).
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "RAY_AUTH_MODE": "token", "PYTHONPATH": path, **extra}


def _files(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*")) if p.is_file()}


def differing(baseline: Path, run: Path, prefixes: tuple[str, ...] | None = None) -> list[str]:
    """Paths whose bytes differ (or exist on one side only), outside VOLATILE, under `prefixes`.
    A file naming its own run directory (the mix plan's part paths) is compared with that name
    replaced; completion markers hold fingerprints of payloads that carry such paths, so for
    `_done/` only the set of names is compared."""
    a, b = _files(baseline), _files(run)
    keep = lambda rel: not rel.startswith(VOLATILE) and (prefixes is None or rel.startswith(prefixes))  # noqa: E731
    names = sorted({r for r in a if keep(r)} | {r for r in b if keep(r)})

    def same(rel: str) -> bool:
        if rel.startswith("_done/") or filecmp.cmp(a[rel], b[rel], shallow=False):
            return True
        return (a[rel].read_bytes().replace(str(baseline).encode(), b"RUN")
                == b[rel].read_bytes().replace(str(run).encode(), b"RUN"))

    return [r for r in names if r not in a or r not in b or not same(r)]


def phase_order(run: Path) -> list[str]:
    done = run / "_done"
    first = {d.name: min(p.stat().st_mtime for p in d.iterdir()) for d in done.iterdir() if any(d.iterdir())}
    return sorted(first, key=first.get)


def _num_done(run: Path, phase: str) -> int:
    folder = run / "_done" / phase
    return len(os.listdir(folder)) if folder.is_dir() else 0


def wait_for_hold(hold_dir: Path, process: subprocess.Popen, pattern: str = "*", *,
                  complete=lambda: False, timeout: float = HOLD_WAIT_SECONDS) -> list[str]:
    """The announcements of held tasks (held_build.py) once there is one; [] if the build ended,
    `complete()` came true (the phase finished without a held task) or the time ran out first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None and not complete():
        held = sorted(p.name for p in hold_dir.glob(pattern)) if hold_dir.is_dir() else []
        if held:
            return held
        time.sleep(0.02)
    return []


def session_processes(session_id: int) -> dict[int, str]:
    """Pid -> command line of the live processes in a session (the driver was started as its leader)."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[3]) == session_id and fields[0] != "Z":
                found[int(entry)] = command
    return found


class NodeWatcher:
    """A driver connected to the test cluster for the whole test, answering "which nodes, alive
    or not" on request (one connection instead of a ~3 s `ray.init` per question). Nodes are told
    apart by node id: a worker node started anew has a new id, whatever its address."""

    PREFIX = "answer: "  # Ray may print its own lines (cluster events) to the same stdout
    PROBE = ("import json, sys, ray\n"
             "from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy as On\n"
             "ray.init(address=sys.argv[1], _node_ip_address='127.0.0.2', log_to_driver=False, logging_level='ERROR')\n"
             "where = ray.remote(num_cpus=1)(lambda: ray.util.get_node_ip_address())\n"
             "for line in sys.stdin:\n"
             "    node = line.strip()\n"
             "    answer = ray.get(where.options(scheduling_strategy=On(node, soft=False)).remote(), timeout=120) if node else "
             "[[n['NodeID'], n['NodeManagerAddress'], n['Alive']] for n in ray.nodes()]\n"
             f"    print({PREFIX!r} + json.dumps(answer), flush=True)\n")

    def __init__(self, address: str):
        self.process = subprocess.Popen([sys.executable, "-c", self.PROBE, address], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_env())

    def _ask(self, question: str):
        self.process.stdin.write(question + "\n")
        self.process.stdin.flush()
        while True:
            line = self.process.stdout.readline()
            assert line, f"the node watcher exited ({self.process.poll()})"
            if line.startswith(self.PREFIX):
                return json.loads(line.removeprefix(self.PREFIX))

    def nodes(self) -> dict[str, tuple[str, bool]]:
        """Node id -> (ip, alive), as the head's GCS sees them now."""
        return {node_id: (ip, alive) for node_id, ip, alive in self._ask("")}

    def run_a_task_on(self, node_id: str) -> str:
        """Run a task pinned to the node and return the ip it ran at: once it has, the head's
        scheduler knows the node's resources and the build's tasks can go there too."""
        return self._ask(node_id)

    def wait_for_new_node(self, ip: str, known: set[str], timeout: float = NEW_NODE_WAIT_SECONDS) -> str:
        """The id of the node at `ip` that is alive and not in `known` (a freshly started one)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            fresh = [i for i, (node_ip, alive) in self.nodes().items() if node_ip == ip and alive and i not in known]
            if fresh:
                return fresh[0]
            time.sleep(0.2)
        raise AssertionError(f"no new node at {ip} joined within {timeout} s (known: {sorted(known)})")

    def seconds_until_dead(self, node_id: str, timeout: float = NODE_DEATH_WAIT_SECONDS) -> float | None:
        """Wait until the GCS declares `node_id` dead; the seconds waited, or None at the timeout."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if not self.nodes().get(node_id, ("", False))[1]:
                return round(time.monotonic() - started, 1)
            time.sleep(0.2)
        return None

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("baseline")
    run = root / "run"
    done = subprocess.run(_command(write_recipe(root / "recipe.yaml", run)), capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    totals = {phase: _num_done(run, phase) for phase in phase_order(run)}
    totals["tokenizer"] = 1
    return run, totals


def _phases(totals: dict) -> list[str]:
    order = [p for p in totals if p != "tokenizer"]
    if "tokenizer-sample" in order:  # the driver trains right after its sample phase
        order.insert(order.index("tokenizer-sample") + 1, "tokenizer")
    return order


class KilledSessions:
    """The Ray processes of each killed driver (its session: GCS, raylet, workers, agents), and
    when each session was seen empty. Checked between kills and at the end rather than waited for
    after each kill: Ray's agents take up to ~60 s to notice their raylet is gone."""

    def __init__(self):
        self.members: dict[str, tuple[int, float, dict[int, str]]] = {}  # phase -> (session, killed at, pid -> command)
        self.seconds_to_gone: dict[str, float] = {}

    def killed(self, phase: str, session: int, members: dict[int, str], killed_at: float) -> None:
        self.members[phase] = (session, killed_at, members)

    def left(self) -> dict[str, dict[int, str]]:
        """Per phase, the killed driver's processes still running (none once seen gone)."""
        now, out = time.monotonic(), {}
        for phase, (session, killed_at, members) in self.members.items():
            if phase in self.seconds_to_gone:
                continue
            running = set(members) & set(session_processes(session))
            if running:
                out[phase] = {pid: members[pid][:120] for pid in running}
            else:
                self.seconds_to_gone[phase] = round(now - killed_at, 1)  # at most this long
        return out

    def wait_until_gone(self, timeout: float) -> dict[str, dict[int, str]]:
        deadline = time.monotonic() + timeout
        while (left := self.left()) and time.monotonic() < deadline:
            time.sleep(0.5)
        return left


@pytest.mark.slow
def test_killing_the_driver_during_each_phase_then_rerunning_gives_identical_outputs(baseline, tmp_path):
    base, totals = baseline
    run = tmp_path / "run"
    recipe = write_recipe(tmp_path / "recipe.yaml", run)
    phases = _phases(totals)
    matrix, sessions = {}, KilledSessions()
    for i, phase in enumerate(phases):
        hold_dir = tmp_path / "held" / phase
        process = subprocess.Popen(_command(recipe, held=True), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   start_new_session=True, env=_env(CORPUSMILL_HOLD_PHASE=phase,
                                                                    CORPUSMILL_HOLD_DIR=str(hold_dir)))
        held = wait_for_hold(hold_dir, process)
        if not held:
            process.kill()
            _, stderr = process.communicate(timeout=120)
            pytest.fail(f"{phase}: no task of it was held (build exit {process.returncode}): {stderr[-2000:]!r}")
        members = session_processes(process.pid)
        commands = " ".join(members.values())
        # The check of what a killed driver leaves must see the Ray processes it started.
        assert "raylet" in commands and "gcs_server" in commands, commands[:2000]
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=120)
        sessions.killed(phase, process.pid, members, time.monotonic())
        complete = tuple(f"{p}/" for p in phases[:i] if p != "tokenizer")
        matrix[phase] = differing(base, run, complete)
        sessions.left()
    final = subprocess.run(_command(recipe), capture_output=True, text=True, timeout=900, env=_env())
    assert final.returncode == 0, final.stderr[-3000:]
    left = sessions.wait_until_gone(timeout=180)
    print(f"\ndriver kills (phase -> files differing from the baseline among the phases complete before it): "
          f"{json.dumps(matrix)}\nkilled driver's Ray processes all gone within (s, an upper bound): "
          f"{json.dumps(sessions.seconds_to_gone)}")
    assert left == {}, f"Ray processes of killed drivers still running: {left}"
    assert matrix == {phase: [] for phase in phases}
    assert differing(base, run) == []
    assert list(run.rglob("*.tmp-*")) == []


@pytest.mark.slow
def test_killing_the_worker_node_during_each_phase_gives_identical_outputs(baseline, tmp_path):
    base, totals = baseline
    run = tmp_path / "run"
    recipe = write_recipe(tmp_path / "recipe.yaml", run)
    phases = [p for p in _phases(totals) if p not in DRIVER_ONLY and totals[p] > 1]
    temp_dir = Path("/tmp") / f"cm-kill-{os.getpid()}"  # Ray's socket paths must stay short
    port = multinode._free_port()
    address = f"127.0.0.2:{port}"
    head = multinode._ray_node(["--head", "--node-ip-address=127.0.0.2", f"--port={port}",
                                "--include-dashboard=false"], temp_dir, env=FAST_NODE_DEATH_ENV)
    pause_dir, hold_dir = tmp_path / "pause", tmp_path / "held"
    pause_dir.mkdir()
    workers, build, watcher = [], None, None
    matrix, held_tasks, seconds_to_dead = {}, {}, {}
    try:
        multinode.wait_for_port("127.0.0.2", port)
        watcher = NodeWatcher(address)
        known = set(watcher.nodes())  # the head
        build = subprocess.Popen(_command(recipe, address, held=True), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True,
                                 env=_env(CORPUSMILL_HOLD_PHASE="*", CORPUSMILL_HOLD_NODE=WORKER_IP,
                                          CORPUSMILL_HOLD_DIR=str(hold_dir), CORPUSMILL_PAUSE_DIR=str(pause_dir),
                                          CORPUSMILL_PAUSE_PHASES=",".join(phases)))
        killed, worker = None, None  # the id of the worker node killed last; the live one's id
        start_worker = lambda: multinode._ray_node([f"--address={address}", f"--node-ip-address={WORKER_IP}"],  # noqa: E731
                                                   temp_dir)
        for phase in phases:
            deadline = time.monotonic() + HOLD_WAIT_SECONDS
            while not (pause_dir / f"ready-{phase}").exists():  # the driver waits before the phase
                assert build.poll() is None and time.monotonic() < deadline, f"the build did not reach {phase}"
                time.sleep(0.05)
            if worker is None:
                if killed is not None:  # the node killed before is declared dead first (bounded)
                    seconds_to_dead[phase] = watcher.seconds_until_dead(killed)
                if not workers or workers[-1].poll() is not None:
                    workers.append(start_worker())
                worker = watcher.wait_for_new_node(WORKER_IP, known)
                known.add(worker)
                assert watcher.run_a_task_on(worker) == WORKER_IP
            (pause_dir / f"go-{phase}").touch()
            held = wait_for_hold(hold_dir, build, f"{phase}--*--{WORKER_IP}",
                                 complete=lambda: _num_done(run, phase) == totals[phase])
            if held:  # one of the phase's tasks on the worker node has written its outputs, not its marker
                os.killpg(workers[-1].pid, signal.SIGKILL)  # the machine is gone: raylet, workers and all
                workers[-1].wait()
                matrix[phase] = _num_done(run, phase) < totals[phase]  # the phase was not complete
                held_tasks[phase] = len(held)
                killed, worker = worker, None
                if phase != phases[-1]:  # the next one starts joining while this phase ends
                    workers.append(start_worker())
            else:  # the scheduler sent none of this phase's tasks to the worker node: it serves the next
                matrix[phase] = None
        _, stderr = build.communicate(timeout=900)
        assert build.returncode == 0, stderr[-3000:]
    finally:
        if build is not None and build.poll() is None:
            build.kill()
        if watcher is not None:
            watcher.close()
        for process in (*workers, head):
            if process.poll() is None:
                multinode._stop(process)
        import shutil

        shutil.rmtree(temp_dir, ignore_errors=True)
    nodes = {json.loads(p.read_text()).get("node_ip") for p in (run / "_stats").glob("*/*.json")}
    print(f"\nworker-node kills (phase -> killed before the phase was complete; None: no task went to the worker "
          f"node): {json.dumps(matrix)}\nheld tasks on the killed node: {json.dumps(held_tasks)}\n"
          f"seconds until the node killed before was declared dead: {json.dumps(seconds_to_dead)}\n"
          f"nodes whose tasks finished: {sorted(n for n in nodes if n)}")
    assert differing(base, run) == []
    assert list(run.rglob("*.tmp-*")) == []
    hit = [phase for phase, value in matrix.items() if value]
    assert all(value is not False for value in matrix.values()), matrix
    assert len(hit) >= len(phases) - 2, matrix  # a phase the scheduler kept on the head is named above


@pytest.mark.slow
def test_an_output_without_its_marker_and_a_half_written_object_are_not_taken_as_done(baseline, tmp_path):
    """For one task of every phase: its output cut in half and its marker removed (a crash between
    the two writes), plus a half-written temporary beside it (an upload that never finished). The
    rerun redoes exactly those tasks and ends byte-identical, with no temporary left."""
    base, totals = baseline
    run = tmp_path / "run"
    import shutil

    shutil.copytree(base, run)
    recipe = write_recipe(tmp_path / "recipe.yaml", run)
    damaged = {}
    # tokenizer-sample is left alone: with its inputs unchanged the trained tokenizer is reused and
    # the sample phase does not run again (its parts are not read).
    for phase in (p for p in totals if p not in ("tokenizer", "tokenizer-sample")):
        marker = sorted((run / "_done" / phase).iterdir())[-1]
        outputs = [p for p in (run / phase).rglob(f"part-{marker.name}.parquet")] if (run / phase).is_dir() else []
        outputs += [p for p in (run / "shards").glob(f"{marker.name}.arrow")] if phase == "mix" else []
        outputs += [run / "mix-staging" / "plan.json"] if phase == "mix-plan" else []
        for output in outputs:
            data = output.read_bytes()
            output.write_bytes(data[: len(data) // 2])
            output.with_name(output.name + ".tmp-deadbeef").write_bytes(data[: len(data) // 3])
        marker.unlink()
        damaged[phase] = (marker.name, [str(o.relative_to(run)) for o in outputs])
    rerun = subprocess.run(_command(recipe), capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    executed = json.loads((run / "run.json").read_text())["stages"]
    print(f"\ndamaged: {json.dumps(damaged)}\nrerun executed: {json.dumps(executed)}")
    for phase in damaged:
        assert executed[phase]["tasks_executed"] >= 1, phase  # not taken as done
    assert sum(len(outputs) for _, outputs in damaged.values()) >= 6
    assert differing(base, run) == []
    assert list(run.rglob("*.tmp-*")) == []
