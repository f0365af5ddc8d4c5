"""Span denoising (T5): t5/data/preprocessors.py's random_spans_noise_mask (noise density 0.15, mean
span 3) with noise_span_to_unique_sentinel for inputs and nonnoise_span_to_unique_sentinel for
targets, EOS appended to both; window lengths from random_spans_helper (568 raw -> 512 / 114)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from train.objectives.base import ModelFamily, SpecialNeeds, sample_rng

if TYPE_CHECKING:
    from train.model_config import ModelConfig
    from train.vocab import VocabLayout


def random_spans_helper(
    inputs_length: int,
    noise_density: float = 0.15,
    mean_noise_span_length: float = 3.0,
    extra_tokens_per_span_inputs: int = 1,
    extra_tokens_per_span_targets: int = 1,
) -> tuple[int, int]:
    """T5's random_spans_helper: the raw token count whose corrupted inputs (EOS included) fit
    `inputs_length` exactly, and the resulting targets length (EOS included)."""

    def lengths_for(tokens_length: int) -> tuple[int, int]:
        num_noise_tokens = int(round(tokens_length * noise_density))
        num_nonnoise_tokens = tokens_length - num_noise_tokens
        num_noise_spans = int(round(num_noise_tokens / mean_noise_span_length))
        # inputs: non-noise tokens + one sentinel per noise span + EOS; targets: the converse
        return (
            num_nonnoise_tokens + num_noise_spans * extra_tokens_per_span_inputs + 1,
            num_noise_tokens + num_noise_spans * extra_tokens_per_span_targets + 1,
        )

    tokens_length = inputs_length - 1
    while lengths_for(tokens_length + 1)[0] <= inputs_length:
        tokens_length += 1
    _, targets_length = lengths_for(tokens_length)
    if noise_density == 0.5 and targets_length > inputs_length:  # T5's round-number tweak
        tokens_length -= 1
        targets_length -= 1
    return tokens_length, targets_length


def _random_segmentation(num_items: int, num_segments: int, rng: np.random.Generator) -> np.ndarray:
    """Split num_items into num_segments non-empty parts, all partitions equally likely."""
    first_in_segment = np.zeros(num_items, dtype=np.int64)
    first_in_segment[1:] = rng.permutation(np.arange(num_items - 1) < num_segments - 1)
    segment_id = np.cumsum(first_in_segment)
    return np.bincount(segment_id, minlength=num_segments)


def random_spans_noise_mask(
    length: int, noise_density: float, mean_noise_span_length: float, rng: np.random.Generator
) -> np.ndarray:
    """T5's random_spans_noise_mask: (length,) bool. round(length * density) noise tokens in
    round(noise / mean_span) spans; spans alternate non-noise, noise, starting with non-noise."""
    if noise_density == 0.0:
        return np.zeros(length, dtype=bool)
    orig_length, length = length, max(length, 2)
    num_noise_tokens = min(max(int(round(length * noise_density)), 1), length - 1)
    num_noise_spans = max(int(round(num_noise_tokens / mean_noise_span_length)), 1)
    num_nonnoise_tokens = length - num_noise_tokens
    noise_span_lengths = _random_segmentation(num_noise_tokens, num_noise_spans, rng)
    nonnoise_span_lengths = _random_segmentation(num_nonnoise_tokens, num_noise_spans, rng)
    interleaved = np.stack([nonnoise_span_lengths, noise_span_lengths], axis=1).reshape(-1)
    span_starts = np.cumsum(interleaved)[:-1]
    span_start_indicator = np.zeros(length, dtype=np.int64)
    span_start_indicator[span_starts] = 1
    is_noise = np.cumsum(span_start_indicator) % 2 == 1
    return is_noise[:orig_length]


def spans_to_unique_sentinels(tokens: np.ndarray, noise_mask: np.ndarray, sentinel_ids) -> np.ndarray:
    """T5's noise_span_to_unique_sentinel: each run of noise tokens becomes one sentinel, the k-th
    run sentinel_ids[k] (descending from the top of the vocabulary). (L,) -> (L') without EOS."""
    prev_is_noise = np.zeros_like(noise_mask)
    prev_is_noise[1:] = noise_mask[:-1]
    first_noise = noise_mask & ~prev_is_noise
    span_number = np.cumsum(first_noise) - 1  # k for the k-th span
    if first_noise.any() and span_number[-1] >= len(sentinel_ids):
        raise ValueError(
            f"{span_number[-1] + 1} noise spans but only {len(sentinel_ids)} sentinels; "
            "raise --num-sentinels"
        )
    out = tokens.astype(np.int64).copy()
    out[first_noise] = np.asarray(sentinel_ids, dtype=np.int64)[span_number[first_noise]]
    return out[~(noise_mask & prev_is_noise)]


@dataclass(frozen=True, kw_only=True, slots=True)
class SpanObjective:
    name: ClassVar[str] = "span"
    model_family: ClassVar[ModelFamily] = "encoder-decoder"
    special_needs: ClassVar[SpecialNeeds] = SpecialNeeds(pad=True, sentinels=True)
    inputs_length: int  # encoder length, EOS included (T5: 512)
    vocab: VocabLayout
    noise_density: float = 0.15
    mean_noise_span_length: float = 3.0
    needs_doc_ids: ClassVar[bool] = False

    @classmethod
    def create(cls, seq_len: int, vocab: VocabLayout, *, doc_mask: bool = False) -> SpanObjective:
        if doc_mask:
            raise ValueError("--doc-mask applies to clm and mlm; span denoising packs like T5 (no mask)")
        return cls(inputs_length=seq_len, vocab=vocab)

    @property
    def lengths(self) -> tuple[int, int]:
        return random_spans_helper(self.inputs_length, self.noise_density, self.mean_noise_span_length)

    @property
    def raw_length(self) -> int:
        return self.lengths[0]

    @property
    def targets_length(self) -> int:
        return self.lengths[1]

    @property
    def stride(self) -> int:
        return self.raw_length

    def corrupt_one(self, tokens: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """tokens: (raw_length,) -> inputs (inputs_length,), targets (targets_length,)."""
        noise = random_spans_noise_mask(len(tokens), self.noise_density, self.mean_noise_span_length, rng)
        eos = np.array([self.vocab.eos_id], dtype=np.int64)
        inputs = np.concatenate([spans_to_unique_sentinels(tokens, noise, self.vocab.sentinel_ids), eos])
        targets = np.concatenate([spans_to_unique_sentinels(tokens, ~noise, self.vocab.sentinel_ids), eos])
        return inputs, targets

    def make_batch(self, windows: np.ndarray, sample_indices, seed, stream, doc_ids=None) -> dict:
        """windows: (B, raw) -> input_ids (B, Le), decoder_input_ids (B, Ld), labels (B, Ld);
        decoder inputs are the targets shifted right behind the start id (T5 uses PAD)."""
        if self.vocab.pad_id is None:
            raise ValueError("span denoising needs a pad id; build the layout with objective='span'")
        batch_size = windows.shape[0]
        inputs = np.empty((batch_size, self.inputs_length), dtype=np.int64)
        labels = np.empty((batch_size, self.targets_length), dtype=np.int64)
        for row, sample_index in enumerate(sample_indices):
            inputs[row], labels[row] = self.corrupt_one(windows[row], sample_rng(seed, stream, sample_index))
        decoder_inputs = np.empty_like(labels)
        decoder_inputs[:, 0] = self.vocab.pad_id
        decoder_inputs[:, 1:] = labels[:, :-1]
        return {
            "input_ids": inputs,
            "decoder_input_ids": decoder_inputs,
            "labels": labels,
            "num_targets": int(labels.size),
        }

    @classmethod
    def sample_flops(cls, model: ModelConfig, seq_len: int, *, targets_length: int = 0,
                     num_predictions: int = 0) -> float:
        """seq_len encoder tokens; `targets_length` decoder tokens with self- and cross-attention
        and the LM head; each decoder layer projects every encoder token to keys and values."""
        c = model
        enc = seq_len * (c.n_layer * c.layer_flops_per_token() + c.attention_flops_per_token(c.n_layer, seq_len))
        dec_layers = c.n_decoder_layer
        cross_q_out = 6.0 * 2 * c.d_model * c.d_model  # per decoder token
        cross_kv = 6.0 * 2 * c.d_model * c.d_model  # per encoder token, per decoder layer
        dec = targets_length * (
            dec_layers * (c.layer_flops_per_token() + cross_q_out)
            + c.attention_flops_per_token(dec_layers, targets_length)
            + c.attention_flops_per_token(dec_layers, seq_len)
            + c.head_flops_per_token()
        )
        return enc + dec + seq_len * dec_layers * cross_kv

    def flops_per_sample(self, model: ModelConfig) -> float:
        return self.sample_flops(model, self.inputs_length, targets_length=self.targets_length)
