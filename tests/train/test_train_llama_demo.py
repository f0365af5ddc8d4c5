"""The issue's CPU run on the demo corpus: `corpusmill demo`, then `corpusmill train --run RUN
--objective clm --model llama-tiny` (loss falls), then `corpusmill export hf RUN OUT` and
transformers' LlamaForCausalLM computes the trained model's logits (max abs difference 1e-5)."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pipelines.cli import main as corpusmill
from train.checkpoint import load_checkpoint
from train.model import build_model
from train.model_config import ModelConfig
from train.runlog import read_log

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("demo") / "demo"
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "demo", "--run", str(run)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return run


def test_llama_tiny_learns_on_the_demo_corpus_and_exports(demo_run, tmp_path):
    code = corpusmill(["train", "--run", str(demo_run), "--objective", "clm", "--model", "llama-tiny",
                       "--steps", "20", "--batch-size", "4", "--eval-every", "20", "--eval-samples", "16",
                       "--quiet", "--deterministic"])
    assert code == 0
    out = demo_run / "train" / "clm-llama-tiny"
    log = read_log(out / "log.jsonl")
    losses = [r["loss"] for r in log if r["kind"] == "train"]
    assert len(losses) == 20 and all(math.isfinite(x) for x in losses)
    assert losses[0] == pytest.approx(math.log(4096), abs=0.3)  # the demo tokenizer: 4,096 ids
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.8
    assert [r["eval_loss"] < losses[0] - 0.5 for r in log if r["kind"] == "eval"] == [True]

    transformers = pytest.importorskip("transformers")
    assert corpusmill(["export", "hf", str(demo_run), str(tmp_path / "hf")]) == 0
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    assert type(hf).__name__ == "LlamaForCausalLM"
    state = load_checkpoint(out / "checkpoints" / "step-00000020.pt")
    ours = build_model(ModelConfig(**state["model_config"])).eval()
    ours.load_state_dict(state["model"])
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    ids = torch.tensor([tokenizer("def read(path):\n    with open(path) as handle:\n")["input_ids"]])
    with torch.no_grad():
        torch.testing.assert_close(hf(ids).logits, ours(ids), rtol=0, atol=1e-5)
