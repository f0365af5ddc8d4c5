"""Faults on a run directory on S3 (a real S3 server, moto's, on loopback: the `s3` fixture in
tests/pipelines/conftest.py): a part object without its completion marker, a multipart upload that
was never completed, a half-written temporary object, and a build SIGKILLed mid-stage. Each resumed
run is byte-identical to an undisturbed S3 run, and nothing half-written is taken as done.

The kills go through tests/pipelines/held_build.py (the real build, holding a phase's tasks after
their outputs are written and before their markers), so each lands mid-stage for sure."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HELD_BUILD = Path(__file__).with_name("held_build.py")
# Objects whose bytes legitimately differ between runs (timings, the command line, per-task stats,
# the report built from them, the lock naming its holder).
VOLATILE = ("run.json", "_stats/", "_errors/", "report/", "recipe.resolved.yaml", "_lock.json")
HOLD_WAIT_SECONDS = 300


def _env(s3_env: dict, **extra: str) -> dict:
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, **s3_env, "PYTHONPATH": path, **extra}


def _build(recipe: Path, *, held: bool = False) -> list[str]:
    entry = [str(HELD_BUILD)] if held else ["-m", "pipelines.cli"]
    return [sys.executable, *entry, "build", str(recipe), "--no-progress"]


def _objects(fs, prefix: str) -> dict[str, bytes]:
    fs.invalidate_cache()  # the builds (other processes) wrote since this process last listed
    return {path.removeprefix(prefix + "/"): fs.cat_file(path) for path in fs.find(prefix)}


def s3_differing(fs, baseline: dict[str, bytes], base: str, run: str) -> list[str]:
    """Keys (relative to the run) whose bytes differ between the baseline's objects (taken when
    it was built, under `base`) and a run's on the server, or that exist in one only, outside
    VOLATILE. An object naming its own run (the mix plan's part paths) is compared with that name
    replaced; for `_done/` markers (fingerprints of such payloads) only the set of names is compared."""
    a, b = baseline, _objects(fs, run)
    names = sorted({k for k in (*a, *b) if not k.startswith(VOLATILE)})

    def same(key: str) -> bool:
        return key.startswith("_done/") or a[key].replace(base.encode(), b"RUN") == b[key].replace(run.encode(), b"RUN")

    return [k for k in names if k not in a or k not in b or not same(k)]


def _unfinished_uploads(fs, prefix: str) -> list[str]:
    bucket, _, key_prefix = prefix.partition("/")
    page = fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=key_prefix + "/")
    return [upload["Key"] for upload in page.get("Uploads", [])]


def _start_unfinished_upload(fs, key: str, data: bytes) -> None:
    """Begin a multipart upload of `key` and send its first part, never completed nor aborted:
    what a writer killed mid-upload of a large object leaves on S3."""
    bucket, _, name = key.partition("/")
    upload = fs.call_s3("create_multipart_upload", Bucket=bucket, Key=name)
    fs.call_s3("upload_part", Bucket=bucket, Key=name, UploadId=upload["UploadId"], PartNumber=1, Body=data)


@pytest.fixture(scope="module")
def s3_baseline(s3, s3_inputs, s3_recipe, tmp_path_factory):
    """An undisturbed build into s3://corpus/faults-base."""
    fs, env = s3
    root = tmp_path_factory.mktemp("s3faults")
    recipe = s3_recipe(root / "base.yaml", "s3://corpus/faults-base", s3_inputs)
    done = subprocess.run(_build(recipe), capture_output=True, text=True, timeout=900, env=_env(env))
    assert done.returncode == 0, done.stderr[-3000:]
    return fs, env, s3_inputs, s3_recipe, _objects(fs, "corpus/faults-base")


def test_a_part_without_its_marker_and_an_unfinished_multipart_upload_are_not_taken_as_done(s3_baseline, tmp_path):
    fs, env, inputs, write_s3_recipe, baseline = s3_baseline
    # Damaged in place, then compared with its objects as first built.
    base = run = "corpus/faults-base"
    # (a) a crash between data and marker: the part is there (here cut short), its marker is not.
    extract_part = sorted(fs.glob(f"{run}/extract/*/part-*.parquet"))[0]
    data = fs.cat_file(extract_part)
    fs.pipe_file(extract_part, data[: len(data) // 2])
    fs.rm(f"{run}/_done/extract/{Path(extract_part).stem.removeprefix('part-')}")
    fs.pipe_file(f"{extract_part}.tmp-deadbeef", data[: len(data) // 3])  # a temporary cut short beside it
    # (b) a writer killed mid-upload: a multipart upload of the object begun, never completed; no
    # object and no marker. Once for a tokenized part and once for a shard.
    damaged = {"extract": extract_part}
    tokenized = sorted(fs.glob(f"{run}/tokenize/*/part-*.parquet"))[-1]
    # A mix task writes a bucket of shards and is named after its first one.
    bucket = Path(sorted(fs.ls(f"{run}/_done/mix"))[-1]).name
    for phase, key in (("tokenize", tokenized), ("mix", f"{run}/shards/{bucket}.arrow")):
        data = fs.cat_file(key)
        fs.rm(key)
        fs.rm(f"{run}/_done/{phase}/{Path(key).stem.removeprefix('part-')}")
        _start_unfinished_upload(fs, key, data[: len(data) // 2])
        damaged[phase] = key
    assert sorted(_unfinished_uploads(fs, run)) == sorted(damaged[p].partition("/")[2] for p in ("tokenize", "mix"))
    assert not fs.exists(damaged["tokenize"]) and not fs.exists(damaged["mix"])  # an unfinished upload is no object

    recipe = write_s3_recipe(tmp_path / "damaged.yaml", f"s3://{run}", inputs)  # the baseline's recipe
    done = subprocess.run(_build(recipe), capture_output=True, text=True, timeout=900, env=_env(env))
    assert done.returncode == 0, done.stderr[-3000:]
    executed = {stage: v["tasks_executed"] for stage, v in json.loads(fs.cat_file(f"{run}/run.json"))["stages"].items()}
    print(f"\ndamaged: {damaged}\nrerun executed: {executed}")
    assert executed["extract"] == 1 and executed["tokenize"] == 1 and executed["mix"] == 1  # exactly the damaged ones
    assert s3_differing(fs, baseline, base, run) == []
    fs.invalidate_cache()
    assert fs.glob(f"{run}/**/*.tmp-*") == []
    assert _unfinished_uploads(fs, run) == []  # aborted by the resumed build


@pytest.mark.slow
def test_a_build_into_s3_killed_mid_stage_resumes_byte_identical(s3_baseline, tmp_path):
    """SIGKILL of the driver during extract, tokenize and the mix's shard writing, each time with
    a task's output object written and its marker not; the final resumed run equals the baseline."""
    fs, env, inputs, write_s3_recipe, baseline = s3_baseline
    base, run = "corpus/faults-base", "corpus/faults-killed"
    recipe = write_s3_recipe(tmp_path / "killed.yaml", f"s3://{run}", inputs)
    num_markers = {}
    for phase in ("extract", "tokenize", "mix"):
        hold_dir = tmp_path / "held" / phase
        process = subprocess.Popen(_build(recipe, held=True), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   text=True, start_new_session=True,
                                   env=_env(env, CORPUSMILL_HOLD_PHASE=phase, CORPUSMILL_HOLD_DIR=str(hold_dir)))
        deadline = time.monotonic() + HOLD_WAIT_SECONDS
        while not (hold_dir.is_dir() and any(hold_dir.iterdir())):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"{phase}: no task was held (build exit {process.poll()}): {process.communicate()[1][-2000:]}")
            time.sleep(0.02)
        os.killpg(process.pid, signal.SIGKILL)  # the driver and the Ray it started
        process.communicate(timeout=120)
        fs.invalidate_cache()
        num_markers[phase] = len(fs.ls(f"{run}/_done/{phase}")) if fs.exists(f"{run}/_done/{phase}") else 0
        assert num_markers[phase] < sum(k.startswith(f"_done/{phase}/") for k in baseline), phase  # mid-stage
    final = subprocess.run(_build(recipe), capture_output=True, text=True, timeout=900, env=_env(env))
    assert final.returncode == 0, final.stderr[-3000:]
    print(f"\nmarkers present when killed: {num_markers}")
    assert s3_differing(fs, baseline, base, run) == []
    fs.invalidate_cache()
    assert fs.glob(f"{run}/**/*.tmp-*") == []
    assert _unfinished_uploads(fs, run) == []
