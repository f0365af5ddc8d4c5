"""Text normalization and shingle hashes.

Near-duplicate text is compared as a set of word 5-grams (FineWeb) of a normalized text: lower case,
diacritics stripped (NFKD, combining marks dropped), every run of digits -> "0", words = runs of
`\\w` characters (so punctuation and whitespace differences vanish). Code can use character n-grams
instead (`shingle: char`), over the text with whitespace runs collapsed.

A shingle's hash is built from per-token hashes (xxh3-64 of a word's UTF-8 bytes; a character's
code point) combined left to right with `h = fmix64(h * PRIME + token)`. The numpy path computes all
shingles of a document at once; `shingle_hash_of_tokens` is the same function on one shingle, for
reference libraries (datasketch takes it as its `hashfunc`).
"""
from __future__ import annotations

import re
import unicodedata

import numpy as np
import xxhash

MASK64 = (1 << 64) - 1
COMBINE_PRIME = 0x9E3779B97F4A7C15  # 2^64 / golden ratio, odd: multiplication is a bijection mod 2^64
_PRIME = np.uint64(COMBINE_PRIME)
_FMIX64 = (np.uint64(33), np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53))

_WORD = re.compile(r"\w+")
_DIGITS = re.compile(r"\d+")
_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_SPACES = re.compile(r"\s+")


def fmix64(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer (a bijection that avalanches), element-wise, wrapping."""
    shift, m1, m2 = _FMIX64
    values = values ^ (values >> shift)
    values = values * m1
    values = values ^ (values >> shift)
    values = values * m2
    return values ^ (values >> shift)


def fmix64_int(value: int) -> int:
    value ^= value >> 33
    value = (value * 0xFF51AFD7ED558CCD) & MASK64
    value ^= value >> 33
    value = (value * 0xC4CEB9FE1A85EC53) & MASK64
    return value ^ (value >> 33)


def normalize_words(text: str) -> list[str]:
    """The words near-duplicate detection compares (see the module docstring)."""
    text = text.lower()
    if not text.isascii():
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", text))
    return _WORD.findall(_DIGITS.sub("0", text))


def normalize_exact(text: str) -> str:
    """What exact deduplication hashes: NFKC, lower case, whitespace runs -> one space, stripped.
    Two texts that differ only in case, Unicode form or spacing are exact duplicates."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.lower().split())


def exact_hash(text: str, url: str | None = None) -> tuple[int, int]:
    """128-bit xxh3 of the normalized text (and the URL when given), as (high, low) 64-bit halves."""
    key = normalize_exact(text)
    if url is not None:
        key = f"{url}\x1f{key}"
    digest = xxhash.xxh3_128_intdigest(key.encode("utf-8", "surrogatepass"))
    return digest >> 64, digest & MASK64


def word_token_hashes(words: list[str]) -> np.ndarray:
    hasher = xxhash.xxh3_64_intdigest
    return np.fromiter((hasher(w.encode("utf-8", "surrogatepass")) for w in words), dtype=np.uint64,
                       count=len(words))


def char_token_hashes(text: str) -> np.ndarray:
    collapsed = _SPACES.sub(" ", text.lower()).strip()
    code_points = np.frombuffer(collapsed.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return fmix64(code_points.astype(np.uint64))


def combine_ngrams(tokens: np.ndarray, n: int) -> np.ndarray:
    """Hash of every n-gram of a token-hash sequence; a sequence shorter than n gives one shingle
    (all of it), an empty one none."""
    count = len(tokens)
    if count == 0:
        return np.empty(0, dtype=np.uint64)
    width = min(n, count)
    hashes = tokens[: count - width + 1].copy()
    for offset in range(1, width):
        hashes = fmix64(hashes * _PRIME + tokens[offset: count - width + 1 + offset])
    return hashes


def shingle_hashes(text: str, *, shingle: str = "word", ngram: int = 5) -> np.ndarray:
    """uint64 hashes of a document's shingles, in text order (repeats included; MinHash ignores them)."""
    if shingle == "word":
        tokens = word_token_hashes(normalize_words(text))
    elif shingle == "char":
        tokens = char_token_hashes(text)
    else:
        raise ValueError(f"shingle must be 'word' or 'char', not {shingle!r}")
    return combine_ngrams(tokens, ngram)


def token_hash(token: str, shingle: str = "word") -> int:
    if shingle == "word":
        return xxhash.xxh3_64_intdigest(token.encode("utf-8", "surrogatepass"))
    return fmix64_int(ord(token))


def shingle_hash_of_tokens(tokens: tuple[str, ...], shingle: str = "word") -> int:
    """The hash of one shingle (a tuple of words, or of characters), computed one token at a time:
    the scalar twin of `combine_ngrams`, given to reference libraries as their hash function."""
    value = token_hash(tokens[0], shingle)
    for token in tokens[1:]:
        value = fmix64_int((value * COMBINE_PRIME + token_hash(token, shingle)) & MASK64)
    return value


def shingle_tuples(text: str, *, shingle: str = "word", ngram: int = 5) -> list[tuple[str, ...]]:
    """The shingles themselves (for reference computations and inspection), in text order."""
    tokens = normalize_words(text) if shingle == "word" else list(_SPACES.sub(" ", text.lower()).strip())
    if not tokens:
        return []
    width = min(ngram, len(tokens))
    return [tuple(tokens[i: i + width]) for i in range(len(tokens) - width + 1)]
