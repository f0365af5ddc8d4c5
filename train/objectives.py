"""Training objectives: raw token windows (numpy) -> model inputs and targets (numpy).

- CLM (GPT): next-token prediction over a packed window; optional per-document attention masking
  with positions restarting at each document.
- MLM (BERT): google-research/bert create_pretraining_data.py's masking: round(15% of the window)
  positions chosen among non-special tokens; of those 80% -> MASK, 10% -> a random token, 10% kept;
  the loss is computed only at the chosen positions.
- Span denoising (T5): t5/data/preprocessors.py's random_spans_noise_mask (noise density 0.15, mean
  span 3) with noise_span_to_unique_sentinel for inputs and nonnoise_span_to_unique_sentinel for
  targets, EOS appended to both; window lengths from random_spans_helper (568 raw -> 512 / 114).

Randomness comes from one numpy Generator per sample, seeded by (seed, stream, sample index), so a
sample's masks do not depend on batch composition, rank count or where a run was resumed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from train.vocab import VocabLayout

IGNORE_INDEX = -100  # F.cross_entropy's default ignore_index


def sample_rng(seed: int, stream: int, sample_index: int) -> np.random.Generator:
    """The Generator for one sample; stream 0 = train, 1 = validation."""
    return np.random.default_rng([seed, stream, int(sample_index)])


# ----------------------------------------------------------------------------------------------
# CLM


def positions_from_doc_ids(doc_ids: np.ndarray) -> np.ndarray:
    """Positions that restart at 0 where the document id changes. doc_ids: (B, T) -> (B, T)."""
    batch, length = doc_ids.shape
    index = np.broadcast_to(np.arange(length), (batch, length))
    is_start = np.ones((batch, length), dtype=bool)
    is_start[:, 1:] = doc_ids[:, 1:] != doc_ids[:, :-1]
    start_index = np.maximum.accumulate(np.where(is_start, index, 0), axis=1)
    return (index - start_index).astype(np.int64)


@dataclass(frozen=True, kw_only=True, slots=True)
class ClmObjective:
    name: ClassVar[str] = "clm"
    seq_len: int
    doc_mask: bool = False  # attend only within a document; positions restart per document

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
            if doc_ids is None:
                raise ValueError("doc_mask needs the windows' document ids")
            batch["doc_ids"] = doc_ids[:, :-1].astype(np.int64)
            batch["position_ids"] = positions_from_doc_ids(batch["doc_ids"])
        batch["num_targets"] = int(batch["labels"].size)
        return batch


# ----------------------------------------------------------------------------------------------
# MLM


@dataclass(frozen=True, kw_only=True, slots=True)
class MlmObjective:
    name: ClassVar[str] = "mlm"
    seq_len: int
    vocab: VocabLayout
    mlm_probability: float = 0.15
    mask_fraction: float = 0.8  # of the chosen positions; half of the rest random, half kept
    random_fraction: float = 0.1
    doc_mask: bool = False

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
            if doc_ids is None:
                raise ValueError("doc_mask needs the windows' document ids")
            batch["doc_ids"] = doc_ids.astype(np.int64)
            batch["position_ids"] = positions_from_doc_ids(batch["doc_ids"])
        batch["num_targets"] = int((labels != IGNORE_INDEX).sum())
        return batch


# ----------------------------------------------------------------------------------------------
# T5 span denoising


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
    inputs_length: int  # encoder length, EOS included (T5: 512)
    vocab: VocabLayout
    noise_density: float = 0.15
    mean_noise_span_length: float = 3.0
    needs_doc_ids: ClassVar[bool] = False

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


Objective = ClmObjective | MlmObjective | SpanObjective
OBJECTIVES = ("clm", "mlm", "span")
ARCH_FOR_OBJECTIVE = {"clm": "gpt", "mlm": "bert", "span": "t5"}


def make_objective(name: str, seq_len: int, vocab: VocabLayout, *, doc_mask: bool = False) -> Objective:
    if name == "clm":
        return ClmObjective(seq_len=seq_len, doc_mask=doc_mask)
    if name == "mlm":
        return MlmObjective(seq_len=seq_len, vocab=vocab, doc_mask=doc_mask)
    if name == "span":
        if doc_mask:
            raise ValueError("--doc-mask applies to clm and mlm; span denoising packs like T5 (no mask)")
        return SpanObjective(inputs_length=seq_len, vocab=vocab)
    raise ValueError(f"unknown objective {name!r}; choose one of {', '.join(OBJECTIVES)}")
