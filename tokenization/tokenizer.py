"""Load or train a tokenizer and describe it as a small, picklable `TokenizerSpec`.

A spec carries the tokenizer file's path and sha256, the vocabulary size (added tokens included)
and the special ids the shards record (`eos` always; `pad`, `mask`, `bos`, `sentinels` when the
vocabulary has them). The live `tokenizers.Tokenizer` is loaded once per process and cached by
sha256, so Ray tasks carry the spec, never the tokenizer.

Training (`train_tokenizer`) makes a byte-level BPE (or, with kind="unigram", a byte-level Unigram)
with EOS, PAD and MASK at ids 0, 1, 2 and `num_sentinels` span-denoising sentinels at the TOP of the
vocabulary, T5 style: sentinel k is `<extra_id_k>` with id vocab_size-1-k.

Byte-level BPEs run through tiktoken (see `encode.py` for the speed-up) in two ways: with a given
ranks file (`tiktoken_ranks=`), used only after the ranks are checked to map every token to the same
id as tokenizer.json and a probe set encodes identically; or with ranks derived from tokenizer.json's
merges (`derive_tiktoken=True`, see `tiktoken_bridge.py`), which the build turns on only after
`with_fast_path` found tokenizers' ids on a sample of the documents (else HF, with the reason logged).
"""
from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from tokenization.remote import is_remote, local_tokenizer
from tokenization.shards import ShardHeader, file_sha256
from tokenization.tiktoken_bridge import (GPT2_PATTERN, NotExpressible, TiktokenBpe, byte_level_chars,
                                         tiktoken_for, verify_on_texts)

# Looked up in this order when no explicit token is given (GPT-2/NeoX, T5/Llama, BERT, others).
EOS_CANDIDATES = ("<|endoftext|>", "</s>", "<eos>", "<|eos|>", "<|end_of_text|>", "[SEP]")
PAD_CANDIDATES = ("<pad>", "<|pad|>", "<|padding|>", "[PAD]")
MASK_CANDIDATES = ("<mask>", "<|mask|>", "[MASK]")
BOS_CANDIDATES = ("<s>", "<bos>", "<|startoftext|>", "<|begin_of_text|>", "[CLS]")
SENTINEL_PATTERN = re.compile(r"<extra_id_(\d+)>")

DEFAULT_SPECIAL_TOKENS = {"eos": "<|endoftext|>", "pad": "<|pad|>", "mask": "<|mask|>"}
TIKTOKEN_PROBES = (
    "Hello world",
    "  leading spaces, trailing spaces   ",
    "It's we'll they've I'M don't\r\n\r\nnew\tlines\u00a0nbsp",
    "Zahlen 3.14159 und 1,000,000 – ünïcödé — 東京 🙂 Ελληνικά русский",
    "def f(x):\n    return x**2  # code\n\n\n",
    "text <|endoftext|> more text",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class TokenizerSpec:
    """What a worker needs to re-create the tokenizer and what the shards record about it."""

    path: str
    sha256: str
    vocab_size: int  # max id + 1, added tokens included
    special_ids: dict = field(default_factory=dict)  # {"eos": int, "pad"?, "mask"?, "bos"?, "sentinels"?}
    tiktoken_ranks: str | None = None  # verified GPT-2-style ranks file: encode through tiktoken
    derive_tiktoken: bool = False  # encode through tiktoken with ranks derived from the merges (verified)

    @property
    def eos_id(self) -> int:
        return int(self.special_ids["eos"])

    @property
    def tokenizer(self):
        """The `tokenizers.Tokenizer` (loaded once per process, cached by sha256)."""
        return _cached_tokenizer(self.path, self.sha256)

    @property
    def tiktoken_encoding(self):
        """The tiktoken Encoding when this spec uses one, else None."""
        if self.tiktoken_ranks is None:
            return None
        return _cached_tiktoken(self.path, self.sha256, self.tiktoken_ranks)

    @property
    def fast_encoder(self):
        """An object whose `encode(text)` gives the ids as a numpy array via tiktoken, or None (use HF)."""
        if self.tiktoken_ranks is not None:
            return _GivenRanks(self.tiktoken_encoding)
        if self.derive_tiktoken:
            return _cached_derived(self.path, self.sha256)
        return None

    def header(self) -> ShardHeader:
        return ShardHeader(
            tokenizer_sha256=self.sha256, vocab_size=self.vocab_size, special_ids=dict(self.special_ids)
        )


def load_tokenizer(
    path: str | os.PathLike,
    *,
    eos_token: str | None = None,
    pad_token: str | None = None,
    mask_token: str | None = None,
    tiktoken_ranks: str | os.PathLike | None = None,
    derive_tiktoken: bool = False,
) -> TokenizerSpec:
    """Describe any tokenizer.json. EOS is required: found among EOS_CANDIDATES or named by `eos_token`.

    `tiktoken_ranks`: local path of the tiktoken ranks file of the same BPE (e.g. gpt2.tiktoken);
    it is verified against tokenizer.json and refused with an explanation when it differs.
    `derive_tiktoken`: encode through tiktoken with ranks derived from the merges; refused when
    tiktoken cannot express the tokenizer or the probe texts differ (decide with `with_fast_path`).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"tokenizer file {path} not found; give the path of a tokenizer.json")
    sha256 = file_sha256(path)
    tokenizer = _cached_tokenizer(str(path), sha256)
    vocab = tokenizer.get_vocab(with_added_tokens=True)
    special_ids: dict = {"eos": _find_token(vocab, eos_token, EOS_CANDIDATES, "eos", path, required=True)}
    for role, explicit, candidates in (
        ("pad", pad_token, PAD_CANDIDATES),
        ("mask", mask_token, MASK_CANDIDATES),
        ("bos", None, BOS_CANDIDATES),
    ):
        found = _find_token(vocab, explicit, candidates, role, path, required=explicit is not None)
        if found is not None:
            special_ids[role] = found
    sentinels = sorted(
        (int(m.group(1)), token_id) for token, token_id in vocab.items() if (m := SENTINEL_PATTERN.fullmatch(token))
    )
    if sentinels:
        special_ids["sentinels"] = [token_id for _, token_id in sentinels]
    spec = TokenizerSpec(
        path=str(path),
        sha256=sha256,
        vocab_size=max(vocab.values()) + 1,
        special_ids=special_ids,
        tiktoken_ranks=str(tiktoken_ranks) if tiktoken_ranks is not None else None,
        derive_tiktoken=derive_tiktoken and tiktoken_ranks is None,
    )
    if spec.derive_tiktoken and sha256 not in _VERIFIED_DERIVED:  # once per process, not once per task
        problem = verify_on_texts(spec.fast_encoder, tokenizer, TIKTOKEN_PROBES)
        if problem is not None:
            raise ValueError(f"{path}: tiktoken with ranks derived from the merges does not reproduce it: "
                             f"{problem}; load it without derive_tiktoken")
        _VERIFIED_DERIVED.add(sha256)
    if spec.tiktoken_ranks is not None:
        key = (sha256, file_sha256(spec.tiktoken_ranks))
        if key not in _VERIFIED_TIKTOKEN:  # ~0.3 s: once per process, not once per task
            verify_tiktoken(spec)
            _VERIFIED_TIKTOKEN.add(key)
    return spec


def tokenizer_spec(settings: dict) -> TokenizerSpec:
    """The spec a build's payload describes: {"path", "eos_token"?, "tiktoken_ranks"?,
    "derive_tiktoken"?} (the tokenize and mix stages carry this dict; the tokenizer itself is
    cached per process). A URL path (a remote run's tokenizer) is fetched once into the local
    cache and checked against the settings' sha256 (tokenization.remote)."""
    path = settings["path"]
    if is_remote(path):
        path = local_tokenizer(path, settings.get("sha256"))
    return load_tokenizer(path, eos_token=settings.get("eos_token"),
                          tiktoken_ranks=settings.get("tiktoken_ranks"),
                          derive_tiktoken=bool(settings.get("derive_tiktoken")))


def _find_token(vocab, explicit, candidates, role, path, *, required) -> int | None:
    if explicit is not None:
        if explicit not in vocab:
            raise ValueError(f"{path}: {role} token {explicit!r} is not in the vocabulary")
        return vocab[explicit]
    for candidate in candidates:
        if candidate in vocab:
            return vocab[candidate]
    if required:
        raise ValueError(
            f"{path}: no {role} token among {', '.join(candidates)}; name it with "
            f"`{role}_token` (e.g. tokenizer: {{{role}_token: '<|end|>'}} in recipe.yaml)"
        )
    return None


_TOKENIZERS: dict[str, object] = {}  # sha256 -> Tokenizer: one per process, whatever path holds it
_VERIFIED_TIKTOKEN: set[tuple[str, str]] = set()  # (tokenizer sha256, ranks sha256) checked here
_VERIFIED_DERIVED: set[str] = set()  # tokenizer sha256 whose derived ranks passed the probes here


def _cached_tokenizer(path: str, sha256: str):
    if sha256 in _TOKENIZERS:
        return _TOKENIZERS[sha256]
    from tokenizers import Tokenizer

    actual = file_sha256(path)
    if actual != sha256:
        raise ValueError(
            f"tokenizer file {path} changed (sha256 {actual[:12]}, expected {sha256[:12]}); "
            "reload it with load_tokenizer and rebuild"
        )
    tokenizer = Tokenizer.from_file(path)
    # Corpus tokenization encodes whole documents: a max_length or padding from a model's
    # tokenizer.json would silently cut or pad them.
    tokenizer.no_truncation()
    tokenizer.no_padding()
    _TOKENIZERS[sha256] = tokenizer
    return tokenizer


def read_tiktoken_ranks(path: str | os.PathLike) -> dict[bytes, int]:
    """Parse a tiktoken ranks file (one `base64-token rank` per line) from a local path."""
    ranks = {}
    with open(path, "rb") as handle:
        for line in handle:
            if line.strip():
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
    return ranks


@lru_cache(maxsize=4)
def _cached_tiktoken(path: str, sha256: str, ranks_path: str):  # keyed by sha256 too (path is only where to load)
    import tiktoken

    tokenizer = _cached_tokenizer(path, sha256)
    specials = {t.content: i for i, t in tokenizer.get_added_tokens_decoder().items()}
    return tiktoken.Encoding(
        f"corpusmill-{sha256[:12]}",
        pat_str=GPT2_PATTERN,
        mergeable_ranks=read_tiktoken_ranks(ranks_path),
        special_tokens=specials,
    )


class _GivenRanks:
    """A given-ranks tiktoken Encoding behind the same `encode(text) -> ids` as TiktokenBpe."""

    def __init__(self, encoding):
        self.encoding = encoding

    def encode(self, text: str):
        return self.encoding.encode_to_numpy(text, allowed_special="all", disallowed_special=())


@lru_cache(maxsize=4)
def _cached_derived(path: str, sha256: str) -> TiktokenBpe:
    return tiktoken_for(_cached_tokenizer(path, sha256), f"corpusmill-derived-{sha256[:12]}")


def with_fast_path(spec: TokenizerSpec, texts: Sequence[str]) -> tuple[TokenizerSpec, str | None]:
    """`spec` switched to tiktoken with derived ranks when they reproduce tokenizers' ids on `texts`
    (real documents) and the probes; else `spec` unchanged and the reason tiktoken is not used."""
    if spec.tiktoken_ranks is not None or spec.derive_tiktoken:
        return spec, None
    try:
        fast = _cached_derived(spec.path, spec.sha256)
    except NotExpressible as reason:
        return spec, f"tiktoken cannot express {spec.path}: {reason}"
    problem = verify_on_texts(fast, spec.tokenizer, [*TIKTOKEN_PROBES, *texts])
    if problem is not None:
        return spec, f"tiktoken with derived ranks differs from {spec.path}: {problem}"
    return dataclasses.replace(spec, derive_tiktoken=True), None


def verify_tiktoken(spec: TokenizerSpec) -> None:
    """Refuse a ranks file that would not give tokenizer.json's ids (fix: drop `tiktoken_ranks`)."""
    tokenizer = spec.tokenizer
    config = json.loads(tokenizer.to_str())
    pre = config.get("pre_tokenizer") or {}
    problems = []
    if config["model"]["type"] != "BPE" or config.get("normalizer") is not None:
        problems.append("it is not a plain BPE without normalizer")
    if pre.get("type") != "ByteLevel" or pre.get("add_prefix_space") or not pre.get("use_regex", True):
        problems.append("its pre-tokenizer is not GPT-2's ByteLevel(add_prefix_space=False)")
    added = tokenizer.get_added_tokens_decoder().values()
    if any(not t.special or t.lstrip or t.rstrip or t.single_word or t.normalized for t in added):
        problems.append("it has added tokens that are not plain special tokens")
    if not problems:
        to_byte = byte_level_chars()
        ranks = read_tiktoken_ranks(spec.tiktoken_ranks)
        model_vocab = config["model"]["vocab"]
        as_bytes = {bytes(to_byte[c] for c in token): token_id for token, token_id in model_vocab.items()}
        if as_bytes != ranks:
            problems.append(f"its {len(model_vocab)} tokens do not map to the {len(ranks)} ranks one to one")
    if not problems:
        encoding = spec.tiktoken_encoding
        for probe in TIKTOKEN_PROBES:
            if encoding.encode(probe, allowed_special="all") != tokenizer.encode(probe, add_special_tokens=False).ids:
                problems.append(f"ids differ on the probe {probe!r}")
                break
    if problems:
        raise ValueError(
            f"tiktoken ranks {spec.tiktoken_ranks} do not reproduce {spec.path}: {'; '.join(problems)}; "
            "drop `tiktoken_ranks` to encode with tokenizers"
        )


def sentinel_ids(spec: TokenizerSpec) -> Sequence[int]:
    """Sentinel ids ordered by k (empty when the vocabulary has none)."""
    return spec.special_ids.get("sentinels", [])
