"""A killed build resumes to byte-identical outputs; a finished build reruns no task.

Runs `corpusmill build` as real subprocesses (each with its own embedded Ray) over real code from
the Python standard library, so it needs no shared data.
"""
from __future__ import annotations

import filecmp
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
PACKAGES = sorted(p.name for p in STDLIB.iterdir()
                  if p.is_dir() and (p / "__init__.py").is_file() and p.name not in {"test", "idlelib", "site-packages"})[:24]
# Files whose bytes legitimately differ between runs: timings and the command line.
VOLATILE = ("run.json", "_stats/", "report/")  # report/: names the run directory and when it was written


def _recipe(tmp_path: Path, name: str) -> Path:
    recipe = {
        "run_dir": str(tmp_path / name),
        "sources": [{"name": "stdlib", "kind": "code", "paths": [str(STDLIB / p) for p in PACKAGES]}],
        "runner": {"num_cpus": 1, "batch_size": 50},
        "dedup": False,  # extract's resume is under test here; dedup's is in test_dedup_stage.py
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def _build(recipe: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", "build", str(recipe), "--no-progress"],
                          capture_output=True, text=True, timeout=300)


def _files(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_sigkill_mid_stage_then_rerun_gives_byte_identical_outputs(tmp_path):
    reference = _recipe(tmp_path, "straight")
    assert _build(reference).returncode == 0

    killed = _recipe(tmp_path, "killed")
    done_dir = tmp_path / "killed" / "_done" / "extract"
    process = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "build", str(killed), "--no-progress"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if done_dir.is_dir() and len(os.listdir(done_dir)) >= 3:
            break
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)  # the driver only; its Ray workers are left to die on their own
    process.wait()
    num_done_at_kill = len(os.listdir(done_dir))
    assert 3 <= num_done_at_kill < len(PACKAGES), "the kill did not land mid-stage"

    rerun = _build(killed)
    assert rerun.returncode == 0, rerun.stderr
    run_json = yaml.safe_load((tmp_path / "killed" / "run.json").read_text())
    executed = run_json["stages"]["extract"]["tasks_executed"]
    assert 1 <= executed <= len(PACKAGES) - num_done_at_kill

    straight, resumed = _files(tmp_path / "straight"), _files(tmp_path / "killed")
    assert sorted(straight) == sorted(resumed)  # no stray temporary files either
    compared = [rel for rel in straight if not rel.startswith(VOLATILE)]
    assert len([r for r in compared if r.endswith(".parquet")]) == len(PACKAGES)
    mismatched = [rel for rel in compared if not filecmp.cmp(straight[rel], resumed[rel], shallow=False)]
    assert mismatched == [] or mismatched == ["recipe.resolved.yaml"]
    if mismatched:  # only the run directory's own name differs in the resolved recipe
        a = straight["recipe.resolved.yaml"].read_text().replace("straight", "X")
        b = resumed["recipe.resolved.yaml"].read_text().replace("killed", "X")
        assert a == b


@pytest.mark.slow
def test_rerunning_a_finished_build_executes_no_task(tmp_path):
    recipe = _recipe(tmp_path, "done")
    assert _build(recipe).returncode == 0
    before = {rel: p.read_bytes() for rel, p in _files(tmp_path / "done").items() if not rel.startswith(VOLATILE)}
    again = _build(recipe)
    assert again.returncode == 0, again.stderr
    run_json = yaml.safe_load((tmp_path / "done" / "run.json").read_text())
    assert {stage: info["tasks_executed"] for stage, info in run_json["stages"].items()} == {"extract": 0}
    assert run_json["stages"]["extract"]["tasks_skipped"] == len(PACKAGES)
    after = {rel: p.read_bytes() for rel, p in _files(tmp_path / "done").items() if not rel.startswith(VOLATILE)}
    assert after == before
