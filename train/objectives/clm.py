"""CLM (GPT): next-token prediction over a packed window; optional per-document attention masking
with positions restarting at each document."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from train.objectives.base import ModelFamily, SpecialNeeds, add_document_mask

if TYPE_CHECKING:
    from train.model_config import ModelConfig
    from train.vocab import VocabLayout


@dataclass(frozen=True, kw_only=True, slots=True)
class ClmObjective:
    name: ClassVar[str] = "clm"
    model_family: ClassVar[ModelFamily] = "decoder"
    special_needs: ClassVar[SpecialNeeds] = SpecialNeeds()  # EOS only
    seq_len: int
    doc_mask: bool = False  # attend only within a document; positions restart per document

    @classmethod
    def create(cls, seq_len: int, vocab: VocabLayout, *, doc_mask: bool = False) -> ClmObjective:
        return cls(seq_len=seq_len, doc_mask=doc_mask)

    @property
    def raw_length(self) -> int:  # one extra token: the last input's label
        return self.seq_len + 1

    @property
    def stride(self) -> int:  # windows overlap by that one token, so every token is a label once
        return self.seq_len

    @property
    def needs_doc_ids(self) -> bool:
        return self.doc_mask

    def make_batch(self, windows: np.ndarray, sample_indices, seed, stream, doc_ids=None) -> dict:
        """windows: (B, seq_len + 1) -> input_ids, labels: (B, seq_len); labels[t] = input[t + 1]."""
        windows = windows.astype(np.int64)
        batch = {"input_ids": windows[:, :-1], "labels": windows[:, 1:]}
        if self.doc_mask:
            add_document_mask(batch, None if doc_ids is None else doc_ids[:, :-1])
        batch["num_targets"] = int(batch["labels"].size)
        return batch

    @classmethod
    def sample_flops(cls, model: ModelConfig, seq_len: int, *, targets_length: int = 0,
                     num_predictions: int = 0) -> float:
        """seq_len tokens through every layer and the LM head."""
        per_token = (model.n_layer * model.layer_flops_per_token()
                     + model.attention_flops_per_token(model.n_layer, seq_len))
        return seq_len * (per_token + model.head_flops_per_token())

    def flops_per_sample(self, model: ModelConfig) -> float:
        return self.sample_flops(model, self.seq_len)
