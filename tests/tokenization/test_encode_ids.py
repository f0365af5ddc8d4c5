"""encode_table: ids identical to the tokenizer's own encode, on both back ends, on real text."""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from tokenizers import Tokenizer

from tokenization.encode import encode_table, tokenized_schema
from tokenization.tokenizer import load_tokenizer


def _own_ids(tokenizer_path, texts, add_special_tokens=False):
    tokenizer = Tokenizer.from_file(str(tokenizer_path))  # a fresh tokenizer, not the cached one
    return [tokenizer.encode(t, add_special_tokens=add_special_tokens).ids for t in texts]


@pytest.fixture(scope="module")
def books_own_ids(gpt2_json, books):
    """Every book through the tokenizer's own `encode(text)` (with its defaults: GPT-2's
    post-processor adds nothing) -- computed once, ~6 CPU-seconds."""
    return _own_ids(gpt2_json, [books[n] for n in sorted(books)], add_special_tokens=True)


@pytest.mark.parametrize("backend", ["tokenizers", "tiktoken"])
def test_books_ids_identical_to_own_encode(make_documents, books, books_own_ids, gpt2, gpt2_tiktoken, backend):
    spec = gpt2 if backend == "tokenizers" else gpt2_tiktoken
    names = sorted(books)
    out = encode_table(make_documents("books", names, [books[n] for n in names]), spec, batch_size=7)
    assert out.column("tokens").num_chunks == 4  # 25 rows in batches of 7
    assert out.schema.equals(tokenized_schema(spec), check_metadata=True)
    assert out.column("doc_id").to_pylist() == names
    assert set(out.column("source").to_pylist()) == {"books"}
    tokens = out.column("tokens").to_pylist()
    assert len(tokens) == 25
    for got, ids in zip(tokens, books_own_ids):
        assert got == ids + [50256]
    assert out.column("num_tokens").to_pylist() == [len(ids) + 1 for ids in books_own_ids]
    # 25 whole books: 2,839,354 tokens without EOS (also counted with tiktoken's own encoder
    # straight from gpt2.tiktoken when this test was written).
    assert sum(len(ids) for ids in books_own_ids) == 2_839_354


def test_tiktoken_matches_on_code_and_special_strings(gpt2_json, make_documents, code_files, gpt2, gpt2_tiktoken):
    texts = [r["content"] for r in code_files[:200]] + [
        "",
        "<|endoftext|>",
        "before <|endoftext|>after",
        "   \n\n\t  trailing   ",
        "日本語のテキスト and emoji 👩‍👩‍👧 mixed",
    ]
    table = make_documents("code", [str(i) for i in range(len(texts))], texts)
    slow = encode_table(table, gpt2)
    fast = encode_table(table, gpt2_tiktoken)
    assert slow.equals(fast)
    expected = _own_ids(gpt2_json, texts)
    assert slow.column("tokens").to_pylist() == [ids + [50256] for ids in expected]
    # Special-token strings in the text are matched as the special token (HF semantics).
    assert slow.column("tokens")[200 + 1].as_py() == [50256, 50256]
    assert slow.column("tokens")[200].as_py() == [50256]


def test_bert_gets_no_cls_prefix_and_no_truncation(shared_data, make_documents, books):
    path = shared_data / "tokenizers/all-MiniLM-L6-v2/tokenizer.json"
    spec = load_tokenizer(path)
    text = books[sorted(books)[0]][:20_000]
    out = encode_table(make_documents("books", ["b"], [text]), spec)
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    with_template = tokenizer.encode(text).ids
    assert with_template[0] == 101 and with_template[-1] == 102  # [CLS] ... [SEP]
    got = out.column("tokens")[0].as_py()
    assert got == with_template[1:]  # add_special_tokens=False, then EOS = [SEP]
    assert len(got) > 512  # the model's max_length does not cut documents


def test_uint32_tokens_for_large_vocab(gpt2_json, make_documents, tmp_path):
    config = json.loads(gpt2_json.read_text())
    extra = [f"<extra_{i}>" for i in range(16_000)]
    config["added_tokens"] += [
        {"id": 50257 + i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for i, t in enumerate(extra)
    ]
    big = tmp_path / "big.json"
    big.write_text(json.dumps(config))
    spec = load_tokenizer(big)
    assert spec.vocab_size == 66_257
    out = encode_table(make_documents("web", ["a"], ["Hello world <extra_15999>"]), spec)
    assert out.schema.field("tokens").type == pa.large_list(pa.uint32())
    assert out.column("tokens")[0].as_py() == [15496, 995, 220, 66_256, 50256]
    assert out.column("tokens").chunk(0).values.to_numpy().dtype == np.uint32


def test_books_reader_documents_encode_identically(shared_data, gpt2_json, gpt2, gpt2_tiktoken):
    """The same check on what the pipeline really tokenizes: corpora.books documents (boilerplate
    stripped, CRLF -> LF) in a DOCUMENT_SCHEMA table."""
    books_reader = pytest.importorskip("corpora.books")
    from corpora.schema import SkipCounter, documents_to_table

    paths = sorted((shared_data / "books" / "gitenberg").glob("*.txt"))[:6]
    documents = []
    for path in paths:
        documents += books_reader.iter_documents(
            str(path), source="books", file_key=path.name, options=books_reader.Options(), skips=SkipCounter()
        )
    table = documents_to_table(documents, "books")
    assert table.num_rows == 6
    slow, fast = encode_table(table, gpt2), encode_table(table, gpt2_tiktoken)
    assert slow.equals(fast)
    assert slow.column("doc_id").to_pylist() == table.column("id").to_pylist()
    expected = _own_ids(gpt2_json, table.column("text").to_pylist())
    assert fast.column("tokens").to_pylist() == [ids + [50256] for ids in expected]
