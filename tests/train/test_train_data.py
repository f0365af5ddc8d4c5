"""The shard loader: a seeded global order that resumes from one integer, and rank slicing whose
global batches equal the 1-process ones."""
from __future__ import annotations

import numpy as np
import pytest

from tokenization.manifest import load_manifest
from train.data import EvalBatches, SampleOrder, TokenWindows, TrainBatches
from train.objectives import ClmObjective, MlmObjective
from train.vocab import build_vocab_layout


@pytest.fixture(scope="module")
def train_windows(book_shards):
    return TokenWindows(load_manifest(book_shards).open_shards("train"), 65, 64)


def test_windows_cover_each_shard_without_crossing(book_shards, train_windows):
    readers = load_manifest(book_shards).open_shards("train")
    expected = [(r.num_tokens - 65) // 64 + 1 for r in readers]
    assert train_windows.num_windows == sum(expected)
    last_of_first = expected[0] - 1
    assert train_windows.locate(last_of_first) == (0, last_of_first * 64)
    assert train_windows.locate(expected[0]) == (1, 0)  # the next window starts the next shard
    assert np.array_equal(train_windows.tokens(expected[0]), readers[1].tokens[:65])


def test_order_is_a_fresh_seeded_permutation_per_epoch(train_windows):
    n = train_windows.num_windows
    order = SampleOrder(n, seed=5)
    epoch0 = order.windows(np.arange(n))
    epoch1 = order.windows(np.arange(n, 2 * n))
    assert sorted(epoch0.tolist()) == list(range(n)) == sorted(epoch1.tolist())
    assert not np.array_equal(epoch0, epoch1)
    assert np.array_equal(SampleOrder(n, seed=5).windows(np.arange(n)), epoch0)
    assert not np.array_equal(SampleOrder(n, seed=6).windows(np.arange(n)), epoch0)
    # a batch straddling the epoch boundary takes the tail of one and the head of the next
    assert np.array_equal(order.windows(np.arange(n - 2, n + 2)), np.concatenate([epoch0[-2:], epoch1[:2]]))


def _input_ids(step_batches):
    return np.concatenate([b["input_ids"].numpy() for b in step_batches])


def test_resume_from_samples_consumed_is_exact(train_windows):
    objective = ClmObjective(seq_len=64)
    straight = iter(TrainBatches(train_windows, objective, seed=3, global_batch=8, micro_batch=4))
    steps = [_input_ids(next(straight)) for _ in range(5)]
    resumed = iter(TrainBatches(train_windows, objective, seed=3, global_batch=8, micro_batch=4,
                                samples_consumed=3 * 8))
    assert np.array_equal(_input_ids(next(resumed)), steps[3])
    assert np.array_equal(_input_ids(next(resumed)), steps[4])


def test_ranks_split_each_global_batch_like_one_process(book_shards):
    layout = build_vocab_layout(50257, {"eos": 50256}, "mlm")
    windows = TokenWindows(load_manifest(book_shards).open_shards("train"), 64, 64)
    objective = MlmObjective(seq_len=64, vocab=layout)
    single = TrainBatches(windows, objective, seed=9, global_batch=8, micro_batch=2)
    ranks = [TrainBatches(windows, objective, seed=9, global_batch=8, micro_batch=2, rank=r, world_size=2)
             for r in range(2)]
    assert single.grad_accum == 4 and ranks[0].grad_accum == 2
    for first_sample in (0, 8, 16):
        one = single.step_batches(first_sample)
        two = ranks[0].step_batches(first_sample) + ranks[1].step_batches(first_sample)
        for key in ("input_ids", "mlm_positions", "mlm_labels"):
            for a, b in zip(one, two):
                assert np.array_equal(a[key].numpy(), b[key].numpy())
        assert sum(b["num_targets"] for b in one) == sum(b["num_targets"] for b in two)
    with pytest.raises(ValueError, match="multiple of --micro-batch-size"):
        TrainBatches(windows, objective, seed=9, global_batch=6, micro_batch=2, world_size=2)


def test_eval_batches_are_fixed_and_spread_over_the_split(book_shards):
    val = TokenWindows(load_manifest(book_shards).open_shards("val"), 65, 64, split="val")
    batches = EvalBatches(val, ClmObjective(seq_len=64), seed=1, micro_batch=4, num_samples=16)
    first = [b["input_ids"].numpy() for b in batches]
    again = [b["input_ids"].numpy() for b in batches]
    assert len(first) == 4 and all(np.array_equal(a, b) for a, b in zip(first, again))
    assert batches.window_ids[0] == 0 and batches.window_ids[-1] == val.num_windows - 1
    halves = [EvalBatches(val, ClmObjective(seq_len=64), seed=1, micro_batch=4, num_samples=16, rank=r,
                          world_size=2).window_ids for r in range(2)]
    assert np.array_equal(np.concatenate(halves), batches.window_ids)


def test_too_short_split_names_the_fix(book_shards):
    with pytest.raises(ValueError, match="shorter --seq-len"):
        TokenWindows(load_manifest(book_shards).open_shards("val"), 10_000_000, 10_000_000, split="val")
