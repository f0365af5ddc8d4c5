"""What every training objective is: the shared vocabulary of the objective registry.

An objective turns raw token windows (numpy) into one model's inputs and targets (numpy) and says
everything else the trainer needs to know about it, so that the loop, the vocabulary layout and the
FLOPs count never branch on its name:

- `name`            the `--objective` value (the registry key)
- `model_family`    "decoder" | "encoder" | "encoder-decoder": which model it trains
                    (train.model_config.arch_for combines it with the preset's block style)
- `special_needs`   the special ids it needs beside EOS (train.vocab adds the missing ones)
- `create(...)`     the instance for a sequence length, vocabulary layout and document-mask switch
- `raw_length`, `stride`, `needs_doc_ids`, `make_batch(...)`   the data side
- `sample_flops(...)` / `flops_per_sample(model)`               training FLOPs of one sample

Randomness comes from one numpy Generator per sample, seeded by (seed, stream, sample index), so a
sample's masks do not depend on batch composition, rank count or where a run was resumed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol

import numpy as np

if TYPE_CHECKING:  # objectives only read a layout's attributes; train.vocab imports this package
    from train.model_config import ModelConfig
    from train.vocab import VocabLayout

IGNORE_INDEX = -100  # F.cross_entropy's default ignore_index
ModelFamily = Literal["decoder", "encoder", "encoder-decoder"]


@dataclass(frozen=True, kw_only=True, slots=True)
class SpecialNeeds:
    """Special ids an objective needs besides EOS; train.vocab adds any the tokenizer lacks."""

    mask: bool = False  # a MASK id (MLM)
    pad: bool = False  # a PAD id, also the decoder start id (T5)
    sentinels: bool = False  # sentinel ids counting down from the top of the vocabulary (T5)


class Objective(Protocol):
    name: ClassVar[str]
    model_family: ClassVar[ModelFamily]
    special_needs: ClassVar[SpecialNeeds]

    @classmethod
    def create(cls, seq_len: int, vocab: VocabLayout, *, doc_mask: bool = False) -> Objective: ...

    @property
    def raw_length(self) -> int: ...  # tokens per window read from the shards

    @property
    def stride(self) -> int: ...  # tokens between window starts

    @property
    def needs_doc_ids(self) -> bool: ...

    def make_batch(self, windows: np.ndarray, sample_indices, seed: int, stream: int,
                   doc_ids: np.ndarray | None = None) -> dict: ...

    @classmethod
    def sample_flops(cls, model: ModelConfig, seq_len: int, *, targets_length: int = 0,
                     num_predictions: int = 0) -> float: ...

    def flops_per_sample(self, model: ModelConfig) -> float: ...


def sample_rng(seed: int, stream: int, sample_index: int) -> np.random.Generator:
    """The Generator for one sample; stream 0 = train, 1 = validation."""
    return np.random.default_rng([seed, stream, int(sample_index)])


def positions_from_doc_ids(doc_ids: np.ndarray) -> np.ndarray:
    """Positions that restart at 0 where the document id changes. doc_ids: (B, T) -> (B, T)."""
    batch, length = doc_ids.shape
    index = np.broadcast_to(np.arange(length), (batch, length))
    is_start = np.ones((batch, length), dtype=bool)
    is_start[:, 1:] = doc_ids[:, 1:] != doc_ids[:, :-1]
    start_index = np.maximum.accumulate(np.where(is_start, index, 0), axis=1)
    return (index - start_index).astype(np.int64)


def add_document_mask(batch: dict, doc_ids: np.ndarray | None) -> None:
    """Per-document attention: the windows' document ids and positions restarting per document."""
    if doc_ids is None:
        raise ValueError("doc_mask needs the windows' document ids")
    batch["doc_ids"] = doc_ids.astype(np.int64)
    batch["position_ids"] = positions_from_doc_ids(batch["doc_ids"])
