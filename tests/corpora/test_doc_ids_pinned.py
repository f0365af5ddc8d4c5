"""Document ids pinned as literals, a few per reader.

Resume, rejects sampling, the tokenizer sample and dedup provenance all key on document ids; most
reader tests build their expected ids with `make_doc_id` itself, so a changed id scheme would pass
them. These literals were recorded from the readers on the shared corpora; a change here is a
breaking change of every existing run directory and must be deliberate.
"""
from __future__ import annotations

import gzip
import hashlib
import itertools
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpora import SkipCounter, make_doc_id, reader_for


def _first_ids(kind: str, path, file_key: str, source: str, num: int = 3, **options) -> list[str]:
    reader = reader_for(kind)
    documents = reader.iter_documents(str(path), source=source, file_key=file_key,
                                      options=reader.Options(**options), skips=SkipCounter())
    return [doc["id"] for doc in itertools.islice(documents, num)]


def test_make_doc_id_is_blake2b_96_of_source_file_key_record_key():
    assert make_doc_id("web", "f", 0) == hashlib.blake2b(b"web\x1ff\x1f0", digest_size=12).hexdigest()
    assert make_doc_id("web", "crawl/a.warc.gz", 1234) == "d5ef87cf7b05cec39a1cff93"
    assert make_doc_id("wiki", "x.xml.bz2", "42") == make_doc_id("wiki", "x.xml.bz2", 42)


@pytest.mark.shared_data
def test_commoncrawl_ids(shared_data):
    path = shared_data / "web/warc-real/dolma_sample-0000.warc.gz"
    assert _first_ids("commoncrawl", path, "dolma_sample-0000.warc.gz", "web") == [
        "3e6352db0fec18eef587cf02", "9fdfe26f143098341d99e225", "5e00b288d2e2ad078fac84aa"]


@pytest.mark.shared_data
def test_wikipedia_ids(shared_data):
    path = shared_data / "wikipedia/repaired/hywiki-truncated-100k.repaired.xml.bz2"
    assert _first_ids("wikipedia", path, "hywiki-truncated-100k.repaired.xml.bz2", "wiki") == [
        "e10e712990e07e7cebc5e534", "ea6316a2d2424b27918be1d2", "52c515c28ec83d99c417c08f"]


@pytest.mark.shared_data
def test_code_ids(shared_data):
    path = shared_data / "code/code_corpus.jsonl.gz"
    assert _first_ids("code", path, "code_corpus.jsonl.gz", "code") == [
        "3ea145d4d879dc994ee433ab", "f3c3212da3008527f6281e34", "878cb6c7c365c94f7947ff03"]


@pytest.mark.shared_data
def test_books_ids(shared_data):
    path = shared_data / "books/gitenberg/pg11563_11563-8.txt"
    assert _first_ids("books", path, "pg11563_11563-8.txt", "books") == ["5a73c888e13192d189664f56"]


@pytest.mark.shared_data
def test_jsonl_ids_by_line_number_and_by_id_field(shared_data):
    path = shared_data / "web/cc-text-jsonl/dolma_cc_en_head-0091.jsonl.gz"
    key = "dolma_cc_en_head-0091.jsonl.gz"
    assert _first_ids("jsonl", path, key, "cc") == [
        "67948cf2d859b0af6cfd62cb", "68d8a319cf5e6d06b00444db", "1c773a37655664daf577b514"]
    assert _first_ids("jsonl", path, key, "cc", id_field="id") == [
        "01d9cdee0937050f855a51d4", "d2291267854fc15b98ab3e92", "344dd993a2d3d930a1d6c93e"]


@pytest.mark.shared_data
def test_parquet_ids_by_row_number_and_by_id_field(shared_data, tmp_path):
    with gzip.open(shared_data / "web/cc-text-jsonl/dolma_cc_en_head-0091.jsonl.gz", "rt") as lines:
        records = [json.loads(line) for line in itertools.islice(lines, 3)]
    path = tmp_path / "part.parquet"
    pq.write_table(pa.table({"id": [r["id"] for r in records], "text": [r["text"] for r in records]}), path)
    assert _first_ids("parquet", path, "part.parquet", "cc") == [
        "5de752d0eab1d1a3e7667838", "9de1555810dcc7f7a53609c2", "5ad45e9109560353aa16eb13"]
    assert _first_ids("parquet", path, "part.parquet", "cc", id_field="id") == [
        "95ed712b75d0d836ae770be6", "ece441a66753756095bf39d3", "b5ec0cf12d4a6b0f28872030"]
