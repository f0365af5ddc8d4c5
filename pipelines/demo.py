"""`corpusmill demo`: a real end-to-end build with no network and no downloads.

Its inputs are real text that ships with Python itself, so it runs on any fresh machine:
- `docs`: the Python reference manual's topic pages (`pydoc_data.topics`, the text behind
  `help('FOR')`), written once as JSONL into the run's demo-inputs/ (the text is not changed);
- `code`: a few packages of the Python standard library's own source tree.
"""
from __future__ import annotations

import json
import os
import sysconfig
from pathlib import Path

import yaml
from fsspec.utils import infer_storage_options

STDLIB_PACKAGES = ("json", "email", "http", "logging", "unittest", "asyncio", "importlib", "xml")


def write_demo_inputs(run_dir: Path) -> Path:
    """Write demo-inputs/ (JSONL of pydoc topics, the recipe) and return the recipe's path."""
    from pydoc_data.topics import topics  # the stdlib's own copy of the reference manual topics

    inputs = run_dir / "demo-inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    docs = inputs / "pydoc-topics.jsonl"
    with open(docs, "w", encoding="utf-8") as handle:
        for name in sorted(topics):
            handle.write(json.dumps({"topic": name, "text": topics[name]}, ensure_ascii=False) + "\n")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    recipe = {
        "run_dir": str(run_dir),
        "seed": 0,
        "sources": [
            {"name": "docs", "kind": "jsonl", "paths": [str(docs)],
             "options": {"text_field": "text", "id_field": "topic"}},
            {"name": "code", "kind": "code",
             "paths": [str(stdlib / p) for p in STDLIB_PACKAGES if (stdlib / p).is_dir()],
             "options": {"repo": "cpython-stdlib"}},
        ],
        "filter": demo_filter_section(),
        "tokenize": {"train": {"vocab_size": 4096, "kind": "bpe", "sample_docs": 2000}},
        "mix": {"weights": {"docs": 0.4, "code": 0.6}, "max_epochs": {"docs": 4.0, "code": 1.0},
                "val_fraction": 0.02, "shard_tokens": 250_000},
    }
    path = inputs / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def demo_filter_section() -> dict:
    # Language ID needs the lid.176 model, which a machine with no network may not have; the demo
    # keeps every other filter and says how to turn LID on (README, "Language ID"). The reference
    # manual is half code samples, which Gopher's "80% of words alphabetic" rule is built to
    # reject; the demo keeps the rest of the web rules (repetition, C4, FineWeb) on it.
    return {"defaults": {"lid": {"enabled": False}},
            "sources": {"docs": {"gopher_quality": {"enabled": False}}}}


def build_demo(run_dir: str | os.PathLike, address: str | None = None) -> str:
    from pipelines.build import build
    from pipelines.recipe import load_recipe

    location = infer_storage_options(str(run_dir))  # as pipelines.inputs reads paths and URLs
    if location["protocol"] not in ("file", "local"):  # the demo writes its inputs with plain file I/O
        raise ValueError(f"--run {run_dir}: the demo builds in a local directory; give a path "
                         "(a recipe's `run_dir` may be any fsspec URL)")
    run_path = Path(location["path"]).resolve()
    recipe_path = write_demo_inputs(run_path)
    result = build(load_recipe(recipe_path), address=address)
    return result.run_dir
