"""The three objectives and the vocabulary layout, pinned against the references' arithmetic:
T5's random_spans_helper / random_spans_noise_mask / noise_span_to_unique_sentinel, BERT's
create_masked_lm_predictions (15%; 80/10/10; specials never chosen), GPT's shifted labels."""
from __future__ import annotations

import numpy as np
import pytest

from tokenization.manifest import load_manifest
from train.data import TokenWindows
from train.objectives import (IGNORE_INDEX, ClmObjective, MlmObjective, SpanObjective,
                              positions_from_doc_ids, random_spans_helper, random_spans_noise_mask,
                              sample_rng)
from train.vocab import build_vocab_layout

GPT2_VOCAB, GPT2_EOS = 50257, 50256


def gpt2_layout(objective: str):
    return build_vocab_layout(GPT2_VOCAB, {"eos": GPT2_EOS}, objective)


# ---------------------------------------------------------------------------------------------
# T5 span corruption


def test_random_spans_helper_gives_t5_lengths():
    # independent arithmetic: 568 raw tokens -> 85 noise (round 85.2) in 28 spans (round 28.33);
    # inputs 483 kept + 28 sentinels + EOS = 512, targets 85 + 28 sentinels + EOS = 114;
    # 569 raw would give 484 + 28 + 1 = 513 > 512, so 568 is the largest that fits.
    assert random_spans_helper(512, 0.15, 3.0) == (568, 114)


def test_random_spans_helper_small_lengths_by_hand():
    # 70 raw: round(10.5)=10 noise (banker's rounding), 60 kept, round(3.33)=3 spans -> 60+3+1 = 64
    # 71 raw: round(10.65)=11 noise, 60 kept, round(3.67)=4 spans -> 60+4+1 = 65 > 64
    assert random_spans_helper(64, 0.15, 3.0) == (70, 10 + 3 + 1)


def test_noise_mask_has_exact_counts_and_starts_with_nonnoise():
    lengths = []
    for seed in range(200):
        mask = random_spans_noise_mask(568, 0.15, 3.0, np.random.default_rng(seed))
        assert mask.shape == (568,) and mask.dtype == bool
        assert int(mask.sum()) == 85
        starts = np.flatnonzero(mask & ~np.concatenate([[False], mask[:-1]]))
        assert len(starts) == 28  # exactly round(85 / 3) spans
        assert not mask[0]  # spans alternate beginning with non-noise
        ends = np.flatnonzero(mask & ~np.concatenate([mask[1:], [False]]))
        lengths.extend((ends - starts + 1).tolist())
    assert np.mean(lengths) == pytest.approx(85 / 28)


def merge_span_corruption(inputs: np.ndarray, targets: np.ndarray, sentinels: set[int], eos: int) -> list[int]:
    """Independent inverse: replace each sentinel in the inputs by the tokens that follow the same
    sentinel in the targets."""
    assert inputs[-1] == eos and targets[-1] == eos
    spans, current = {}, None
    for token in targets[:-1].tolist():
        if token in sentinels:
            current = token
            spans[current] = []
        else:
            spans[current].append(token)
    out = []
    for token in inputs[:-1].tolist():
        out.extend(spans[token] if token in sentinels else [token])
    return out


def test_span_corruption_lengths_sentinels_and_reconstruction(book_shards):
    layout = gpt2_layout("span")
    objective = SpanObjective(inputs_length=512, vocab=layout)
    assert (objective.raw_length, objective.targets_length) == (568, 114)
    windows = TokenWindows(load_manifest(book_shards).open_shards("train"), 568, 568)
    sentinels = set(layout.sentinel_ids)
    for sample in range(20):
        raw = windows.tokens(sample).astype(np.int64)
        inputs, targets = objective.corrupt_one(raw, sample_rng(7, 0, sample))
        assert inputs.shape == (512,) and targets.shape == (114,)
        used = [t for t in inputs.tolist() if t in sentinels]
        assert used == list(range(layout.extended_vocab_size - 1, layout.extended_vocab_size - 29, -1))
        assert [t for t in targets.tolist() if t in sentinels] == used
        assert merge_span_corruption(inputs, targets, sentinels, GPT2_EOS) == raw.tolist()
    batch = objective.make_batch(np.stack([windows.tokens(i) for i in range(4)]), np.arange(4), 7, 0)
    assert batch["decoder_input_ids"][:, 0].tolist() == [layout.pad_id] * 4
    assert np.array_equal(batch["decoder_input_ids"][:, 1:], batch["labels"][:, :-1])
    assert batch["num_targets"] == 4 * 114


def test_gpt2_vocab_is_extended_above_the_tokenizer():
    # GPT-2: 50,257 ids, EOS 50256 is the top id, no MASK/PAD/sentinels
    clm, mlm, span = gpt2_layout("clm"), gpt2_layout("mlm"), gpt2_layout("span")
    assert (clm.extended_vocab_size, clm.model_vocab_size) == (50257, 50304)  # nanoGPT's 50304
    assert (mlm.mask_id, mlm.extended_vocab_size, mlm.model_vocab_size) == (50257, 50258, 50304)
    assert span.pad_id == 50257
    assert span.sentinel_ids[0] == span.extended_vocab_size - 1 == 50357
    assert span.sentinel_ids == tuple(range(50357, 50257, -1))  # 100, counting down, all new ids
    assert min(span.sentinel_ids) > GPT2_EOS and span.pad_id not in span.sentinel_ids
    assert span.model_vocab_size == 50432 and span.model_vocab_size % 128 == 0


def test_tokenizer_specials_are_used_when_present(shared_data):
    from tokenizers import Tokenizer

    bert = Tokenizer.from_file(str(shared_data / "tokenizers/all-MiniLM-L6-v2/tokenizer.json"))
    ids = {"eos": bert.token_to_id("[SEP]"), "pad": bert.token_to_id("[PAD]"), "mask": bert.token_to_id("[MASK]")}
    assert ids == {"eos": 102, "pad": 0, "mask": 103}
    layout = build_vocab_layout(bert.get_vocab_size(), ids, "mlm")
    assert (layout.mask_id, layout.extended_vocab_size, layout.model_vocab_size) == (103, 30522, 30592)
    assert set(layout.special_ids) == {0, 102, 103}
    with_sentinels = build_vocab_layout(32100, {"eos": 1, "pad": 0, "sentinels": list(range(32000, 32100))}, "span")
    assert with_sentinels.sentinel_ids[0] == 32099 and with_sentinels.extended_vocab_size == 32100


# ---------------------------------------------------------------------------------------------
# BERT masking


def test_mlm_masking_proportions_on_real_tokens(book_shards):
    layout = gpt2_layout("mlm")
    objective = MlmObjective(seq_len=128, vocab=layout)
    windows = TokenWindows(load_manifest(book_shards).open_shards("train"), 128, 128)
    sample_ids = np.arange(1600)  # 204,800 tokens (windows revisited with fresh per-sample draws)
    tokens = np.stack([windows.tokens(int(i) % windows.num_windows) for i in sample_ids])
    assert tokens.size == 204_800 and (tokens == GPT2_EOS).sum() > 0
    batch = objective.make_batch(tokens, sample_ids, 11, 0)
    chosen = batch["mlm_labels"] != IGNORE_INDEX
    rows, slots = np.nonzero(chosen)
    positions = batch["mlm_positions"][rows, slots]
    originals = tokens[rows, positions].astype(np.int64)
    after = batch["input_ids"][rows, positions]
    assert np.array_equal(batch["mlm_labels"][rows, slots], originals)  # labels = original tokens
    assert not np.any(originals == GPT2_EOS)  # special tokens are never chosen
    share = len(positions) / tokens.size
    assert abs(share - 0.15) <= 0.005
    assert batch["num_targets"] == len(positions)
    masked = np.mean(after == layout.mask_id)
    kept = np.mean(after == originals)
    randomized = 1.0 - masked - kept
    assert abs(masked - 0.8) <= 0.01 and abs(kept - 0.1) <= 0.01 and abs(randomized - 0.1) <= 0.01
    # replacements are MASK or real tokenizer ids, never the padding rows above the vocabulary
    assert np.all((after == layout.mask_id) | (after < layout.tokenizer_vocab_size))
    # tokens not chosen are untouched
    untouched = np.ones_like(tokens, dtype=bool)
    untouched[rows, positions] = False
    assert np.array_equal(batch["input_ids"][untouched], tokens[untouched].astype(np.int64))


def test_mlm_masks_depend_only_on_seed_and_sample_index():
    objective = MlmObjective(seq_len=64, vocab=gpt2_layout("mlm"))
    tokens = np.arange(64 * 3, dtype=np.int64).reshape(3, 64)
    whole = objective.make_batch(tokens, np.array([5, 6, 7]), 3, 0)
    single = objective.make_batch(tokens[1:2], np.array([6]), 3, 0)
    assert np.array_equal(whole["input_ids"][1], single["input_ids"][0])
    other_seed = objective.make_batch(tokens[1:2], np.array([6]), 4, 0)
    assert not np.array_equal(other_seed["mlm_positions"], single["mlm_positions"])


# ---------------------------------------------------------------------------------------------
# CLM


def test_clm_labels_are_inputs_shifted_by_one(book_shards):
    windows = TokenWindows(load_manifest(book_shards).open_shards("train"), 65, 64)
    raw = np.stack([windows.tokens(i) for i in range(3)])
    assert np.array_equal(raw[0, -1], raw[1, 0])  # stride 64: consecutive windows share one token
    batch = ClmObjective(seq_len=64).make_batch(raw, np.arange(3), 0, 0)
    assert batch["input_ids"].shape == batch["labels"].shape == (3, 64)
    assert np.array_equal(batch["labels"][:, :-1], batch["input_ids"][:, 1:])
    assert np.array_equal(batch["labels"][:, -1], raw[:, 64].astype(np.int64))
    assert batch["num_targets"] == 3 * 64


def test_document_ids_and_positions_restart_after_eos(book_shards):
    reader = load_manifest(book_shards).open_shards("train")[0]
    first_doc_len = int(reader.offsets[1] - reader.offsets[0])
    windows = TokenWindows([reader], 257, 256)
    # the window that holds the end of the first document
    window = (first_doc_len - 10) // 256
    raw = windows.tokens(window)
    doc_ids = windows.doc_ids(window)
    batch = ClmObjective(seq_len=256, doc_mask=True).make_batch(raw[None], np.array([0]), 0, 0, doc_ids=doc_ids[None])
    eos_at = np.flatnonzero(raw[:-1] == GPT2_EOS)
    assert len(eos_at) >= 1
    start = window * 256
    assert start + eos_at[0] == first_doc_len - 1  # EOS is the first document's last token
    positions = batch["position_ids"][0]
    assert positions[eos_at[0] + 1] == 0 and batch["doc_ids"][0][eos_at[0] + 1] == 1
    assert positions[eos_at[0]] == eos_at[0] and batch["doc_ids"][0][eos_at[0]] == 0
    assert np.array_equal(positions_from_doc_ids(np.array([[0, 0, 1, 1, 1, 2]])), [[0, 1, 0, 1, 2, 0]])
