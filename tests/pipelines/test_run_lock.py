"""One build per run directory: a second live `corpusmill build` is refused naming the holder; a
lock left by a killed build (dead pid here, or an expired heartbeat from another host) does not block.

The builds and holders are real processes; the run directory is real (local, and fsspec's
in-memory filesystem for the object-store branch, which has no O_EXCL)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pipelines.run_lock import LOCK_NAME, STALE_AFTER_SECONDS, RunDirLocked, RunLock, read_holder
from pipelines.rundir import RunDir

HOLD_SCRIPT = """
import sys, time
from pipelines.rundir import RunDir
from pipelines.run_lock import RunLock
lock = RunLock(RunDir(sys.argv[1])); lock.acquire()
print("held", flush=True)
time.sleep(600)
"""


def _recipe(tmp_path: Path, run_dir: Path, num_docs: int = 20) -> Path:
    data = tmp_path / "docs.jsonl"
    data.write_text("".join(json.dumps({"text": f"document number {i} " * 5}) + "\n" for i in range(num_docs)))
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({"run_dir": str(run_dir), "runner": {"num_cpus": 1},
                                    "sources": [{"name": "docs", "kind": "jsonl", "paths": [str(data)]}]}))
    return path


def _build(recipe: Path, **kwargs):
    return subprocess.run([sys.executable, "-m", "pipelines.cli", "build", str(recipe), "--no-progress"],
                          capture_output=True, text=True, timeout=300, **kwargs)


def _hold(run_dir: Path) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_SCRIPT, str(run_dir)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_build_into_a_held_run_dir_is_refused_naming_the_holder(tmp_path):
    run_dir = tmp_path / "run"
    recipe = _recipe(tmp_path, run_dir)
    first = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "build", str(recipe), "--no-progress"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (run_dir / LOCK_NAME).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    holder = json.loads((run_dir / LOCK_NAME).read_text())
    assert (holder["host"], holder["pid"]) == (socket.gethostname(), first.pid)

    second = _build(recipe)
    _, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err[-2000:]
    assert second.returncode == 1
    message = " ".join(second.stderr.split())
    assert f"host {socket.gethostname()}, pid {first.pid}, started {holder['started']}" in message
    assert "held by another build" in message
    assert not (run_dir / LOCK_NAME).exists()  # released when the first build finished
    assert (run_dir / "extract" / "docs" / "part-docs.00000.parquet").is_file()


def test_a_lock_left_by_a_killed_build_does_not_block(tmp_path):
    run_dir = tmp_path / "run"
    holder = _hold(run_dir)
    refused = _build(_recipe(tmp_path, run_dir))
    assert refused.returncode == 1 and f"pid {holder.pid}" in refused.stderr

    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert json.loads((run_dir / LOCK_NAME).read_text())["pid"] == holder.pid  # left behind
    done = _build(_recipe(tmp_path, run_dir))
    assert done.returncode == 0, done.stderr[-2000:]
    assert not (run_dir / LOCK_NAME).exists()
    assert json.loads((run_dir / "_stats" / "extract.json").read_text())["docs"]["num_docs_out"] == 20


def test_a_reused_pid_is_not_taken_for_the_holder(tmp_path):
    """A lock naming this host and a live pid whose process started at another time is stale."""
    run = RunDir(str(tmp_path / "run"))
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = {"host": socket.gethostname(), "pid": alive.pid, "process_start": "1",
                 "started": "2026-01-01T00:00:00+00:00", "heartbeat": time.time(), "token": "old"}
        run.write_bytes(LOCK_NAME, json.dumps(stale).encode())
        with RunLock(run) as lock:
            assert read_holder(run).token == lock.holder.token
            assert read_holder(run).pid == os.getpid()
        assert not run.exists(LOCK_NAME)
    finally:
        alive.kill()
        alive.wait()


@pytest.mark.parametrize("age_seconds, refused", [(5.0, True), (STALE_AFTER_SECONDS + 60, False)])
def test_a_holder_on_another_host_is_judged_by_its_heartbeat(age_seconds, refused):
    run = RunDir(f"memory://lock-test-{os.getpid()}-{int(age_seconds)}/run")
    other = {"host": "other-node.invalid", "pid": 4242, "process_start": None,
             "started": "2026-01-01T00:00:00+00:00", "heartbeat": time.time() - age_seconds, "token": "theirs"}
    run.write_bytes(LOCK_NAME, json.dumps(other).encode())
    if refused:
        with pytest.raises(RunDirLocked, match="host other-node.invalid, pid 4242, started 2026-01-01"):
            RunLock(run).acquire()
        assert read_holder(run).token == "theirs"
    else:
        with RunLock(run) as lock:
            assert read_holder(run).token == lock.holder.token
        assert not run.exists(LOCK_NAME)


def test_the_lock_is_released_when_the_build_fails(tmp_path):
    run_dir = tmp_path / "run"
    data = tmp_path / "not-a-dump.xml"
    data.write_text("plain text, not a MediaWiki dump\n")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"run_dir": str(run_dir), "runner": {"num_cpus": 1},
                                      "sources": [{"name": "wiki", "kind": "wikipedia", "paths": [str(data)]}]}))
    failed = _build(recipe)
    assert failed.returncode == 1 and "not a MediaWiki XML dump" in failed.stderr
    assert not (run_dir / LOCK_NAME).exists()
