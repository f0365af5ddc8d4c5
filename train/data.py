"""Shard data for training: fixed-length token windows, a seeded global order, rank slicing.

A *window* is `objective.raw_length` consecutive tokens of one shard's token stream (documents
already end with EOS, so packed windows have EOS between documents); windows start every
`objective.stride` tokens and never span two shards. Window w of a split is addressed by the
cumulative window counts of its shards.

The training order is a seeded permutation of all windows, drawn afresh per epoch: sample i (counted
over the whole run) is window perm_{i // N}[i % N]. So the data position is one integer,
`samples_consumed`, and resume is exact without replaying anything. Optimizer step s consumes the
global batch of samples [s * G, (s + 1) * G); rank r takes the contiguous slice
[r * G / W, (r + 1) * G / W) of it and splits it into micro-batches, so every micro-batch, and the
global batch, are the same sets of samples whatever the number of ranks.
"""
from __future__ import annotations

import queue
import threading
from typing import Iterator

import numpy as np
import torch

from tokenization.shards import ShardReader
from train.objectives import Objective

ORDER_STREAM = 2  # the per-epoch permutation's seed stream; objectives use 0 (train) and 1 (val)


class TokenWindows:
    """Random access to the fixed-length windows of a split's shards."""

    def __init__(self, readers: list[ShardReader], window_tokens: int, stride: int, *, split: str = "train"):
        self.readers = readers
        self.window_tokens = window_tokens
        self.stride = stride
        counts = [max(0, (r.num_tokens - window_tokens) // stride + 1) for r in readers]
        self.cumulative = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
        self.num_windows = int(self.cumulative[-1])
        if self.num_windows == 0:
            total = sum(r.num_tokens for r in readers)
            raise ValueError(
                f"the {split} split has {total} tokens in {len(readers)} shards, too few for one window "
                f"of {window_tokens} tokens; use a shorter --seq-len or build more data"
            )

    def locate(self, window: int) -> tuple[int, int]:
        """Window index -> (shard index, first token within that shard's stream)."""
        shard = int(np.searchsorted(self.cumulative, window, side="right") - 1)
        return shard, int(window - self.cumulative[shard]) * self.stride

    def tokens(self, window: int) -> np.ndarray:
        shard, start = self.locate(window)
        return self.readers[shard].window(start, self.window_tokens)

    def doc_ids(self, window: int) -> np.ndarray:
        """Per-token document number within the window, starting at 0: (window_tokens,) int64."""
        shard, start = self.locate(window)
        reader = self.readers[shard]
        absolute = int(reader.offsets[0]) + start + np.arange(self.window_tokens)
        doc = np.searchsorted(reader.offsets, absolute, side="right") - 1
        return doc - doc[0]

    def gather(self, windows: np.ndarray, with_doc_ids: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """(B,) window indices -> tokens (B, window_tokens) and, if asked, doc ids (B, window_tokens)."""
        tokens = np.stack([self.tokens(int(w)) for w in windows])
        doc_ids = np.stack([self.doc_ids(int(w)) for w in windows]) if with_doc_ids else None
        return tokens, doc_ids


class SampleOrder:
    """Sample index (over the whole run) -> window index; a fresh seeded permutation per epoch."""

    def __init__(self, num_windows: int, seed: int):
        self.num_windows = num_windows
        self.seed = seed
        self._cache: dict[int, np.ndarray] = {}

    def permutation(self, epoch: int) -> np.ndarray:
        if epoch not in self._cache:
            if len(self._cache) >= 2:  # a batch spans at most two epochs
                self._cache.pop(min(self._cache))
            rng = np.random.default_rng([self.seed, ORDER_STREAM, epoch])
            self._cache[epoch] = rng.permutation(self.num_windows)
        return self._cache[epoch]

    def windows(self, sample_indices: np.ndarray) -> np.ndarray:
        epochs, positions = np.divmod(np.asarray(sample_indices, dtype=np.int64), self.num_windows)
        out = np.empty(len(positions), dtype=np.int64)
        for epoch in np.unique(epochs):
            chosen = epochs == epoch
            out[chosen] = self.permutation(int(epoch))[positions[chosen]]
        return out


def to_tensors(batch: dict, pin: bool) -> dict:
    out = {}
    for key, value in batch.items():
        if isinstance(value, np.ndarray):
            tensor = torch.from_numpy(np.ascontiguousarray(value))
            out[key] = tensor.pin_memory() if pin else tensor
        else:
            out[key] = value
    return out


class TrainBatches:
    """This rank's micro-batches, one list per optimizer step, from `samples_consumed` on."""

    def __init__(self, windows: TokenWindows, objective: Objective, *, seed: int, global_batch: int,
                 micro_batch: int, rank: int = 0, world_size: int = 1, samples_consumed: int = 0,
                 pin_memory: bool = False):
        if global_batch % (micro_batch * world_size):
            raise ValueError(
                f"--batch-size {global_batch} must be a multiple of --micro-batch-size {micro_batch} "
                f"x {world_size} processes"
            )
        self.windows = windows
        self.objective = objective
        self.seed = seed
        self.global_batch = global_batch
        self.micro_batch = micro_batch
        self.rank = rank
        self.world_size = world_size
        self.grad_accum = global_batch // (micro_batch * world_size)
        self.samples_consumed = samples_consumed
        self.pin_memory = pin_memory
        self.order = SampleOrder(windows.num_windows, seed)

    def global_window_ids(self, first_sample: int) -> np.ndarray:
        """Window indices of the global batch that starts at `first_sample`: (G,)."""
        return self.order.windows(first_sample + np.arange(self.global_batch))

    def step_batches(self, first_sample: int) -> list[dict]:
        per_rank = self.global_batch // self.world_size
        mine = first_sample + self.rank * per_rank + np.arange(per_rank)
        micro_batches = []
        for chunk in np.split(mine, self.grad_accum):
            tokens, doc_ids = self.windows.gather(self.order.windows(chunk), self.objective.needs_doc_ids)
            batch = self.objective.make_batch(tokens, chunk, self.seed, 0, doc_ids=doc_ids)
            micro_batches.append(to_tensors(batch, self.pin_memory))
        return micro_batches

    def __iter__(self) -> Iterator[list[dict]]:
        while True:
            batches = self.step_batches(self.samples_consumed)
            self.samples_consumed += self.global_batch
            yield batches


class EvalBatches:
    """A fixed validation set: `num_samples` windows spread evenly over the val split, the same
    masks every time (stream 1), sliced contiguously across ranks."""

    def __init__(self, windows: TokenWindows, objective: Objective, *, seed: int, micro_batch: int,
                 num_samples: int, rank: int = 0, world_size: int = 1, pin_memory: bool = False):
        num_samples = min(num_samples, windows.num_windows)
        per_rank = num_samples // world_size
        if per_rank >= micro_batch:
            per_rank -= per_rank % micro_batch  # equal shapes (no recompiles), equal work per rank
        if per_rank == 0:
            raise ValueError(
                f"validation has {windows.num_windows} windows, fewer than {world_size} processes; "
                "build a larger val split or use a shorter --seq-len"
            )
        sample_ids = np.arange(per_rank * world_size)
        spread = np.linspace(0, windows.num_windows - 1, num=len(sample_ids)).round().astype(np.int64)
        self.sample_ids = sample_ids[rank * per_rank : (rank + 1) * per_rank]
        self.window_ids = spread[rank * per_rank : (rank + 1) * per_rank]
        self.windows = windows
        self.objective = objective
        self.seed = seed
        self.micro_batch = micro_batch
        self.pin_memory = pin_memory

    def __iter__(self) -> Iterator[dict]:
        for start in range(0, len(self.sample_ids), self.micro_batch):
            ids = self.sample_ids[start : start + self.micro_batch]
            tokens, doc_ids = self.windows.gather(
                self.window_ids[start : start + self.micro_batch], self.objective.needs_doc_ids
            )
            batch = self.objective.make_batch(tokens, ids, self.seed, 1, doc_ids=doc_ids)
            yield to_tensors(batch, self.pin_memory)


def prefetch(iterator: Iterator, depth: int = 2) -> Iterator:
    """Run `iterator` in a thread, `depth` items ahead (batch building overlaps compute).
    Closing the returned generator stops and joins the thread."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in iterator:
                if not put(item):
                    return
        except BaseException as error:  # surface loader errors in the training thread
            put(error)
        put(done)

    producer = threading.Thread(target=produce, daemon=True, name="batch-prefetch")
    producer.start()
    try:
        while True:
            item = items.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        # join rather than leave a daemon thread inside numpy/torch code at interpreter exit
        # (killing it there can abort the process)
        stop.set()
        producer.join()
