"""The Ray runner: markers, resume, fingerprints, retries, failure reporting (real Ray)."""
from __future__ import annotations

import json
import os
import sys

import cloudpickle
import pytest

from pipelines.runner import StageFailed, TaskSpec, fingerprint_of

# Task functions defined here travel to Ray workers by value (the test module is not importable there).
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def write_square(run_url: str, payload: dict) -> dict:
    from pipelines.rundir import RunDir

    run = RunDir(run_url)
    run.write_json(f"square/{payload['n']}.json", {"n": payload["n"], "square": payload["n"] ** 2})
    with open(os.path.join(payload["log_dir"], f"{payload['n']}-{os.getpid()}-{os.urandom(4).hex()}"), "w"):
        pass
    return {"source": "numbers", "num_docs_out": 1}


def flaky(run_url: str, payload: dict) -> dict:
    """Fails on its first attempt (a real worker-side exception), succeeds on the retry."""
    flag = os.path.join(payload["log_dir"], "attempted")
    if not os.path.exists(flag):
        open(flag, "w").close()
        raise RuntimeError("transient failure")
    return {"source": "numbers", "num_docs_out": 1}


def wrong_input(run_url: str, payload: dict) -> dict:
    """Counts its attempts, then refuses its input as the readers do (corpora.InputError)."""
    from corpora import InputError

    open(os.path.join(payload["log_dir"], f"attempt-{os.urandom(4).hex()}"), "w").close()
    raise InputError("x.jsonl: no record has the field 'text'; set text_field")


def always_fails(run_url: str, payload: dict) -> dict:
    if payload["n"] == 2:
        raise ValueError(f"bad input {payload['n']}")
    return {"source": "numbers", "num_docs_out": 1}


def _tasks(log_dir, count=4, version=1):
    return [TaskSpec(f"t{n}", {"n": n, "log_dir": str(log_dir), "version": version}) for n in range(count)]


def test_stage_writes_outputs_stats_and_markers_then_skips_on_rerun(ray_cluster, tmp_path):
    run, logs = tmp_path / "run", tmp_path / "logs"
    logs.mkdir()
    first = ray_cluster.execute_stage(str(run), "square", _tasks(logs), write_square)
    assert (first.num_executed, first.num_skipped) == (4, 0)
    assert [json.loads((run / "square" / f"{n}.json").read_text())["square"] for n in range(4)] == [0, 1, 4, 9]
    assert sorted(os.listdir(run / "_done" / "square")) == ["t0", "t1", "t2", "t3"]
    assert (run / "_done" / "square" / "t0").read_text() == _tasks(logs)[0].fingerprint
    stats = json.loads((run / "_stats" / "square" / "t3.json").read_text())
    assert (stats["task"], stats["stage"], stats["num_docs_out"]) == ("t3", "square", 1)
    assert len(os.listdir(logs)) == 4

    again = ray_cluster.execute_stage(str(run), "square", _tasks(logs), write_square)
    assert (again.num_executed, again.num_skipped) == (0, 4)
    assert len(os.listdir(logs)) == 4  # nothing ran
    assert [s["task"] for s in again.stats] == ["t0", "t1", "t2", "t3"]


def test_missing_marker_or_changed_fingerprint_reruns_only_those_tasks(ray_cluster, tmp_path):
    run, logs = tmp_path / "run", tmp_path / "logs"
    logs.mkdir()
    ray_cluster.execute_stage(str(run), "square", _tasks(logs), write_square)
    os.remove(run / "_done" / "square" / "t2")  # as if killed after the output, before the marker
    resumed = ray_cluster.execute_stage(str(run), "square", _tasks(logs), write_square)
    assert (resumed.num_executed, resumed.num_skipped) == (1, 3)
    assert sorted(name.split("-")[0] for name in os.listdir(logs)) == ["0", "1", "2", "2", "3"]
    changed = ray_cluster.execute_stage(str(run), "square", _tasks(logs, version=2), write_square)
    assert (changed.num_executed, changed.num_skipped) == (4, 0)


def test_failed_task_is_retried(ray_cluster, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    result = ray_cluster.execute_stage(str(tmp_path / "run"), "flaky", [TaskSpec("only", {"log_dir": str(logs)})],
                                   flaky)
    assert result.num_executed == 1
    assert (tmp_path / "run" / "_done" / "flaky" / "only").is_file()
    assert not (tmp_path / "run" / "_errors" / "flaky" / "only.log").exists()  # the retry succeeded


def test_a_task_failing_every_retry_names_itself_and_keeps_the_others(ray_cluster, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(StageFailed) as error:
        ray_cluster.execute_stage(str(run), "fails", _tasks(tmp_path), always_fails)
    log = run / "_errors" / "fails" / "t2.log"
    assert f"t2: ValueError: bad input 2 (full traceback: {log})" in str(error.value)
    assert "1 of 4 tasks failed" in str(error.value)
    traceback = log.read_text()
    assert traceback.startswith("Traceback (most recent call last):")
    assert "in always_fails" in traceback and traceback.rstrip().endswith("ValueError: bad input 2")
    assert sorted(os.listdir(run / "_errors" / "fails")) == ["t2.log"]
    assert sorted(os.listdir(run / "_done" / "fails")) == ["t0", "t1", "t3"]


def test_an_input_error_fails_at_once_with_its_message(ray_cluster, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    with pytest.raises(StageFailed) as error:
        ray_cluster.execute_stage(str(tmp_path / "run"), "extract", [TaskSpec("only", {"log_dir": str(logs)})],
                              wrong_input)
    log = tmp_path / "run" / "_errors" / "extract" / "only.log"
    assert ("only: InputError: x.jsonl: no record has the field 'text'; set text_field (not retried; "
            f"traceback: {log})") in str(error.value)
    assert log.read_text().rstrip().endswith("InputError: x.jsonl: no record has the field 'text'; set text_field")
    assert len(os.listdir(logs)) == 1  # one attempt: retrying cannot fix an input
    assert not (tmp_path / "run" / "_done" / "extract" / "only").exists()


def test_fingerprint_is_stable_and_sensitive():
    assert fingerprint_of("a", {"x": 1, "y": 2}) == fingerprint_of("a", {"y": 2, "x": 1})
    assert fingerprint_of("a", {"x": 1}) != fingerprint_of("a", {"x": 2})
