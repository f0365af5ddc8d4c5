"""Session fixture: train/val shards made from real Project Gutenberg books with the real GPT-2
tokenizer (50,257 ids, EOS = <|endoftext|> = 50256), written with tokenization.shards.write_shard."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tokenization.manifest import Manifest
from tokenization.shards import ShardHeader, file_sha256, write_shard

GPT2_TOKENIZER = "tokenizers/whisper-gpt2/gpt2-from-whisper-tiktoken.tokenizer.json"
TRAIN_BOOKS = [  # (shard, book file): ~140k tokens over two train shards
    ("train-00000.arrow", "pg11563_11563-8.txt"),
    ("train-00000.arrow", "pg17997_17997-8.txt"),
    ("train-00001.arrow", "pg20170_20170-8.txt"),
    ("train-00001.arrow", "pg16595_16595-8.txt"),
]
VAL_BOOKS = [("val-00000.arrow", "pg31894_31894-0.txt")]
DOC_CHARS = 6000  # books are cut into documents of about this many characters at paragraph breaks


def read_book(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:  # the -8.txt files are ISO-8859-1
        return raw.decode("latin-1")


def split_documents(text: str) -> list[str]:
    paragraphs = [p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    docs, current = [], []
    for paragraph in paragraphs:
        current.append(paragraph)
        if sum(len(p) for p in current) >= DOC_CHARS:
            docs.append("\n\n".join(current))
            current = []
    if current:
        docs.append("\n\n".join(current))
    return docs


@pytest.fixture(scope="session")
def gpt2_tokenizer_path(shared_data: Path) -> Path:
    return shared_data / GPT2_TOKENIZER


@pytest.fixture(scope="session")
def book_shards(shared_data: Path, tmp_path_factory) -> Path:
    """A run directory with shards/{train,val}-*.arrow and shards/manifest.json."""
    from tokenizers import Tokenizer

    tokenizer_path = shared_data / GPT2_TOKENIZER
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    eos = tokenizer.token_to_id("<|endoftext|>")
    assert eos == 50256 and tokenizer.get_vocab_size() == 50257
    header = ShardHeader(tokenizer_sha256=file_sha256(tokenizer_path), vocab_size=50257,
                         special_ids={"eos": eos})
    run_dir = tmp_path_factory.mktemp("book-run")
    shards_dir = run_dir / "shards"
    splits: dict[str, list] = {"train": [], "val": []}
    for split, books in (("train", TRAIN_BOOKS), ("val", VAL_BOOKS)):
        by_shard: dict[str, list[str]] = {}
        for shard_name, book in books:
            by_shard.setdefault(shard_name, []).append(book)
        for shard_name, shard_books in by_shard.items():
            documents, sources, doc_ids = [], [], []
            for book in shard_books:
                texts = split_documents(read_book(shared_data / "books" / "gitenberg" / book))
                for index, encoding in enumerate(tokenizer.encode_batch(texts)):
                    documents.append(np.array(encoding.ids + [eos], dtype=np.uint16))
                    sources.append("books")
                    doc_ids.append(f"{book}#{index}")
            splits[split].append(write_shard(shards_dir / shard_name, documents, sources, doc_ids,
                                             header, relative_to=shards_dir))
    Manifest(directory=shards_dir, tokenizer_path=str(tokenizer_path), tokenizer_sha256=header.tokenizer_sha256,
             vocab_size=50257, special_ids={"eos": eos}, splits=splits).save()
    return run_dir
