"""Fixtures for the tokenization tests: the real GPT-2 tokenizer, real book texts, and one small
corpus built from them (books + code) that the reader, export and HF tests share."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.mixture import MixConfig
from pipelines.shard_assembly import build_shards
from tokenization.encode import encode_table
from tokenization.tokenizer import load_tokenizer

GPT2_JSON = "tokenizers/whisper-gpt2/gpt2-from-whisper-tiktoken.tokenizer.json"
GPT2_RANKS = "tokenizers/whisper-gpt2/gpt2.tiktoken"


def read_book(path: Path) -> str:
    """MANIFEST.md: `-0.txt` UTF-8, `-8.txt` ISO-8859-1, plain `.txt` ASCII."""
    raw = path.read_bytes()
    return raw.decode("utf-8") if path.name.endswith("-0.txt") else raw.decode("latin-1")


@pytest.fixture(scope="session")
def gpt2_json(shared_data) -> Path:
    return shared_data / GPT2_JSON


@pytest.fixture(scope="session")
def make_documents():
    """Build a DOCUMENT_SCHEMA-like table (id, source, text) from lists."""
    return documents_table


@pytest.fixture(scope="session")
def gpt2(shared_data):
    return load_tokenizer(shared_data / GPT2_JSON)


@pytest.fixture(scope="session")
def gpt2_tiktoken(shared_data):
    return load_tokenizer(shared_data / GPT2_JSON, tiktoken_ranks=shared_data / GPT2_RANKS)


@pytest.fixture(scope="session")
def books(shared_data) -> dict[str, str]:
    paths = sorted((shared_data / "books" / "gitenberg").glob("*.txt"))
    return {p.name: read_book(p) for p in paths}


@pytest.fixture(scope="session")
def code_files(shared_data) -> list[dict]:
    with gzip.open(shared_data / "code" / "code_corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
        return [json.loads(line) for _, line in zip(range(600), handle)]


def documents_table(source: str, ids: list[str], texts: list[str]) -> pa.Table:
    return pa.table(
        {"id": ids, "source": [source] * len(ids), "text": pa.array(texts, pa.large_string())}
    )


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory, books, code_files, gpt2_tiktoken):
    """Books (whole) + 600 code files, tokenized into parquet parts and mixed naturally into
    shards of ~250k tokens so that windows cross shard boundaries."""
    root = tmp_path_factory.mktemp("small_corpus")
    parts: dict[str, list[str]] = {"books": [], "code": []}
    book_names = sorted(books)
    for i in range(0, len(book_names), 10):
        names = book_names[i : i + 10]
        table = encode_table(documents_table("books", names, [books[n] for n in names]), gpt2_tiktoken)
        path = root / "tokenize" / "books" / f"part-{i // 10:05d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
        parts["books"].append(str(path))
    for i in range(0, len(code_files), 200):
        rows = code_files[i : i + 200]
        table = encode_table(
            documents_table("code", [r["path"] for r in rows], [r["content"] for r in rows]), gpt2_tiktoken
        )
        path = root / "tokenize" / "code" / f"part-{i // 200:05d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
        parts["code"].append(str(path))
    config = MixConfig(natural=True, shard_tokens=250_000, val_fraction=0.01, seed=3)
    manifest = build_shards(parts, config, gpt2_tiktoken, root / "shards")
    return {"manifest": manifest, "parts": parts, "root": root}
