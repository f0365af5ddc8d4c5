"""The model's vocabulary: the tokenizer's ids, plus the special ids an objective needs, plus padding.

Layout (ids grow to the right):

    [0, tokenizer_vocab_size)            real token ids from the tokenizer (EOS among them)
    [tokenizer_vocab_size, ...)          added specials the tokenizer lacks: pad, then mask
    [..., extended_vocab_size)           added sentinels; sentinel k = extended_vocab_size - 1 - k
    [extended_vocab_size, model_vocab)   padding rows, only there to round the embedding/LM head
                                         up to a multiple of 128 (tensor-core friendly shapes);
                                         never an input, never a target

So a tokenizer such as GPT-2's (50,257 ids, EOS 50256 is its top id) gets MASK/PAD/sentinels above
50256 that can never collide with a real token, and T5's "sentinels count down from the top of the
vocabulary" holds for the extended vocabulary. When the manifest's `special_ids` already has `pad`,
`mask` or `sentinels` (a tokenizer trained with them), those ids are used and nothing is added.
"""
from __future__ import annotations

from dataclasses import dataclass

from train.objectives import objective_class
from train.objectives.base import SpecialNeeds

# T5 reserves 100 extra ids; span corruption of 568 tokens needs only 28, so 100 is ample.
DEFAULT_NUM_SENTINELS = 100
DEFAULT_VOCAB_MULTIPLE = 128


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


@dataclass(frozen=True, kw_only=True, slots=True)
class VocabLayout:
    tokenizer_vocab_size: int
    extended_vocab_size: int  # tokenizer ids + added specials; every id an input or target can be
    model_vocab_size: int  # extended, rounded up to the multiple; rows of the embedding and LM head
    eos_id: int
    pad_id: int | None  # also the T5 decoder start id
    mask_id: int | None
    sentinel_ids: tuple[int, ...]  # sentinel_ids[k] marks the k-th span; descending
    special_ids: tuple[int, ...]  # ids an objective must never select for masking

    def to_json(self) -> dict:
        return {
            "tokenizer_vocab_size": self.tokenizer_vocab_size,
            "extended_vocab_size": self.extended_vocab_size,
            "model_vocab_size": self.model_vocab_size,
            "eos_id": self.eos_id,
            "pad_id": self.pad_id,
            "mask_id": self.mask_id,
            "sentinel_ids": list(self.sentinel_ids),
            "special_ids": list(self.special_ids),
        }


def _special_id_list(special_ids: dict) -> list[int]:
    ids: list[int] = []
    for value in special_ids.values():
        if isinstance(value, list):
            ids.extend(int(v) for v in value)
        else:
            ids.append(int(value))
    return ids


def build_vocab_layout(
    tokenizer_vocab_size: int,
    special_ids: dict,
    objective: str | SpecialNeeds,
    *,
    num_sentinels: int = DEFAULT_NUM_SENTINELS,
    vocab_multiple: int = DEFAULT_VOCAB_MULTIPLE,
) -> VocabLayout:
    """Place the specials an objective needs (its `special_needs`: "clm" needs only EOS, "mlm" a
    MASK, "span" a PAD for the decoder start and sentinels) and pad the model vocabulary to
    `vocab_multiple`. `objective` is a registered objective's name or the needs themselves."""
    needs = objective_class(objective).special_needs if isinstance(objective, str) else objective
    if "eos" not in special_ids:
        raise ValueError(
            "manifest special_ids has no 'eos'; the shard writer must record the EOS id it appended "
            "(tokenization special_ids={'eos': ...})"
        )
    next_free = tokenizer_vocab_size
    pad_id = special_ids.get("pad")
    mask_id = special_ids.get("mask")
    if needs.mask and mask_id is None:
        mask_id, next_free = next_free, next_free + 1
    if needs.pad and pad_id is None:
        pad_id, next_free = next_free, next_free + 1
    sentinels = tuple(int(s) for s in special_ids.get("sentinels", []))
    if needs.sentinels:
        if sentinels:
            sentinels = tuple(sorted(sentinels, reverse=True))  # T5 order: the top one first
        else:
            next_free += num_sentinels
            sentinels = tuple(range(next_free - 1, next_free - 1 - num_sentinels, -1))
    model_vocab_size = round_up(next_free, vocab_multiple)
    specials = set(_special_id_list(special_ids)) | {
        i for i in (pad_id, mask_id) if i is not None
    } | set(sentinels)
    return VocabLayout(
        tokenizer_vocab_size=tokenizer_vocab_size,
        extended_vocab_size=next_free,
        model_vocab_size=model_vocab_size,
        eos_id=int(special_ids["eos"]),
        pad_id=None if pad_id is None else int(pad_id),
        mask_id=None if mask_id is None else int(mask_id),
        sentinel_ids=sentinels,
        special_ids=tuple(sorted(specials)),
    )
