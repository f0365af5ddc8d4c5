"""The jsonl/parquet record reader on variants of the real Dolma CC files (MANIFEST.md section 1),
built in tmp_path: other codecs and names, cut streams, CRLF/BOM/blank lines, bad lines, odd text
and id values, the field layouts of other corpora (C4, The Pile, CCNet, RedPajama-V2, OSCAR,
The Stack, FineWeb) and Parquet/Arrow files the way `datasets` and pyarrow write them.

Expected values come from the real records decoded with Python's gzip/json, never from the reader.
"""
from __future__ import annotations

import bz2
import datetime as dt
import decimal
import gzip
import json
import lzma
import zlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from corpora.records import Options, TextFieldError, iter_documents
from corpora.schema import SkipCounter, documents_to_table, make_doc_id

CC_DIR = ("web", "cc-text-jsonl")
CC_FILES = ("dolma_cc_en_head-0091.jsonl.gz", "dolma_cc_en_head-0174.jsonl.gz",
            "dolma_provided_documents_000.json.gz")


def _read(path, options=Options(), file_key="input"):
    skips = SkipCounter()
    docs = list(iter_documents(str(path), source="cc", file_key=file_key, options=options,
                               skips=skips))
    return docs, dict(skips)


@pytest.fixture(scope="module")
def records(shared_data) -> list[dict]:
    out = []
    for name in CC_FILES:
        with gzip.open(shared_data.joinpath(*CC_DIR, name), "rt", encoding="utf-8") as handle:
            out += [json.loads(line) for line in handle]
    assert len(out) == 30  # MANIFEST.md: 10 docs per file
    return out


@pytest.fixture(scope="module")
def texts(records) -> list[str]:
    return [r["text"] for r in records]


@pytest.fixture(scope="module")
def jsonl(records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def _zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(data)


def _zstd_long_window(data: bytes) -> bytes:
    """Like `zstd --long=30` streaming: the frame asks for a 1 GiB window (default limit 128 MiB)."""
    params = zstandard.ZstdCompressionParameters.from_level(
        3, window_log=30, enable_ldm=True, write_content_size=False)
    writer = zstandard.ZstdCompressor(compression_params=params).compressobj()
    return writer.compress(data) + writer.flush()


# ---- names, codecs, layers ----------------------------------------------------------------

VARIANTS = {
    "cc.jsonl": lambda d: d,
    "cc.json": lambda d: d,
    "cc.jsonl.gz": gzip.compress,
    "cc.json.gz": gzip.compress,
    "cc.jsonl.zst": _zstd,
    "cc.jsonl.bz2": bz2.compress,
    "cc.jsonl.xz": lzma.compress,
    "cc.jsonl.lzma": lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE),
    "CC.JSONL.GZ": gzip.compress,
    "cc.JSON.ZST": _zstd,
    "long-window.jsonl.zst": _zstd_long_window,
    "cc.jsonl.gz.gz": lambda d: gzip.compress(gzip.compress(d)),  # compressed twice
    "cc.jsonl.jsonl": lambda d: d,
    "mislabelled-gzip.json": gzip.compress,  # the name says plain, the bytes are gzip
    "mislabelled-plain.jsonl.gz": lambda d: d,  # served decompressed, the name kept
    "extensionless-zstd-blob": _zstd,  # a hub cache blob: no extension at all
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_names_and_codecs_read_by_content(tmp_path, jsonl, texts, name):
    path = tmp_path / name
    path.write_bytes(VARIANTS[name](jsonl))
    docs, skips = _read(path, file_key="same-key")
    assert skips == {}
    assert [d["text"] for d in docs] == texts
    assert [d["id"] for d in docs] == [make_doc_id("cc", "same-key", str(i)) for i in range(30)]


def test_gzip_members_concatenated_and_zero_padded(tmp_path, shared_data, texts, jsonl):
    # `cat a.gz b.gz c.gz`: the three real files as three members
    cat = tmp_path / "cat.jsonl.gz"
    cat.write_bytes(b"".join(shared_data.joinpath(*CC_DIR, n).read_bytes() for n in CC_FILES))
    assert len(gzip.decompress(cat.read_bytes()).splitlines()) == 30  # Python agrees: 30 lines
    docs, skips = _read(cat)
    assert skips == {} and [d["text"] for d in docs] == texts
    # one member per line (bgzip-like writers) and zero padding after the last member
    per_line = tmp_path / "per-line.jsonl.gz"
    per_line.write_bytes(b"".join(gzip.compress(line + b"\n") for line in jsonl.splitlines())
                         + b"\x00" * 1024)
    docs, skips = _read(per_line)
    assert skips == {} and [d["text"] for d in docs] == texts
    # zstd frames written one after another
    frames = tmp_path / "frames.jsonl.zst"
    frames.write_bytes(b"".join(_zstd(line + b"\n") for line in jsonl.splitlines()))
    docs, skips = _read(frames)
    assert skips == {} and [d["text"] for d in docs] == texts


def _decodable_prefix(suffix: str, data: bytes) -> bytes:
    """What a one-shot decompressor makes of a cut stream (independent of the reader)."""
    if suffix == ".gz":
        return zlib.decompressobj(wbits=31).decompress(data)
    if suffix == ".zst":
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    if suffix == ".bz2":
        return bz2.BZ2Decompressor().decompress(data)
    return lzma.LZMADecompressor().decompress(data)


@pytest.mark.parametrize("suffix", [".gz", ".zst", ".bz2", ".xz"])
def test_cut_streams_yield_every_complete_line_then_one_error(tmp_path, jsonl, texts, suffix):
    compressed = {".gz": gzip.compress, ".zst": _zstd, ".bz2": bz2.compress,
                  ".xz": lzma.compress}[suffix](jsonl * 4)
    for cut_at in (5, len(compressed) // 3, len(compressed) * 7 // 10, len(compressed) - 3):
        path = tmp_path / f"cut-{cut_at}.jsonl{suffix}"
        path.write_bytes(compressed[:cut_at])
        docs, skips = _read(path)
        expected = _decodable_prefix(suffix, compressed[:cut_at]).count(b"\n")
        assert skips == {"error:truncated": 1}, cut_at
        assert len(docs) == expected
        assert [d["text"] for d in docs] == (texts * 4)[:expected]


def test_plain_file_cut_mid_line_and_empty_files(tmp_path, jsonl, texts):
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(jsonl[: len(jsonl) - 500])  # the last line loses its end and newline
    docs, skips = _read(cut)
    assert skips == {"error:truncated": 1} and [d["text"] for d in docs] == texts[:29]
    for name in ("empty.jsonl", "empty.jsonl.gz", "empty.parquet"):
        (tmp_path / name).write_bytes(b"")
    assert _read(tmp_path / "empty.jsonl") == ([], {"empty_file": 1})
    assert _read(tmp_path / "empty.jsonl.gz") == ([], {"empty_file": 1})
    assert _read(tmp_path / "empty.parquet") == ([], {"error:bad_parquet": 1})
    (tmp_path / "gzip-of-nothing.jsonl.gz").write_bytes(gzip.compress(b""))
    assert _read(tmp_path / "gzip-of-nothing.jsonl.gz") == ([], {})


# ---- line level ------------------------------------------------------------------------------


def test_crlf_blank_lines_and_bom(tmp_path, records, texts):
    lines = [json.dumps(r, ensure_ascii=False).encode() for r in records]
    body = b"\r\n".join(lines[:10]) + b"\r\n\r\n   \r\n\n" + b"\r\n".join(lines[10:]) + b"\r\n"
    for name, data in {"crlf.jsonl": b"\xef\xbb\xbf" + body,
                       "crlf.jsonl.gz": gzip.compress(b"\xef\xbb\xbf" + body)}.items():
        (tmp_path / name).write_bytes(data)
        docs, skips = _read(tmp_path / name)
        assert skips == {} and [d["text"] for d in docs] == texts
        # record numbers are line numbers: three blank lines after line 9
        assert [int(d["path"].rsplit("#", 1)[1]) for d in docs] == [*range(10), *range(13, 33)]
        assert docs[0]["url"] == records[0]["metadata"]["url"]


def test_bad_lines_counted_by_reason_the_rest_kept(tmp_path, records):
    good = [json.dumps(r) for r in records[:5]]
    lines = [
        good[0],
        '{"text": "unterminated',  # bad JSON
        "[1, 2]", '"a string"', "42", "null",  # JSON, but not objects
        good[1],
        '{"text": "perplexity is NaN", "perplexity": NaN, "score": Infinity}',  # Python's json
        '{"text": "lone \\ud800 surrogate", "id": "x\\udfff"}',  # Python's json, ensure_ascii
        '{"text": "big", "n": 1180591620717411303424}',  # 2**70, beyond 64 bits
        good[2],
    ]
    data = "\n".join(lines).encode() + b"\n"
    data += b'{"text": "bad byte \xff here"}\n'  # not UTF-8
    data += good[3].encode()[:-40]  # last line cut, no newline
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(data)
    docs, skips = _read(path)
    assert skips == {"error:bad_json": 1, "record_not_object": 4, "error:truncated": 1}
    assert [d["text"] for d in docs] == [
        records[0]["text"], records[1]["text"], "perplexity is NaN", "lone \ufffd surrogate",
        "big", records[2]["text"], "bad byte \ufffd here"]
    assert docs[2]["meta"] == {"perplexity": None, "score": None}
    assert docs[3]["meta"] == {"id": "x\ufffd"}
    assert docs[4]["meta"] == {"n": 2**70}
    table = documents_to_table(docs, "cc")  # everything serialises
    assert [json.loads(m) for m in table["meta"].to_pylist()[2:5]] == [
        {"perplexity": None, "score": None}, {"id": "x\ufffd"}, {"n": 2**70}]


def test_text_values_null_missing_empty_not_string(tmp_path, records):
    base = {k: v for k, v in records[0].items() if k != "text"}
    variants = [{**base, "text": None}, dict(base), {**base, "text": ""}, {**base, "text": " \n\t"},
                {**base, "text": 7}, {**base, "text": ["a", "b"]}, {**base, "text": {"x": 1}},
                {**base, "text": True}, records[1]]
    path = tmp_path / "texts.jsonl"
    path.write_text("".join(json.dumps(v) + "\n" for v in variants))
    docs, skips = _read(path)
    assert skips == {"record_missing_text": 2, "record_empty_text": 2, "record_text_not_string": 4}
    assert [d["text"] for d in docs] == [records[1]["text"]]


def test_long_line_spanning_many_chunks(tmp_path, records):
    text = "".join(r["text"] for r in records) * 60  # ~5 MB, > 4 chunks of 1 MiB
    path = tmp_path / "long.jsonl.gz"
    path.write_bytes(gzip.compress((json.dumps({"text": text}) + "\n"
                                    + json.dumps(records[0]) + "\n").encode(), compresslevel=1))
    docs, skips = _read(path)
    assert skips == {} and [d["text"] for d in docs] == [text, records[0]["text"]]


def test_line_over_100_mb(tmp_path):
    text = "0123456789abcdef" * (101 * 1024 * 1024 // 16)  # 101 MiB of text on one line
    path = tmp_path / "huge.jsonl"
    with open(path, "w") as handle:
        handle.write('{"text": "')
        handle.write(text)
        handle.write('", "url": "http://a.example/"}\n{"text": "after"}\n')
    docs, skips = _read(path, Options(max_record_bytes=128 << 20))  # the default (64 MiB) skips it
    assert skips == {} and [len(d["text"]) for d in docs] == [len(text), 5]
    assert docs[0]["text"] == text and docs[0]["url"] == "http://a.example/"
    docs, skips = _read(path)
    assert skips == {"record_too_large": 1} and [d["text"] for d in docs] == ["after"]


# ---- fields: text, nested, ids, other corpora ----------------------------------------------


def test_wrong_text_field_is_an_error_naming_the_option(tmp_path, records):
    ccnet = [{"raw_content": r["text"], **r["metadata"]} for r in records[:20]]  # CCNet layout
    path = tmp_path / "ccnet.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ccnet))
    with pytest.raises(TextFieldError, match=r"set `text_field`.*likely 'raw_content'.*digest"):
        _read(path)
    docs, skips = _read(path, Options(text_field="raw_content"))
    assert skips == {} and [d["text"] for d in docs] == [r["text"] for r in records[:20]]
    assert docs[0]["url"] == records[0]["metadata"]["url"]
    assert docs[0]["meta"]["perplexity"] == records[0]["metadata"]["perplexity"]
    # a big file stops after 100 records without the field, before the end
    big = tmp_path / "big.jsonl"
    big.write_text("".join(json.dumps(r) + "\n" for r in ccnet * 10))
    skips = SkipCounter()
    with pytest.raises(TextFieldError):
        list(iter_documents(str(big), source="cc", file_key="k", options=Options(), skips=skips))
    assert dict(skips) == {"record_missing_text": 100}
    # but some records without the field, among others with it, are only counted
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("".join(json.dumps(r) + "\n" for r in [ccnet[0], records[0], ccnet[1]]))
    docs, skips = _read(mixed)
    assert skips == {"record_missing_text": 2} and [d["text"] for d in docs] == [records[0]["text"]]


def test_nested_text_only_through_a_dotted_option(tmp_path, records):
    nested = [{"id": r["id"], "meta": {"text": r["text"], "lang": "en"}} for r in records[:4]]
    path = tmp_path / "nested.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in nested))
    with pytest.raises(TextFieldError):
        _read(path)  # `text` never silently means `meta.text`
    docs, skips = _read(path, Options(text_field="meta.text"))
    assert skips == {} and [d["text"] for d in docs] == [r["text"] for r in records[:4]]
    assert docs[0]["meta"] == {"id": records[0]["id"], "meta.lang": "en"}


def test_int_missing_and_duplicate_ids_stay_unique(tmp_path, records):
    rows = [{"id": i, "text": r["text"]} for i, r in enumerate(records[:6])]
    rows[2]["id"] = None
    del rows[3]["id"]
    rows[4]["id"] = 1  # a duplicate of row 1
    rows.append({"id": "", "text": records[6]["text"]})
    path = tmp_path / "ids.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    docs, skips = _read(path, Options(id_field="id"), file_key="ids.jsonl")
    assert skips == {} and len(docs) == 7
    keys = ["0", "1", "\x00record:2", "\x00record:3", "1\x00dup:1", "5", "\x00record:6"]
    assert [d["id"] for d in docs] == [make_doc_id("cc", "ids.jsonl", k) for k in keys]
    assert len({d["id"] for d in docs}) == 7
    assert [d["meta"].get("id") for d in docs] == [0, 1, None, None, 1, 5, ""]
    again, _ = _read(path, Options(id_field="id"), file_key="ids.jsonl")
    assert [d["id"] for d in again] == [d["id"] for d in docs]  # stable across reads


def _corpus_layouts(records: list[dict]) -> dict[str, tuple[list[dict], dict, list]]:
    """name -> (rows, options, expected (url, meta subset) of row 0) in other corpora's layouts."""
    r, m = records[0], records[0]["metadata"]
    c4 = [{"text": x["text"], "url": x["metadata"]["url"], "timestamp": x["created"]}
          for x in records]
    pile = [{"text": x["text"], "meta": {"pile_set_name": "Pile-CC"}} for x in records]
    slim = [{"text": x["text"], "meta": {"redpajama_set_name": "RedPajamaCommonCrawl"}}
            for x in records]
    rpv2 = [{"raw_content": x["text"], "doc_id": f"2023-06/0000/en_head.json.gz/{i}",
             "meta": json.dumps({"url": x["metadata"]["url"], "digest": x["metadata"]["digest"]}),
             "quality_signals": json.dumps({"ccnet_perplexity": [[0, 10, 1.0]]})}
            for i, x in enumerate(records)]
    oscar = [{"content": x["text"], "warc_headers": {"warc-target-uri": x["metadata"]["url"],
                                                     "warc-record-id": f"<urn:uuid:{i}>"},
              "metadata": {"identification": {"label": "en", "prob": 0.9}, "harmful_pp": 12.5}}
             for i, x in enumerate(records)]
    stack = [{"content": x["text"], "hexsha": f"{i:040x}", "max_stars_repo_path": f"src/{i}.py",
              "max_stars_count": None, "lang": "Python"} for i, x in enumerate(records)]
    return {
        "c4": (c4, {}, [m["url"], {"timestamp": r["created"]}]),
        "pile": (pile, {}, [None, {"meta.pile_set_name": "Pile-CC"}]),
        "slimpajama": (slim, {}, [None, {"meta.redpajama_set_name": "RedPajamaCommonCrawl"}]),
        "redpajama-v2": (rpv2, {"text_field": "raw_content", "id_field": "doc_id"},
                         [m["url"], {"meta.digest": m["digest"],
                                     "doc_id": "2023-06/0000/en_head.json.gz/0"}]),
        "oscar": (oscar, {"text_field": "content"},
                  [m["url"], {"warc_headers.warc-record-id": "<urn:uuid:0>",
                              "metadata.harmful_pp": 12.5}]),
        "the-stack": (stack, {"text_field": "content", "id_field": "hexsha"},
                      [None, {"max_stars_repo_path": "src/0.py", "lang": "Python"}]),
    }


@pytest.mark.parametrize("layout", ["c4", "pile", "slimpajama", "redpajama-v2", "oscar",
                                    "the-stack"])
@pytest.mark.parametrize("suffix", [".jsonl.zst", ".parquet"])
def test_other_corpora_layouts(tmp_path, records, texts, layout, suffix):
    rows, options, (url, meta) = _corpus_layouts(records)[layout]
    path = tmp_path / f"{layout}{suffix}"
    if suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=8)
    else:
        path.write_bytes(_zstd(b"".join(json.dumps(row).encode() + b"\n" for row in rows)))
    docs, skips = _read(path, Options(**options))
    assert skips == {} and [d["text"] for d in docs] == texts
    assert docs[0].get("url") == url
    assert {k: docs[0]["meta"][k] for k in meta} == meta
    assert len({d["id"] for d in docs}) == 30
    documents_to_table(docs, "cc")


# ---- Parquet and Arrow ---------------------------------------------------------------------


def _fineweb_table(records: list[dict]) -> pa.Table:
    """FineWeb's columns with the types pyarrow gives them, plus odd types a dump may carry."""
    n = len(records)
    texts = [r["text"] for r in records]
    texts[3] = None  # a null text
    return pa.table({
        "text": pa.array(texts, pa.large_string()),
        "id": pa.array([f"<urn:uuid:{i:08d}>" for i in range(n)]),
        "dump": pa.array(["CC-MAIN-2020-16"] * n).dictionary_encode(),
        "url": pa.array([r["metadata"]["url"] for r in records]),
        "date": pa.array([dt.datetime(2020, 3, 29, 9, 4, 10, tzinfo=dt.timezone.utc)] * n,
                         pa.timestamp("us", tz="UTC")),
        "language_score": pa.array([r["metadata"].get("language_score", float("nan"))
                                    for r in records], pa.float32()),
        "token_count": pa.array(list(range(n)), pa.int64()),
        "price": pa.array([decimal.Decimal("1.25")] * n, pa.decimal128(6, 2)),
        "raw": pa.array([b"\xff\x00"] * n, pa.binary()),
        "metadata": pa.array([{"title": r["metadata"]["title"], "nlines": r["metadata"]["nlines"]}
                              for r in records]),
        "line_ids": pa.array([r["metadata"]["line_ids"] for r in records]),
    })


def test_parquet_fineweb_types_row_groups_and_meta(tmp_path, records, texts):
    table = _fineweb_table(records)
    path = tmp_path / "fineweb.parquet"
    pq.write_table(table, path, row_group_size=7)
    assert pq.ParquetFile(path).num_row_groups == 5
    assert pq.read_schema(path).field("dump").type == pa.dictionary(pa.int32(), pa.string())
    docs, skips = _read(path, Options(id_field="id", batch_rows=4))
    assert skips == {"record_missing_text": 1}
    assert [d["text"] for d in docs] == texts[:3] + texts[4:]
    meta = json.loads(documents_to_table(docs, "cc")["meta"][0].as_py())
    assert meta == {
        "id": "<urn:uuid:00000000>", "dump": "CC-MAIN-2020-16", "date": "2020-03-29T09:04:10+00:00",
        "language_score": pytest.approx(records[0]["metadata"]["language_score"]),
        "token_count": 0, "price": 1.25, "raw": "base64:/wA=",
        "metadata.title": records[0]["metadata"]["title"],
        "metadata.nlines": records[0]["metadata"]["nlines"]}  # line_ids: a list, not meta
    assert docs[0]["id"] == make_doc_id("cc", "input", "<urn:uuid:00000000>")
    # explicit meta fields keep lists and structs, made JSON-able
    docs, _ = _read(path, Options(meta_fields=("date", "raw", "metadata", "line_ids")))
    assert json.loads(documents_to_table(docs[:1], "cc")["meta"][0].as_py()) == {
        "date": "2020-03-29T09:04:10+00:00", "raw": "base64:/wA=",
        "metadata": {"title": records[0]["metadata"]["title"],
                     "nlines": records[0]["metadata"]["nlines"]},
        "line_ids": records[0]["metadata"]["line_ids"]}


def test_parquet_zero_rows_wrong_text_column_and_no_extension(tmp_path, records, texts):
    table = _fineweb_table(records)
    empty = tmp_path / "empty.parquet"
    pq.write_table(table.slice(0, 0), empty)
    assert _read(empty) == ([], {})
    renamed = tmp_path / "renamed.parquet"
    pq.write_table(table.rename_columns(["content", *table.column_names[1:]]), renamed)
    with pytest.raises(TextFieldError, match=r"set `text_field`.*likely 'content'.*dump, url"):
        _read(renamed)
    with pytest.raises(TextFieldError, match=r"'token_count' has type int64"):
        _read(renamed, Options(text_field="token_count"))
    pq.write_table(table.rename_columns(["content", *table.column_names[1:]]).slice(0, 0),
                   tmp_path / "renamed-empty.parquet")
    assert _read(tmp_path / "renamed-empty.parquet") == ([], {})  # nothing to misread
    blob = tmp_path / "0a1b2c3d"  # no extension: the PAR1 magic tells
    blob.write_bytes((tmp_path / "renamed.parquet").read_bytes())
    docs, skips = _read(blob, Options(text_field="content"))
    assert skips == {"record_missing_text": 1} and len(docs) == 29


def test_hf_datasets_exports(tmp_path, records, texts):
    import datasets

    rows = [{"text": r["text"], "id": i, "url": r["metadata"]["url"]} for i, r in enumerate(records)]
    dataset = datasets.Dataset.from_list(rows)
    dataset.to_json(tmp_path / "lines.json")
    dataset.to_json(tmp_path / "array.json", lines=False, orient="records")
    dataset.to_parquet(tmp_path / "hf.parquet")
    dataset.save_to_disk(tmp_path / "saved")
    arrow = next((tmp_path / "saved").glob("*.arrow"))
    for path in (tmp_path / "lines.json", tmp_path / "array.json", tmp_path / "hf.parquet", arrow):
        docs, skips = _read(path, Options(id_field="id"))
        assert skips == {} and [d["text"] for d in docs] == texts, path.name
        assert [d["id"] for d in docs] == [make_doc_id("cc", "input", str(i)) for i in range(30)]
        assert docs[5]["url"] == records[5]["metadata"]["url"]
    # a JSON array pretty-printed over many lines, gzip'd
    pretty = tmp_path / "pretty.json.gz"
    pretty.write_bytes(gzip.compress(json.dumps(rows, indent=2).encode()))
    docs, skips = _read(pretty)
    assert skips == {} and [d["text"] for d in docs] == texts
