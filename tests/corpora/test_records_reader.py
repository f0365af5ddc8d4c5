"""The jsonl/parquet record reader on the real Dolma CC files (MANIFEST.md section 1: 10 docs
each) and on files written in tmp_path from those documents."""
from __future__ import annotations

import bz2
import gzip
import json
import lzma
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pydantic
import pytest
import zstandard

from corpora import reader_for
from corpora.records import Options, iter_documents
from corpora.schema import SkipCounter, documents_to_table, make_doc_id

CC_FILES = ("dolma_cc_en_head-0091.jsonl.gz", "dolma_cc_en_head-0174.jsonl.gz",
            "dolma_provided_documents_000.json.gz")


def _cc_path(shared_data: Path, name: str) -> Path:
    return shared_data / "web" / "cc-text-jsonl" / name


def _raw_records(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _read(path, options=Options(), file_key="input"):
    skips = SkipCounter()
    docs = list(iter_documents(str(path), source="cc", file_key=file_key, options=options,
                               skips=skips))
    return docs, skips


@pytest.fixture(scope="module")
def cc_records(shared_data) -> list[dict]:
    return [r for name in CC_FILES for r in _raw_records(_cc_path(shared_data, name))]


@pytest.fixture(scope="module")
def cc_jsonl_bytes(cc_records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in cc_records)


@pytest.mark.parametrize("name", CC_FILES)
def test_dolma_files_default_options(shared_data, name):
    path = _cc_path(shared_data, name)
    raw = _raw_records(path)
    docs, skips = _read(path, file_key=name)
    assert len(docs) == 10 and dict(skips) == {}  # MANIFEST.md: 10 docs each
    for number, (doc, record) in enumerate(zip(docs, raw)):
        assert doc["id"] == make_doc_id("cc", name, str(number))
        assert doc["text"] == record["text"]
        assert doc["url"] == record["metadata"]["url"]  # Dolma keeps the url in metadata
        assert doc["path"] == f"{path}#{number}"
        meta = doc["meta"]
        assert meta["id"] == record["id"] and meta["added"] == record["added"]
        assert meta["metadata.title"] == record["metadata"]["title"]
        assert meta["metadata.perplexity"] == record["metadata"]["perplexity"]
        assert "text" not in meta and "metadata.url" not in meta
        assert "metadata.line_ids" not in meta  # a list: not a scalar
    assert documents_to_table(docs, "cc").num_rows == 10


def test_provided_documents_id_is_not_the_url(shared_data):
    """Data quirk: in Dolma's provided/documents file the `id` is a URL that differs from
    metadata.url for some docs, so the url must come from metadata, not from the id."""
    raw = _raw_records(_cc_path(shared_data, CC_FILES[2]))
    differing = [r for r in raw if r["id"] != r["metadata"]["url"]]
    assert [r["metadata"]["url"] for r in differing] == [
        "http://advocatesaz.org/tag/good-cholesterol/"
    ]
    docs, _ = _read(_cc_path(shared_data, CC_FILES[2]), Options(url_field="id"))
    assert [d["url"] for d in docs] == [r["id"] for r in raw]


def test_id_field_url_field_and_meta_fields(shared_data):
    path = _cc_path(shared_data, CC_FILES[0])
    raw = _raw_records(path)
    options = Options(id_field="id", meta_fields=("metadata.language", "created", "absent"))
    docs, skips = _read(path, options, file_key="f")
    assert dict(skips) == {}
    assert [d["id"] for d in docs] == [make_doc_id("cc", "f", r["id"]) for r in raw]
    assert docs[0]["meta"] == {"metadata.language": "en", "created": raw[0]["created"]}


def test_bad_lines_are_counted_never_fatal(tmp_path, cc_records):
    lines = [json.dumps(r) for r in cc_records[:6]]
    no_text = dict(cc_records[6])
    del no_text["text"]
    lines[1] = lines[1][: len(lines[1]) // 2]  # a cut line: bad JSON
    lines.insert(3, "")  # blank lines are not records
    lines.insert(4, "[1, 2]")
    lines.append(json.dumps(no_text))
    lines.append(json.dumps({**cc_records[7], "text": "  \n"}))
    lines.append(json.dumps({k: v for k, v in cc_records[8].items() if k != "id"}))
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines))  # and no final newline
    docs, skips = _read(path)
    assert dict(skips) == {"error:bad_json": 1, "record_not_object": 1,
                           "record_missing_text": 1, "record_empty_text": 1}
    assert [d["path"].rsplit("#", 1)[1] for d in docs] == ["0", "2", "5", "6", "7", "10"]
    assert [d["text"] for d in docs] == [r["text"] for r in (*cc_records[:1], *cc_records[2:6],
                                                               cc_records[8])]
    # with id_field, the record without an id is kept under an id derived from its line number
    id_docs, id_skips = _read(path, Options(id_field="id"))
    assert id_skips == skips and len(id_docs) == 6
    assert [d["id"] for d in id_docs[:5]] == [
        make_doc_id("cc", "input", r["id"]) for r in (*cc_records[:1], *cc_records[2:6])]
    assert id_docs[5]["id"] == make_doc_id("cc", "input", "\x00record:10")


COMPRESSORS = {
    ".gz": gzip.compress,
    ".zst": lambda data: zstandard.ZstdCompressor().compress(data),
    ".bz2": bz2.compress,
    ".xz": lzma.compress,
}


@pytest.mark.parametrize("suffix", sorted(COMPRESSORS))
def test_codecs_and_truncation(tmp_path, cc_jsonl_bytes, cc_records, suffix):
    compressed = COMPRESSORS[suffix](cc_jsonl_bytes)
    full = tmp_path / f"cc.jsonl{suffix}"
    full.write_bytes(compressed)
    docs, skips = _read(full)
    assert dict(skips) == {} and [d["text"] for d in docs] == [r["text"] for r in cc_records]

    cut = tmp_path / f"cut.jsonl{suffix}"
    cut.write_bytes(compressed[: len(compressed) * 6 // 10])
    cut_docs, cut_skips = _read(cut)
    assert dict(cut_skips) == {"error:truncated": 1}
    assert [d["text"] for d in cut_docs] == [r["text"] for r in cc_records[: len(cut_docs)]]
    if suffix == ".gz":  # independent count: complete lines in one-shot zlib output
        prefix = zlib.decompressobj(wbits=47).decompress(cut.read_bytes())
        assert len(cut_docs) == prefix.count(b"\n") > 0


def test_multi_member_gzip_and_corrupt_stream(tmp_path, shared_data):
    both = tmp_path / "both.jsonl.gz"
    both.write_bytes(b"".join(_cc_path(shared_data, n).read_bytes() for n in CC_FILES[:2]))
    docs, skips = _read(both)
    assert len(docs) == 20 and dict(skips) == {}

    corrupt = bytearray(_cc_path(shared_data, CC_FILES[0]).read_bytes())
    corrupt[len(corrupt) // 2 : len(corrupt) // 2 + 64] = b"\xff" * 64
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(bytes(corrupt))
    docs, skips = _read(bad)
    assert skips["error:bad_compression"] == 1 and len(docs) < 10


def _write_parquet(path: Path, records: list[dict], row_group_size: int) -> None:
    pq.write_table(pa.Table.from_pylist(records), path, row_group_size=row_group_size)


def test_parquet_matches_jsonl(tmp_path, cc_records, cc_jsonl_bytes):
    jsonl = tmp_path / "cc.jsonl"
    jsonl.write_bytes(cc_jsonl_bytes)
    parquet = tmp_path / "cc.parquet"
    _write_parquet(parquet, cc_records, row_group_size=7)
    assert pq.ParquetFile(parquet).num_row_groups == 5
    json_docs, _ = _read(jsonl, file_key="same")
    docs, skips = _read(parquet, Options(batch_rows=4), file_key="same")
    assert dict(skips) == {} and len(docs) == 30
    for doc, json_doc in zip(docs, json_docs):
        assert (doc["id"], doc["text"], doc["url"], doc["meta"]) == (
            json_doc["id"], json_doc["text"], json_doc["url"], json_doc["meta"])
    assert docs[29]["path"] == f"{parquet}#29"
    # explicit fields read only the columns they need
    docs, _ = _read(parquet, Options(id_field="id", meta_fields=("metadata.title",)))
    assert docs[0]["meta"] == {"metadata.title": cc_records[0]["metadata"]["title"]}
    assert docs[0]["id"] == make_doc_id("cc", "input", cc_records[0]["id"])


def test_parquet_missing_text_and_broken_file(tmp_path, cc_records):
    rows = [dict(r) for r in cc_records[:5]]
    rows[2]["text"] = None
    path = tmp_path / "gaps.parquet"
    _write_parquet(path, rows, row_group_size=2)
    docs, skips = _read(path)
    assert dict(skips) == {"record_missing_text": 1} and len(docs) == 4

    cut = tmp_path / "cut.parquet"
    cut.write_bytes(path.read_bytes()[:-100])  # the footer is gone
    docs, skips = _read(cut)
    assert docs == [] and dict(skips) == {"error:bad_parquet": 1}

    forced = tmp_path / "records.data"  # no telling extension: the format option decides
    forced.write_bytes(path.read_bytes())
    docs, _ = _read(forced, Options(format="parquet"))
    assert len(docs) == 4


def test_options_and_registry():
    assert reader_for("jsonl").iter_documents is iter_documents
    assert reader_for("parquet").iter_documents is iter_documents
    with pytest.raises(pydantic.ValidationError):
        Options(text_key="content")
    with pytest.raises(pydantic.ValidationError):
        Options(format="csv")
