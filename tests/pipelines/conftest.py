from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import yaml

S3_BOOKS = ("books/gitenberg/pg12200_12200-0.txt", "books/gitenberg/pg14263_14263-8.txt")


@pytest.fixture(scope="session")
def ray_cluster():
    """One embedded Ray instance for the whole session (starting one costs ~3 s)."""
    from pipelines.runner import Runner

    with Runner(num_cpus=2, show_progress=False) as runner:
        yield runner


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    """(s3fs filesystem, environment with the endpoint and credentials) of a fresh moto server."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
           "CORPUSMILL_CACHE": str(tmp_path_factory.mktemp("cache"))}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        import s3fs

        fs = s3fs.S3FileSystem(skip_instance_cache=True)
        fs.mkdir("corpus")
        yield fs, env
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()


@pytest.fixture(scope="session")
def s3_inputs(s3, shared_data) -> str:
    """s3://corpus/inputs: the pydoc topics in two JSONL files and two shared books in one."""
    from pydoc_data.topics import topics

    fs, _ = s3
    lines = [json.dumps({"topic": name, "text": topics[name]}) for name in sorted(topics)]
    half = len(lines) // 2
    fs.pipe_file("corpus/inputs/docs-0.jsonl", ("\n".join(lines[:half]) + "\n").encode())
    fs.pipe_file("corpus/inputs/docs-1.jsonl", ("\n".join(lines[half:]) + "\n").encode())
    books = [json.dumps({"name": Path(b).name, "text": (shared_data / b).read_bytes().decode(
        "utf-8" if b.endswith("-0.txt") else "latin-1")}) for b in S3_BOOKS]
    fs.pipe_file("corpus/inputs/books.jsonl", ("\n".join(books) + "\n").encode())
    return "s3://corpus/inputs"


@pytest.fixture(scope="session")
def s3_recipe():
    """Write the S3 tests' recipe (docs + books, a trained byte-level BPE, a 50/50 mix): a function
    (path, run_dir, inputs) -> path."""
    return write_s3_recipe


def write_s3_recipe(path: Path, run_dir: str, inputs: str) -> Path:
    recipe = {
        "run_dir": run_dir, "seed": 3,
        "sources": [{"name": "docs", "kind": "jsonl", "paths": [f"{inputs}/docs-*.jsonl"],
                     "options": {"text_field": "text", "id_field": "topic"}},
                    {"name": "books", "kind": "jsonl", "paths": [f"{inputs}/books.jsonl"],
                     "options": {"text_field": "text", "id_field": "name"}}],
        "tokenize": {"train": {"vocab_size": 1200, "kind": "bpe", "sample_docs": 300}},
        "mix": {"weights": {"docs": 0.5, "books": 0.5}, "max_epochs": {"docs": 1.0, "books": 3.0},
                "val_fraction": 0.05, "shard_tokens": 60_000},
    }
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path
