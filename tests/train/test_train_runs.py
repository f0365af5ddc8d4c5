"""End-to-end runs of the tiny models on the real book shards: loss falls for every objective, resume
is bitwise exact on CPU, and 2 gloo processes under torchrun match 1 process."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from train.checkpoint import load_checkpoint
from train.cli import main
from train.runlog import read_log

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_cli(book_shards: Path, out: Path, *args: str) -> list[dict]:
    code = main(["--run", str(book_shards), "--out", str(out), "--quiet", "--deterministic", *args])
    assert code == 0
    return read_log(out / "log.jsonl")


@pytest.mark.parametrize("objective", ["clm", "mlm", "span"])
def test_fifty_steps_lower_the_loss(book_shards, tmp_path, objective):
    log = run_cli(book_shards, tmp_path, "--objective", objective, "--model", "tiny", "--steps", "50",
                  "--batch-size", "4", "--eval-every", "25", "--eval-samples", "16")
    train = [r for r in log if r["kind"] == "train"]
    evals = [r for r in log if r["kind"] == "eval"]
    assert [r["step"] for r in train] == list(range(1, 51))
    losses = [r["loss"] for r in train]
    assert all(math.isfinite(x) for x in losses)
    # from ~ln(50304) = 10.8 at init; well below it after 50 steps
    assert losses[0] == pytest.approx(math.log(50304), abs=0.5)
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 1.0
    assert [r["step"] for r in evals] == [25, 50]
    assert all(math.isfinite(r["eval_loss"]) for r in evals) and evals[1]["eval_loss"] < losses[0]
    assert all(r["mfu"] is None and r["tokens_per_s"] > 0 for r in train)  # CPU: no peak, null MFU
    assert set(train[0]) >= {"step", "loss", "lr", "tokens_per_s", "mfu", "grad_norm", "samples_consumed"}


def test_doc_mask_run_with_wsd_schedule(book_shards, tmp_path):
    log = run_cli(book_shards, tmp_path, "--objective", "clm", "--doc-mask", "--schedule", "wsd", "--steps", "10",
                  "--batch-size", "2", "--eval-every", "5", "--eval-samples", "4", "--no-checkpoint")
    train = [r for r in log if r["kind"] == "train"]
    assert len(train) == 10 and all(math.isfinite(r["loss"]) for r in train)
    assert [r["lr"] for r in train][4:8] == [3e-3] * 4  # stable phase of warmup-stable-decay
    assert train[-1]["lr"] == pytest.approx(3e-4)
    assert not (tmp_path / "checkpoints").exists()


def test_loss_chunk_run_matches_the_plain_head(book_shards, tmp_path):
    """--loss-chunk changes how the head is computed, not what is trained: same losses, same eval."""
    common = ("--objective", "clm", "--steps", "6", "--batch-size", "2", "--eval-every", "6",
              "--eval-samples", "4")
    plain = run_cli(book_shards, tmp_path / "plain", *common)
    chunked = run_cli(book_shards, tmp_path / "chunked", *common, "--loss-chunk", "48")
    # the flag reached the model (equal losses alone would also hold if it were ignored)
    saved = [load_checkpoint(tmp_path / run / "checkpoints" / "step-00000006.pt")["model_config"]["loss_chunk"]
             for run in ("plain", "chunked")]
    assert saved == [0, 48]
    assert [r["kind"] for r in chunked] == [r["kind"] for r in plain] == ["train"] * 6 + ["eval"]
    for one, other in zip(plain, chunked):
        key = "loss" if one["kind"] == "train" else "eval_loss"
        assert other[key] == pytest.approx(one[key], rel=1e-5)


def test_checkpoint_loads_weights_only(book_shards, tmp_path):
    run_cli(book_shards, tmp_path, "--objective", "span", "--steps", "2", "--batch-size", "2", "--tensorboard")
    state = load_checkpoint(tmp_path / "checkpoints" / "step-00000002.pt")  # torch.load(weights_only)
    assert state["step"] == 2 and state["scheduler"] == {"step": 2}
    assert state["data"] == {"seed": 1337, "samples_consumed": 4}
    assert state["vocab"]["sentinel_ids"][0] == state["vocab"]["extended_vocab_size"] - 1 == 50357
    assert state["model_config"]["vocab_size"] == 50432 and state["config"]["objective"] == "span"
    assert isinstance(state["rng"][0]["torch"], torch.Tensor)
    assert state["model"]["tok_emb.weight"].shape == (50432, 64)
    assert set(state["optimizer"]) == {"state", "param_groups"}


def test_resume_matches_an_uninterrupted_run_bitwise(book_shards, tmp_path):
    common = ["--objective", "clm", "--steps", "40", "--batch-size", "2", "--eval-every", "20",
              "--eval-samples", "8", "--ckpt-every", "10"]
    straight = run_cli(book_shards, tmp_path / "straight", *common)
    run_cli(book_shards, tmp_path / "resumed", *common, "--stop-at-step", "20")
    assert [p.name for p in sorted((tmp_path / "resumed" / "checkpoints").iterdir())] == [
        "step-00000010.pt", "step-00000020.pt"]
    resumed = run_cli(book_shards, tmp_path / "resumed", *common)  # --resume auto: from step 20

    def key(r):
        return (r["kind"], r["step"], r.get("loss"), r.get("eval_loss"), r.get("lr"), r.get("data_crc32"))

    assert len(straight) == len(resumed) == 42
    assert [key(r) for r in resumed] == [key(r) for r in straight]  # identical floats and data order
    assert len({r["data_crc32"] for r in straight if r["kind"] == "train"}) == 40


@pytest.mark.slow
def test_two_gloo_processes_match_one(book_shards, tmp_path):
    common = ["--objective", "mlm", "--steps", "8", "--batch-size", "8", "--micro-batch-size", "2",
              "--eval-every", "4", "--device", "cpu"]
    single = run_cli(book_shards, tmp_path / "one", *common)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "train", "--run-dir", str(book_shards), "--out", str(tmp_path / "two"), "--quiet",
               "--deterministic", *common]
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    double = read_log(tmp_path / "two" / "log.jsonl")
    assert [(r["kind"], r["step"]) for r in double] == [(r["kind"], r["step"]) for r in single]
    for one, two in zip(single, double):
        if one["kind"] == "train":
            assert two["num_targets"] == one["num_targets"]  # targets counted over both ranks
            assert two["data_crc32"] == one["data_crc32"]
            assert two["loss"] == pytest.approx(one["loss"], rel=1e-5)
        else:
            assert two["eval_loss"] == pytest.approx(one["eval_loss"], rel=1e-5)


def test_cli_errors_name_the_fix(book_shards, tmp_path, capsys):
    code = main(["--run", str(book_shards), "--out", str(tmp_path), "--objective", "span", "--doc-mask"])
    assert code == 2
    assert "--doc-mask applies to clm and mlm" in capsys.readouterr().err
    code = main(["--run", str(tmp_path / "nowhere"), "--objective", "clm"])
    assert code == 2
    assert "run `corpusmill build` first" in capsys.readouterr().err
    code = main(["--run", str(book_shards), "--out", str(tmp_path / "flex"), "--objective", "clm",
                 "--doc-mask", "--attention", "flex", "--device", "cpu"])
    assert code == 2
    assert "FlexAttention has no backward on CPU); use --attention sdpa" in capsys.readouterr().err


def test_large_vocabulary_uint32_shards_train_with_a_loss_chunk(tmp_path):
    """A 100,000-id vocabulary is stored as uint32 tokens; the loader keeps ids above 65,535 intact
    and the chunked head trains on them. (No large-vocabulary tokenizer is in ../shared: the ids are
    drawn at random, written with the real shard writer.)"""
    from tokenization.manifest import Manifest, load_manifest
    from tokenization.shards import ShardHeader, write_shard
    from train.data import TokenWindows

    vocab, eos = 100_000, 99_999
    rng = np.random.default_rng(0)
    docs = [np.append(rng.integers(60_000, eos, size=n), eos).astype(np.uint32) for n in (300, 500, 700)]
    header = ShardHeader(tokenizer_sha256="random-ids", vocab_size=vocab, special_ids={"eos": eos})
    shards = tmp_path / "shards"
    info = write_shard(shards / "train-00000.arrow", docs, ["random"] * 3, ["a", "b", "c"], header,
                       relative_to=shards)
    Manifest(directory=shards, tokenizer_path="none", tokenizer_sha256="random-ids", vocab_size=vocab,
             special_ids={"eos": eos}, splits={"train": [info]}).save()
    manifest = load_manifest(str(shards))
    windows = TokenWindows(manifest.open_shards("train"), 65, 64)
    assert windows.tokens(0).dtype == np.uint32
    np.testing.assert_array_equal(windows.tokens(0), docs[0][:65])  # ids above 65,535, unchanged
    code = main(["--run", str(shards), "--out", str(tmp_path / "out"), "--quiet", "--objective", "clm",
                 "--steps", "3", "--batch-size", "2", "--loss-chunk", "50", "--no-checkpoint"])
    assert code == 0
    losses = [r["loss"] for r in read_log(tmp_path / "out" / "log.jsonl") if r["kind"] == "train"]
    assert len(losses) == 3 and losses[0] == pytest.approx(math.log(100_096), abs=0.5)  # padded vocab
