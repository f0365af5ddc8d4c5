"""A whole build with its inputs and its run directory on S3 (a real S3 server, moto's, on loopback):
the shards are byte-identical to a build into a local run directory, and they are read back from
S3 by `corpusmill train` (cached locally, verified against the manifest's sha256) and by HF
`datasets` (through fsspec). The server is started on 127.0.0.1 and a free port, and stopped, by
the `s3` fixture (tests/pipelines/conftest.py); the endpoint and credentials reach the Ray
workers as AWS_* environment variables (pipelines.runner forwards them)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest


def _corpusmill(*args: str, env: dict) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], capture_output=True, text=True,
                          timeout=900, env={**os.environ, **env})
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def s3_build(s3, s3_inputs, s3_recipe, tmp_path_factory):
    fs, env = s3
    root = tmp_path_factory.mktemp("s3build")
    _corpusmill("build", str(s3_recipe(root / "remote.yaml", "s3://corpus/run", s3_inputs)), "--no-progress",
                env=env)
    _corpusmill("build", str(s3_recipe(root / "local.yaml", str(root / "local-run"), s3_inputs)),
                "--no-progress", env=env)
    return fs, env, root


def test_s3_run_is_byte_identical_to_a_local_run(s3_build):
    fs, _, root = s3_build
    local = root / "local-run" / "shards"
    names = sorted(p.name for p in local.iterdir())
    assert names == sorted(Path(p).name for p in fs.ls("corpus/run/shards"))
    assert "manifest.json" in names and sum(n.startswith("train-") for n in names) >= 2
    for name in names:
        assert fs.cat_file(f"corpus/run/shards/{name}") == (local / name).read_bytes(), name
    # Completion markers sit beside their data and no temporary object is left behind.
    assert fs.glob("corpus/run/**/*.tmp-*") == []
    for marker in fs.ls("corpus/run/_done/mix"):
        assert fs.exists(f"corpus/run/shards/{Path(marker).name}.arrow")
    fast_path = json.loads(fs.cat_file("corpus/run/tokenizer/fast-path.json"))
    assert fast_path["backend"] == "tiktoken (derived ranks)"  # the remote tokenizer was fetched and checked


def test_corpusmill_train_reads_the_s3_run(s3_build, tmp_path):
    _, env, root = s3_build
    done = subprocess.run([sys.executable, "-m", "train", "--run-dir", "s3://corpus/run", "--objective", "clm",
                           "--model", "tiny", "--steps", "3", "--batch-size", "2", "--seq-len", "32",
                           "--eval-every", "3", "--no-checkpoint", "--out", str(tmp_path / "out"), "--device", "cpu"],
                          capture_output=True, text=True, timeout=600, env={**os.environ, **env})
    assert done.returncode == 0, done.stderr[-3000:]
    # The shards were cached locally, each checked against the manifest's sha256.
    cached = list(Path(env["CORPUSMILL_CACHE"]).glob("shards/*/manifest.json"))
    assert len(cached) == 1
    manifest = json.loads(cached[0].read_text())
    local = json.loads((root / "local-run" / "shards" / "manifest.json").read_text())
    assert manifest == local
    for shard in manifest["splits"]["train"]:
        assert (cached[0].parent / shard["path"]).read_bytes() == (root / "local-run" / "shards" / shard["path"]).read_bytes()


def test_hf_datasets_reads_the_shards_from_s3(s3_build, tmp_path):
    import datasets

    fs, env, root = s3_build
    manifest = json.loads(fs.cat_file("corpus/run/shards/manifest.json"))
    files = [f"s3://corpus/run/shards/{s['path']}" for s in manifest["splits"]["train"]]
    dataset = datasets.load_dataset("arrow", data_files={"train": files}, split="train", cache_dir=str(tmp_path),
                                    storage_options={"endpoint_url": env["AWS_ENDPOINT_URL"], "key": "testing",
                                                     "secret": "testing"})
    assert dataset.num_rows == manifest["totals"]["train"]["num_docs"]
    first = pa.ipc.open_file(str(root / "local-run" / "shards" / "train-00000.arrow")).read_all()
    assert dataset[0]["tokens"] == first.column("tokens")[0].as_py()
    assert dataset[0]["doc_id"] == first.column("doc_id")[0].as_py()
    assert sum(dataset["num_tokens"]) == manifest["totals"]["train"]["num_tokens"]


def test_tokenizer_train_on_an_s3_run_copies_the_run_tokenizer(s3_build, tmp_path):
    fs, env, root = s3_build
    out = tmp_path / "tokenizer.json"
    _corpusmill("tokenizer", "train", str(root / "remote.yaml"), "--out", str(out), env=env)
    assert out.read_bytes() == fs.cat_file("corpus/run/tokenizer/tokenizer.json")
