"""A finished run directory moved elsewhere resumes without rerunning anything: task fingerprints
hold the tokenizer's content hash and its place inside the run directory, never the run's
absolute path.

A real build (`corpusmill build` subprocesses, embedded Ray) over real Python standard-library
sources, with a tokenizer trained in the build, so it needs no shared data.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

STDLIB = Path(sysconfig.get_paths()["stdlib"])


def _recipe(tmp_path: Path, run_dir: Path) -> Path:
    recipe = {
        "run_dir": str(run_dir),
        "sources": [{"name": "stdlib", "kind": "code", "paths": [str(STDLIB / "json"), str(STDLIB / "email")]}],
        "runner": {"num_cpus": 1, "batch_size": 50},
        "dedup": False,
        "tokenize": {"train": {"vocab_size": 400}},
        "mix": {"natural": True, "val_fraction": 0.1},
    }
    path = tmp_path / f"{run_dir.name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def _build(recipe: Path) -> dict:
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "build", str(recipe), "--no-progress"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = Path(yaml.safe_load(recipe.read_text())["run_dir"])
    return json.loads((run_dir / "run.json").read_text())["stages"]


@pytest.mark.slow
def test_a_moved_run_directory_resumes_without_rerunning(tmp_path):
    first = _build(_recipe(tmp_path, tmp_path / "here"))
    assert first["tokenize"]["tasks_executed"] == 2 and first["mix"]["tasks_executed"] >= 1
    shards = {p.name: p.read_bytes() for p in sorted((tmp_path / "here" / "shards").rglob("*")) if p.is_file()}

    shutil.move(tmp_path / "here", tmp_path / "moved")
    after_move = _build(_recipe(tmp_path, tmp_path / "moved"))
    assert {stage: counts["tasks_executed"] for stage, counts in after_move.items()} == \
        {stage: 0 for stage in after_move}
    assert {p.name: p.read_bytes() for p in sorted((tmp_path / "moved" / "shards").rglob("*")) if p.is_file()} == shards
