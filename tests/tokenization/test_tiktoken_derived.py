"""tiktoken with ranks derived from a tokenizer.json's merges: the same ids as tokenizers, token for
token, on real text, for the shared GPT-2 and NeoX-style tokenizers and a trained byte-level BPE;
tokenizers tiktoken cannot reproduce fall back to tokenizers with the reason."""
from __future__ import annotations

import json

import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from tokenization.encode import encode_table
from tokenization.tiktoken_bridge import byte_level_chars
from tokenization.tokenizer import load_tokenizer, read_tiktoken_ranks, with_fast_path
from tokenization.tokenizer_training import train_tokenizer

NEOX_JSON = "tokenizers/gpt-neox-dolma-test/gpt-neo-test-tokenizer.json"
BERT_JSON = "tokenizers/all-MiniLM-L6-v2/tokenizer.json"
# Added tokens, special-token strings in running text, a non-NFC sequence (e + combining acute) and
# NKo marks whose canonical order differs between Python's Unicode tables and the Rust crate's.
TRICKY = [
    "ip |||IP_ADDRESS||| and |||EMAIL_ADDRESS|||<|endoftext|>tail <|padding|>",
    "indent:\n" + " " * 30 + "x = 1\n" + " " * 7 + "y\t\t  z",
    "cafe\u0301 vs café; Å vs A\u030a; \ufb01 ligature",
    "\u07eb-\u07fd\u07f3\u0816 mixed scripts 東京 🙂",
    "",
]


def hf_ids(spec, texts):
    encodings = spec.tokenizer.encode_batch_fast(texts, add_special_tokens=False)
    return [e.ids + [spec.eos_id] for e in encodings]


def encoded_ids(spec, make_documents, texts):
    table = encode_table(make_documents("t", [str(i) for i in range(len(texts))], texts), spec)
    return [list(row) for row in table.column("tokens").to_pylist()]


@pytest.fixture(scope="session")
def real_texts(books, code_files):
    """Six whole books and 600 code files (about 4 MB)."""
    return [books[name] for name in sorted(books)[:6]] + [f["content"] for f in code_files]


def test_gpt2_derived_ranks_equal_the_published_ranks_file(shared_data, gpt2):
    # Independent reference: gpt2.tiktoken is OpenAI's own ranks file, not derived by this code.
    fast, reason = with_fast_path(gpt2, [])
    assert reason is None and fast.derive_tiktoken
    derived = fast.fast_encoder.derived
    assert derived.mergeable_ranks == read_tiktoken_ranks(shared_data / "tokenizers/whisper-gpt2/gpt2.tiktoken")
    assert derived.rank_to_id is None  # GPT-2's ids are its ranks
    assert fast.fast_encoder.added_regex is None  # its one added token is matched by tiktoken itself
    assert fast.fast_encoder.encode("Hello world").tolist() == [15496, 995]


def test_gpt2_derived_path_gives_tokenizers_ids(gpt2, make_documents, real_texts):
    fast, reason = with_fast_path(gpt2, real_texts[:20])
    assert reason is None
    texts = real_texts + TRICKY
    assert encoded_ids(fast, make_documents, texts) == hf_ids(gpt2, texts)


def test_neox_derived_path_gives_tokenizers_ids(shared_data, make_documents, real_texts):
    neox = load_tokenizer(shared_data / NEOX_JSON)
    fast, reason = with_fast_path(neox, real_texts[:20])
    assert reason is None and fast.derive_tiktoken
    # NeoX's ids are not its merge ranks ("|||IP_ADDRESS|||" is id 0): a lookup table maps them.
    assert fast.fast_encoder.derived.rank_to_id is not None
    assert fast.fast_encoder.derived.normal_form == "NFC"
    assert fast.fast_encoder.added_regex is not None  # "  " starts "   ": split here, longest first
    texts = real_texts + TRICKY
    ids = encoded_ids(fast, make_documents, texts)
    assert ids == hf_ids(neox, texts)
    # The added whitespace runs are matched longest first: 30 spaces = the 24-space token + 6 more.
    indent = ids[len(real_texts) + 1]
    assert 50254 in indent  # id of the 24-space added token (tokenizer.json's added_tokens)


def test_trained_byte_level_bpe_derived_path(tmp_path, make_documents, real_texts):
    spec = train_tokenizer(real_texts[6:300], vocab_size=3000, out_path=tmp_path / "tok.json", num_sentinels=10)
    fast, reason = with_fast_path(spec, real_texts[300:320])
    assert reason is None and fast.derive_tiktoken
    assert fast.fast_encoder.derived.rank_to_id[0] == 3  # bytes after EOS/PAD/MASK at 0, 1, 2
    texts = real_texts + TRICKY + ["<extra_id_0> sentinel <extra_id_9><|pad|>"]
    assert encoded_ids(fast, make_documents, texts) == hf_ids(spec, texts)
    # A worker re-creates the derived path from the spec's settings alone.
    again = load_tokenizer(spec.path, derive_tiktoken=True)
    assert again.fast_encoder.encode(texts[-1]).tolist() == spec.tokenizer.encode(texts[-1]).ids


def test_wordpiece_falls_back_with_reason(shared_data, make_documents):
    bert = load_tokenizer(shared_data / BERT_JSON)
    chosen, reason = with_fast_path(bert, ["some text"])
    assert chosen is bert and chosen.fast_encoder is None
    assert reason.endswith("its model is WordPiece, not BPE")


def test_lowercase_normalizer_falls_back_with_reason(tmp_path, gpt2_json):
    config = json.loads(gpt2_json.read_text())
    config["normalizer"] = {"type": "Lowercase"}
    path = tmp_path / "lower.json"
    path.write_text(json.dumps(config))
    chosen, reason = with_fast_path(load_tokenizer(path), ["Some Text"])
    assert chosen.fast_encoder is None
    assert reason.endswith("its normalizer Lowercase is not a single Unicode normal form")


def test_merges_tiktoken_would_shortcut_fall_back_after_verification(tmp_path, make_documents):
    # merges "b c", "a b", "ab c": tokenizers leaves "abc" as a + bc (no merge "a bc" is listed);
    # tiktoken merges a + bc because their concatenation "abc" has a rank. Only the check on texts
    # can see this, and it must send the build to tokenizers.
    chars = list(byte_level_chars())
    vocab = {c: i for i, c in enumerate(chars)}
    for token in ("bc", "ab", "abc", "<|endoftext|>"):
        vocab[token] = len(vocab)
    bpe = Tokenizer(models.BPE(vocab, [("b", "c"), ("a", "b"), ("ab", "c")]))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    path = tmp_path / "shortcut.json"
    bpe.save(str(path))
    spec = load_tokenizer(path)
    assert spec.tokenizer.encode("abc").tokens == ["a", "bc"]
    chosen, reason = with_fast_path(spec, ["xyz", "abc"])
    assert chosen.fast_encoder is None
    assert reason.startswith(f"tiktoken with derived ranks differs from {path}: ids differ from tokenizers on text 7 of 8")
    table = encode_table(make_documents("t", ["0"], ["abc abc"]), chosen)
    a, bc, space = vocab["a"], vocab["bc"], vocab["\u0120"]  # Ġ: the byte-level stand-in for " "
    assert table.column("tokens").to_pylist() == [[a, bc, space, a, bc, vocab["<|endoftext|>"]]]
