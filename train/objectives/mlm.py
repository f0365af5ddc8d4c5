"""MLM (BERT): google-research/bert create_pretraining_data.py's masking: round(15% of the window)
positions chosen among non-special tokens; of those 80% -> MASK, 10% -> a random token, 10% kept;
the loss is computed only at the chosen positions."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from train.objectives.base import IGNORE_INDEX, ModelFamily, SpecialNeeds, add_document_mask, sample_rng

if TYPE_CHECKING:
    from train.model_config import ModelConfig
    from train.vocab import VocabLayout


@dataclass(frozen=True, kw_only=True, slots=True)
class MlmObjective:
    name: ClassVar[str] = "mlm"
    model_family: ClassVar[ModelFamily] = "encoder"
    special_needs: ClassVar[SpecialNeeds] = SpecialNeeds(mask=True)
    seq_len: int
    vocab: VocabLayout
    mlm_probability: float = 0.15
    mask_fraction: float = 0.8  # of the chosen positions; half of the rest random, half kept
    random_fraction: float = 0.1
    doc_mask: bool = False

    @classmethod
    def create(cls, seq_len: int, vocab: VocabLayout, *, doc_mask: bool = False) -> MlmObjective:
        return cls(seq_len=seq_len, vocab=vocab, doc_mask=doc_mask)

    @property
    def raw_length(self) -> int:
        return self.seq_len

    @property
    def stride(self) -> int:
        return self.seq_len

    @property
    def needs_doc_ids(self) -> bool:
        return self.doc_mask

    @property
    def max_predictions(self) -> int:
        """BERT's num_to_predict for a full window; fixed so batches have static shapes."""
        return max(1, int(round(self.seq_len * self.mlm_probability)))

    def mask_one(self, tokens: np.ndarray, rng: np.random.Generator):
        """tokens: (L,) -> (masked input (L,), chosen positions (k,) ascending, their labels (k,))."""
        if self.vocab.mask_id is None:
            raise ValueError("MLM needs a mask id; build the layout with objective='mlm'")
        candidates = np.flatnonzero(~np.isin(tokens, self.vocab.special_ids))
        num_to_predict = min(self.max_predictions, len(candidates))
        positions = np.sort(rng.permutation(candidates)[:num_to_predict])
        labels = tokens[positions].copy()
        # one uniform draw per position: [0, .8) mask, [.8, .9) random token, [.9, 1) unchanged,
        # the same distribution as BERT's two draws (p < .8; then p < .5 keep, else random)
        draw = rng.random(num_to_predict)
        random_ids = rng.integers(0, self.vocab.tokenizer_vocab_size, size=num_to_predict)
        masked = tokens.copy()
        use_mask = draw < self.mask_fraction
        use_random = (draw >= self.mask_fraction) & (draw < self.mask_fraction + self.random_fraction)
        masked[positions[use_mask]] = self.vocab.mask_id
        masked[positions[use_random]] = random_ids[use_random]
        return masked, positions, labels

    def make_batch(self, windows: np.ndarray, sample_indices, seed, stream, doc_ids=None) -> dict:
        """windows: (B, L) -> input_ids (B, L), mlm_positions (B, P), mlm_labels (B, P) where P is
        max_predictions; unused slots have position 0 and label IGNORE_INDEX."""
        windows = windows.astype(np.int64)
        batch_size, width = windows.shape[0], self.max_predictions
        input_ids = np.empty_like(windows)
        positions = np.zeros((batch_size, width), dtype=np.int64)
        labels = np.full((batch_size, width), IGNORE_INDEX, dtype=np.int64)
        for row, sample_index in enumerate(sample_indices):
            masked, chosen, chosen_labels = self.mask_one(windows[row], sample_rng(seed, stream, sample_index))
            input_ids[row] = masked
            positions[row, : len(chosen)] = chosen
            labels[row, : len(chosen)] = chosen_labels
        batch = {"input_ids": input_ids, "mlm_positions": positions, "mlm_labels": labels}
        if self.doc_mask:
            add_document_mask(batch, doc_ids)
        batch["num_targets"] = int((labels != IGNORE_INDEX).sum())
        return batch

    @classmethod
    def sample_flops(cls, model: ModelConfig, seq_len: int, *, targets_length: int = 0,
                     num_predictions: int = 0) -> float:
        """seq_len tokens through every layer; only `num_predictions` through the head transform
        (d x d) and the LM head."""
        per_token = (model.n_layer * model.layer_flops_per_token()
                     + model.attention_flops_per_token(model.n_layer, seq_len))
        head_transform = 6.0 * model.d_model * model.d_model
        return seq_len * per_token + num_predictions * (model.head_flops_per_token() + head_transform)

    def flops_per_sample(self, model: ModelConfig) -> float:
        return self.sample_flops(model, self.seq_len, num_predictions=self.max_predictions)
