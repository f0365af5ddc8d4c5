"""`corpusmill tokenizer train` trains on the recipe's kept documents; `build` then uses that file."""
from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
import yaml
from tokenizers import Tokenizer

from tokenization.shards import file_sha256

STDLIB = Path(sysconfig.get_paths()["stdlib"])


def _recipe(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "run_dir": str(tmp_path / name),
        "seed": 3,
        "sources": [{"name": "code", "kind": "code", "paths": [str(STDLIB / "json"), str(STDLIB / "email")]}],
        "filter": {},
        "tokenize": {"train": {"vocab_size": 1200, "kind": "bpe", "num_sentinels": 20}},
        "mix": {"natural": True, "val_fraction": 0.05},
    }))
    return path


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_tokenizer_train_then_build_uses_it(tmp_path):
    out = tmp_path / "copy.json"
    trained = _cli("tokenizer", "train", str(_recipe(tmp_path, "a")), "--out", str(out))
    assert trained.returncode == 0, trained.stderr[-2000:]
    kept = tmp_path / "a" / "tokenizer" / "tokenizer.json"
    assert out.read_bytes() == kept.read_bytes()
    tokenizer = Tokenizer.from_file(str(kept))
    assert tokenizer.get_vocab_size() == 1200
    assert [tokenizer.id_to_token(i) for i in (1199, 1180)] == ["<extra_id_0>", "<extra_id_19>"]
    assert not (tmp_path / "a" / "tokenize").exists()  # it stopped after filtering

    # Same recipe and seed in another run directory: the same tokenizer, byte for byte.
    again = _cli("tokenizer", "train", str(_recipe(tmp_path, "b")))
    assert again.returncode == 0, again.stderr[-2000:]
    assert file_sha256(tmp_path / "b" / "tokenizer" / "tokenizer.json") == file_sha256(kept)

    built = _cli("build", str(_recipe(tmp_path, "a")), "--no-progress")
    assert built.returncode == 0, built.stderr[-2000:]
    manifest = json.loads((tmp_path / "a" / "shards" / "manifest.json").read_text())
    assert manifest["tokenizer"]["sha256"] == file_sha256(kept)
    assert manifest["tokenizer"]["special_ids"]["sentinels"][:2] == [1199, 1198]
    run_json = json.loads((tmp_path / "a" / "run.json").read_text())
    assert run_json["stages"]["extract"]["tasks_executed"] == 0  # reused from `tokenizer train`

    # Megatron-LM export through the CLI reads back to the train shards' documents exactly.
    exported = _cli("export", "megatron", str(tmp_path / "a"), str(tmp_path / "mega"))
    assert exported.returncode == 0, exported.stderr[-2000:]
    from tokenization.megatron import read_megatron
    from tokenization.manifest import load_manifest

    mega = read_megatron(tmp_path / "mega")
    shards = load_manifest(tmp_path / "a").open_shards("train")
    documents = [shard.doc(i) for shard in shards for i in range(shard.num_docs)]
    assert len(mega) == len(documents)
    assert all(np.array_equal(mega[i], doc) for i, doc in enumerate(documents))

    # The whole path a user walks: the built shards train a span-denoising model through the CLI,
    # with the trained tokenizer's own sentinels.
    trained_model = _cli("train", "--run", str(tmp_path / "a"), "--objective", "span", "--model", "tiny",
                         "--steps", "4", "--eval-every", "4", "--seq-len", "64", "--batch-size", "4", "--quiet")
    assert trained_model.returncode == 0, trained_model.stderr[-2000:]
    records = [json.loads(line) for line in (tmp_path / "a" / "train" / "span-tiny" / "log.jsonl").read_text().splitlines()]
    evals = [r for r in records if r.get("kind") == "eval"]
    assert [r["step"] for r in evals] == [4]
    assert 0 < evals[0]["eval_loss"] < 20


def test_tokenizer_train_without_a_train_section_names_the_fix(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"run_dir": str(tmp_path / "run"),
                                      "sources": [{"name": "code", "kind": "code", "paths": [str(STDLIB / "json")]}]}))
    result = _cli("tokenizer", "train", str(recipe))
    assert result.returncode == 2
    assert "`tokenize.train` is not set" in result.stderr
