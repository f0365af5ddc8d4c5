"""Train a tokenizer (byte-level BPE or Unigram) on sampled documents, reproducibly for a seed.

Split out of tokenization/tokenizer.py (loading, special ids and the fast tiktoken path live there).
"""
from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Iterable, Literal

from tokenization.atomic_files import atomic_path
from tokenization.tokenizer import DEFAULT_SPECIAL_TOKENS, TokenizerSpec, load_tokenizer


def train_tokenizer(
    texts: Iterable[str],
    *,
    vocab_size: int,
    out_path: str | os.PathLike,
    kind: Literal["bpe", "unigram"] = "bpe",
    special_tokens: dict[str, str] | None = None,
    num_sentinels: int = 100,
    min_frequency: int = 2,
    sample_docs: int | None = None,
    seed: int = 0,
) -> TokenizerSpec:
    """Train a byte-level BPE (or Unigram) tokenizer, save tokenizer.json and return its spec.

    Ids: `special_tokens` (role -> string; default EOS/PAD/MASK) first, then the learned vocabulary,
    then the sentinels at the top (sentinel k = final vocab_size-1-k). When the corpus is too small
    to learn `vocab_size - num_sentinels` entries, the vocabulary is smaller and the sentinels still
    sit at its top. `sample_docs` keeps a seeded uniform sample of the texts (reservoir). The same
    texts, options and seed give a byte-identical file (checked by the tests via sha256).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    specials = dict(special_tokens or DEFAULT_SPECIAL_TOKENS)
    if "eos" not in specials:
        raise ValueError("special_tokens needs an 'eos' entry (e.g. {'eos': '<|endoftext|>'})")
    sentinel_tokens = [f"<extra_id_{k}>" for k in range(num_sentinels)]
    base_tokens = list(specials.values())
    learned_size = vocab_size - num_sentinels
    if learned_size <= len(base_tokens) + 256:
        raise ValueError(f"vocab_size {vocab_size} leaves no room for 256 bytes, specials and sentinels")
    if sample_docs is not None:
        texts = _reservoir_sample(texts, sample_docs, seed)

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    if kind == "bpe":
        tokenizer = Tokenizer(models.BPE())
        trainer = trainers.BpeTrainer(
            vocab_size=learned_size,
            min_frequency=min_frequency,
            special_tokens=base_tokens,
            initial_alphabet=alphabet,
            show_progress=False,
        )
    elif kind == "unigram":
        unk = specials.setdefault("unk", "<unk>")
        base_tokens = list(specials.values())
        tokenizer = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(
            vocab_size=learned_size,
            special_tokens=base_tokens,
            unk_token=unk,
            show_progress=False,
        )
    else:
        raise ValueError(f"unknown tokenizer kind {kind!r}; choose 'bpe' or 'unigram'")
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(texts, trainer=trainer)
    if kind == "unigram":
        tokenizer = _canonical_unigram(tokenizer, num_specials=len(base_tokens))
    # Added in reverse so that <extra_id_0> lands on the last id, <extra_id_1> one below, ...
    tokenizer.add_special_tokens(list(reversed(sentinel_tokens)))

    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        tokenizer.save(str(tmp))
    spec = load_tokenizer(
        out_path, eos_token=specials["eos"], pad_token=specials.get("pad"), mask_token=specials.get("mask")
    )
    (out_path.with_name(out_path.name + ".sha256")).write_text(f"{spec.sha256}  {out_path.name}\n")
    return spec


def _canonical_unigram(tokenizer, *, num_specials: int):
    """Make a trained Unigram independent of the trainer's hash-map order, and byte-complete.

    HF's UnigramTrainer iterates hash maps: runs differ in the last float digits of the scores, in
    the order of tied pieces, and in which character gets which made-up score. So it trains without
    `initial_alphabet`; here the scores are rounded to 1e-6, made-up scores re-assigned in character
    order, pieces sorted by (score desc, piece), and every byte-level character never seen is added below the lowest
    score (in character order) in place of as many of the lowest-scored multi-character pieces,
    so that any text encodes without <unk> and the size stays what was asked.
    """
    from tokenizers import Tokenizer, pre_tokenizers

    config = json.loads(tokenizer.to_str())
    vocab = config["model"]["vocab"]
    specials, learned = vocab[:num_specials], vocab[num_specials:]
    learned = [[piece, round(score, 6)] for piece, score in learned]
    # The trainer gives each seen character that EM dropped the score min + k * 1e-4, k in hash
    # order: hand the single characters on that grid their scores in character order instead.
    if learned:
        lowest = min(score for _, score in learned)
        on_grid = [
            i for i, (piece, score) in enumerate(learned)
            if len(piece) == 1 and abs((score - lowest) / 1e-4 - round((score - lowest) / 1e-4)) < 1e-2
            and score - lowest < 1e-4 * len(learned)
        ]
        scores = sorted((learned[i][1] for i in on_grid), reverse=True)
        for i, piece, score in zip(on_grid, sorted(learned[i][0] for i in on_grid), scores):
            learned[i] = [piece, score]
    learned.sort(key=lambda e: (-e[1], e[0]))
    present = {piece for piece, _ in learned}
    missing = sorted(set(pre_tokenizers.ByteLevel.alphabet()) - present)
    if missing:
        floor = (learned[-1][1] if learned else 0.0) - 1.0
        removable = [i for i in range(len(learned) - 1, -1, -1) if len(learned[i][0]) > 1][: len(missing)]
        keep = set(range(len(learned))) - set(removable)
        learned = [learned[i] for i in sorted(keep)] + [[char, floor] for char in missing]
    config["model"]["vocab"] = specials + learned
    return Tokenizer.from_str(json.dumps(config))


def _reservoir_sample(texts: Iterable[str], k: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    sample: list[str] = []
    for i, text in enumerate(texts):
        if i < k:
            sample.append(text)
        else:
            j = rng.randint(0, i)
            if j < k:
                sample[j] = text
    return sample
