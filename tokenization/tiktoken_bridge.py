"""Run any byte-level BPE tokenizer.json through tiktoken, when tiktoken can express it.

tiktoken's BPE merges, inside each pre-token piece, the adjacent pair whose concatenation has the
lowest rank; HF's merges the adjacent pair listed earliest in `merges`. So ranks derived from the
merge order (the 256 single bytes first, in id order, then merge i at rank 256 + i) reproduce HF
whenever the rest of the pipeline matches: the pre-tokenizer is one regex tiktoken can run (GPT-2's
ByteLevel(use_regex=True), or Split(regex, Isolated) + ByteLevel(use_regex=False) as in Llama 3),
the normalizer is none or a Unicode normal form (applied here by the HF normalizer itself), and the added
tokens are plain strings matched anywhere (HF's leftmost-longest match is done here with a regex
whose alternatives are sorted longest first; tiktoken's own special-token regex has no defined
order). A rank that is not the token's id goes through a lookup table after encoding.

What the static checks cannot prove (tiktoken may merge a pair HF does not list when their
concatenation is a token, and tiktoken returns a whole piece found in the ranks where HF runs the
merges) is checked token for token on real documents before use: `verify_on_texts`. Anything not
expressible returns a reason instead of an encoder, and the caller falls back to HF with it.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass

import numpy as np

# HF's ByteLevel(use_regex=True) split: GPT-2's pattern, as tiktoken's r50k/p50k write it.
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
NEVER_IN_UTF8 = {0xC0, 0xC1, *range(0xF5, 0x100)}
UNICODE_FORMS = {"NFC", "NFKC", "NFD", "NFKD"}
MODEL_OPTIONS_THAT_CHANGE_ENCODING = ("dropout", "continuing_subword_prefix", "end_of_word_suffix")


class NotExpressible(ValueError):
    """tiktoken cannot reproduce this tokenizer; the message says why (HF is used instead)."""


def byte_level_chars() -> dict[str, int]:
    """GPT-2's printable-unicode stand-in for each byte, inverted (HF ByteLevel vocab char -> byte)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            chars[chr(byte)] = byte
        else:
            chars[chr(256 + extra)] = byte
            extra += 1
    return chars


@dataclass(frozen=True)
class DerivedBpe:
    """What tiktoken needs, derived from a tokenizer.json (see `derive`)."""

    pattern: str
    mergeable_ranks: dict  # bytes -> rank (merge order)
    rank_to_id: np.ndarray | None  # (num_ranks,) uint32 lookup; None when every rank is its own id
    added_tokens: dict  # content -> id, matched before pre-tokenization, leftmost-longest
    normal_form: str | None  # unicodedata form applied to the text first
    add_prefix_space: bool  # ByteLevel(add_prefix_space=True): a space before each segment not starting with one


def derive(config: dict) -> DerivedBpe:
    """Ranks and settings for tiktoken from a parsed tokenizer.json; raise NotExpressible with the reason."""
    model = config.get("model") or {}
    if model.get("type") != "BPE":
        raise NotExpressible(f"its model is {model.get('type')}, not BPE")
    for option in MODEL_OPTIONS_THAT_CHANGE_ENCODING:
        if model.get(option):
            raise NotExpressible(f"its BPE sets {option}={model[option]!r}")
    pattern, add_prefix_space = _pattern(config.get("pre_tokenizer"))
    normal_form = _normal_form(config.get("normalizer"))
    added = {}
    for token in config.get("added_tokens") or []:
        if token.get("lstrip") or token.get("rstrip") or token.get("single_word"):
            raise NotExpressible(f"its added token {token['content']!r} strips or matches single words only")
        added[token["content"]] = int(token["id"])

    to_byte = byte_level_chars()
    vocab = model["vocab"]
    # Entries outside the byte-level alphabet (added tokens repeated in the model's vocab, as NeoX
    # has) are never produced by merges; they are matched as added tokens or not at all.
    as_bytes = {token: bytes(to_byte[c] for c in token) for token in vocab if all(c in to_byte for c in token)}
    singles = sorted((token_id, token) for token, token_id in vocab.items() if len(token) == 1 and token in as_bytes)
    missing = set(range(256)) - {as_bytes[token][0] for _, token in singles}
    if missing - NEVER_IN_UTF8:  # those 13 bytes never occur in a str's UTF-8, so need no token
        raise NotExpressible(f"its vocabulary lacks the single-byte tokens {sorted(missing - NEVER_IN_UTF8)}")
    ranks: dict[bytes, int] = {}
    ids: list[int] = []
    for token_id, token in singles:
        ranks[as_bytes[token]] = len(ids)
        ids.append(token_id)
    for merge in model.get("merges") or []:
        left, right = merge.split(" ") if isinstance(merge, str) else merge
        merged = left + right
        if merged not in as_bytes:
            raise NotExpressible(f"its merge {left!r} + {right!r} makes a token that is not in the vocabulary")
        key = as_bytes[merged]
        if key not in ranks:  # a second merge to the same token: tiktoken knows one rank per token
            ranks[key] = len(ids)
            ids.append(vocab[merged])
    if model.get("ignore_merges"):  # HF returns a whole piece found in the vocabulary, as tiktoken does
        for token, token_id in sorted(vocab.items(), key=lambda kv: kv[1]):
            if token in as_bytes and as_bytes[token] not in ranks and token not in added:
                ranks[as_bytes[token]] = len(ids)
                ids.append(token_id)
    rank_to_id = np.asarray(ids, dtype=np.uint32)
    identity = bool(np.array_equal(rank_to_id, np.arange(len(ids), dtype=np.uint32)))
    return DerivedBpe(pattern=pattern, mergeable_ranks=ranks, rank_to_id=None if identity else rank_to_id,
                      added_tokens=added, normal_form=normal_form, add_prefix_space=add_prefix_space)


def _pattern(pre: dict | None) -> tuple[str, bool]:
    if pre is None:
        raise NotExpressible("it has no pre-tokenizer (tiktoken needs a split pattern)")
    steps = pre["pretokenizers"] if pre.get("type") == "Sequence" else [pre]
    if len(steps) == 1 and steps[0].get("type") == "ByteLevel" and steps[0].get("use_regex", True):
        return GPT2_PATTERN, bool(steps[0].get("add_prefix_space"))
    if (len(steps) == 2 and steps[0].get("type") == "Split" and steps[1].get("type") == "ByteLevel"
            and not steps[1].get("use_regex", True)):
        split = steps[0]
        if split.get("behavior") != "Isolated" or split.get("invert"):
            raise NotExpressible(f"its Split pre-tokenizer uses behavior={split.get('behavior')}, "
                                 f"invert={split.get('invert')} (tiktoken keeps matches isolated)")
        pattern = split["pattern"].get("Regex")
        if pattern is None:
            pattern = re.escape(split["pattern"]["String"])
        return pattern, bool(steps[1].get("add_prefix_space"))
    kinds = "+".join(str(step.get("type")) for step in steps)
    raise NotExpressible(f"its pre-tokenizer {kinds} is not one regex split followed by ByteLevel")


def _normal_form(normalizer: dict | None) -> str | None:
    if normalizer is None:
        return None
    steps = normalizer["normalizers"] if normalizer.get("type") == "Sequence" else [normalizer]
    if not steps:
        return None
    if len(steps) == 1 and steps[0].get("type") in UNICODE_FORMS:
        return steps[0]["type"]
    kinds = "+".join(str(step.get("type")) for step in steps)
    raise NotExpressible(f"its normalizer {kinds} is not a single Unicode normal form")


class TiktokenBpe:
    """Encode like the HF tokenizer the DerivedBpe came from: `encode(text)` -> uint32 ids.

    Added tokens none of which starts another (GPT-2's one <|endoftext|>, a trained BPE's specials)
    go to tiktoken as its special tokens, matched in Rust; otherwise (NeoX's runs of spaces, where
    HF takes the longest) the text is split on them here first, longest alternative first.
    """

    def __init__(self, derived: DerivedBpe, name: str, normalize=None):
        import tiktoken

        self.derived = derived
        # The HF normalizer's own normalize_str when there is one: Python's unicodedata tables are a
        # different Unicode version from the Rust crate's (they order some combining marks differently).
        self.normalize = normalize or (lambda text: unicodedata.normalize(derived.normal_form, text))
        tokens = sorted(derived.added_tokens, key=lambda t: (-len(t), t))  # longest first: leftmost-longest
        prefix_free = not any(a != b and b.startswith(a) for a in tokens for b in tokens)
        native = prefix_free and not derived.add_prefix_space
        num_ranks = len(derived.mergeable_ranks)
        # Specials get the ranks after the merges; the lookup table maps every rank to its id.
        specials = {token: num_ranks + j for j, token in enumerate(tokens)} if native else {}
        rank_to_id = derived.rank_to_id if derived.rank_to_id is not None else np.arange(num_ranks, dtype=np.uint32)
        rank_to_id = np.concatenate([rank_to_id, np.asarray([derived.added_tokens[t] for t in specials], np.uint32)])
        identity = bool(np.array_equal(rank_to_id, np.arange(len(rank_to_id), dtype=np.uint32)))
        self.rank_to_id = None if identity else rank_to_id
        self.encoding = tiktoken.Encoding(name, pat_str=derived.pattern,
                                          mergeable_ranks=derived.mergeable_ranks, special_tokens=specials)
        self.added_regex = None
        if tokens and not native:
            self.added_regex = re.compile("(" + "|".join(map(re.escape, tokens)) + ")")

    def _encode_segment(self, segment: str) -> np.ndarray:
        if self.derived.add_prefix_space and not segment.startswith(" "):
            segment = " " + segment
        ranks = self.encoding.encode_to_numpy(segment, allowed_special="all", disallowed_special=())
        if self.rank_to_id is not None:
            return self.rank_to_id[ranks]
        return ranks.astype(np.uint32, copy=False)

    def encode(self, text: str) -> np.ndarray:
        form = self.derived.normal_form
        if form is not None and not text.isascii():  # ASCII is invariant under every normal form
            text = self.normalize(text)
        if self.added_regex is None or not self.added_regex.search(text):
            return self._encode_segment(text) if text else np.zeros(0, np.uint32)
        pieces = []
        for i, segment in enumerate(self.added_regex.split(text)):
            if i % 2:  # re.split puts the matched added tokens at odd positions
                pieces.append(np.array([self.derived.added_tokens[segment]], np.uint32))
            elif segment:
                pieces.append(self._encode_segment(segment))
        return np.concatenate(pieces) if pieces else np.zeros(0, np.uint32)


def tiktoken_for(tokenizer, name: str) -> TiktokenBpe:
    """A TiktokenBpe for a live `tokenizers.Tokenizer`; NotExpressible says why not."""
    derived = derive(json.loads(tokenizer.to_str()))
    normalize = tokenizer.normalizer.normalize_str if derived.normal_form is not None else None
    return TiktokenBpe(derived, name, normalize)


def verify_on_texts(fast: TiktokenBpe, tokenizer, texts) -> str | None:
    """None when `fast` gives HF's ids on every text, else the first difference, described."""
    texts = list(texts)
    expected = tokenizer.encode_batch_fast(texts, add_special_tokens=False)
    for index, (text, encoding) in enumerate(zip(texts, expected)):
        got = fast.encode(text)
        if not np.array_equal(got, np.asarray(encoding.ids, dtype=np.uint32)):
            at = next((i for i, (a, b) in enumerate(zip(got.tolist(), encoding.ids)) if a != b),
                      min(len(got), len(encoding.ids)))
            return (f"ids differ from tokenizers on text {index} of {len(texts)} at token {at} "
                    f"(text there: {tokenizer.decode(encoding.ids[at:at + 3])!r})")
    return None
