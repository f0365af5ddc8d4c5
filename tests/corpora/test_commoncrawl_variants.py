"""The web-archive reader on variants of real files it was not written against: other
compressions and member layouts, other names, empty / truncated / corrupt / wrong files, and
hand-built records for HTTP codings, charsets, content types and older WET headers.

Variants are built in tmp_path from the real files in shared/data/web; expected values come
from warcio reading the same bytes (record offsets, HTML 200 responses), not from the reader."""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import zlib
from pathlib import Path

import brotli
import pytest
import zstandard
from warcio.archiveiterator import ArchiveIterator

from corpora.commoncrawl import Options, iter_documents
from corpora.schema import SkipCounter, make_doc_id

WARC_NAME = "warc-real/dolma_sample-0001.warc.gz"  # wget crawl: 34 records, 15 HTML 200 pages
ARC_NAME = "warc-real/aut_example.arc.gz"  # Heritrix ARC: 300 records, 94 HTML 200 pages


def read_all(path, options: Options = Options()) -> tuple[list[dict], SkipCounter]:
    skips = SkipCounter()
    docs = list(iter_documents(str(path), source="web", file_key="f", options=options, skips=skips))
    return docs, skips


def warcio_spans(plain: bytes, arc: bool = False) -> list[tuple[int, int, object]]:
    """(offset, length, record) of every record of uncompressed bytes, read by warcio."""
    records = ArchiveIterator(io.BytesIO(plain), arc2warc=arc)
    spans = []
    for record in records:
        record.content_stream().read()
        spans.append((records.get_record_offset(), records.get_record_length(), record))
    return spans


def html_200_offsets(plain: bytes, arc: bool = False) -> list[int]:
    return [
        offset for offset, _, r in warcio_spans(plain, arc)
        if r.rec_type == "response" and r.http_headers is not None
        and r.http_headers.get_statuscode() == "200"
        and "html" in (r.http_headers.get_header("Content-Type") or "")
    ]


@pytest.fixture(scope="module")
def warc_plain(shared_data: Path) -> bytes:
    return gzip.decompress((shared_data / "web" / WARC_NAME).read_bytes())


def _zstd_with_dictionary(records: list[bytes]) -> bytes:
    """The WARC zstd layout (dictionary in a skippable frame, one frame per record)."""
    dictionary = zstandard.train_dictionary(4096, records * 20)
    compressor = zstandard.ZstdCompressor(dict_data=dictionary)
    frame = struct.pack("<II", 0x184D2A5D, len(dictionary.as_bytes())) + dictionary.as_bytes()
    return frame + b"".join(compressor.compress(r) for r in records)


def _variants(original: bytes, plain: bytes, spans) -> dict[str, bytes]:
    records = [plain[o : o + n] for o, n, _ in spans]
    return {
        "plain.warc": plain,
        "whole-file.warc.gz": gzip.compress(plain),  # `gzip file.warc`: one member, 34 records
        "UPPER.WARC.GZ": original,
        "misnamed-plain.warc.gz": plain,
        "whole.warc.bz2": bz2.compress(plain),
        "per-record.warc.bz2": b"".join(bz2.compress(r) for r in records),
        "whole.warc.xz": lzma.compress(plain),
        "whole.warc.zst": zstandard.ZstdCompressor().compress(plain),
        "per-record.warc.zst": b"".join(zstandard.ZstdCompressor().compress(r) for r in records),
        "dictionary.warc.zst": _zstd_with_dictionary(records),
    }


# Before the fixes: whole-file gzip gave 15 documents with only 5 distinct ids (fastwarc reports
# the compressed read position), whole-file zstd 8 ids; bzip2 and xz gave 0 documents, 0 skips.
@pytest.fixture(scope="module")
def warc_variants(shared_data, warc_plain) -> dict[str, bytes]:
    spans = warcio_spans(warc_plain)
    assert len(spans) == 34  # MANIFEST
    return _variants((shared_data / "web" / WARC_NAME).read_bytes(), warc_plain, spans)


@pytest.fixture(scope="module")
def warc_expected(shared_data) -> tuple[list[dict], SkipCounter]:
    return read_all(shared_data / "web" / WARC_NAME)


@pytest.mark.parametrize("variant", [
    "plain.warc", "whole-file.warc.gz", "UPPER.WARC.GZ", "misnamed-plain.warc.gz", "whole.warc.bz2",
    "per-record.warc.bz2", "whole.warc.xz", "whole.warc.zst", "per-record.warc.zst", "dictionary.warc.zst",
])
def test_compression_and_layout_variants_give_the_same_pages(warc_plain, warc_variants, warc_expected, tmp_path, variant):
    path = tmp_path / variant
    path.write_bytes(warc_variants[variant])

    expected, expected_skips = warc_expected
    docs, skips = read_all(path)
    assert [(d["url"], d["text"]) for d in docs] == [(d["url"], d["text"]) for d in expected]
    assert dict(skips) == dict(expected_skips) == {
        "warc_warcinfo": 1, "warc_request": 15, "warc_metadata": 1, "resource_not_html": 2}
    assert len({d["id"] for d in docs}) == len(docs) == 15
    if variant.startswith(("plain", "misnamed", "whole")):
        # One stream (or none): offsets are warcio's offsets in the decompressed bytes.
        assert [d["meta"]["record_offset"] for d in docs] == html_200_offsets(warc_plain)
        assert [d["id"] for d in docs] == [make_doc_id("web", "f", o) for o in html_200_offsets(warc_plain)]
    if variant == "UPPER.WARC.GZ":
        assert docs == expected  # same ids: offsets in the gzip file as before


@pytest.mark.parametrize("variant", ["plain.arc", "whole-file.arc.gz", "UPPER.ARC.GZ"])
def test_arc_variants_give_the_same_pages(shared_data, tmp_path, variant):
    original = (shared_data / "web" / ARC_NAME).read_bytes()
    plain = gzip.decompress(original)
    data = {"plain.arc": plain, "whole-file.arc.gz": gzip.compress(plain), "UPPER.ARC.GZ": original}[variant]
    (tmp_path / variant).write_bytes(data)

    expected, expected_skips = read_all(shared_data / "web" / ARC_NAME)
    docs, skips = read_all(tmp_path / variant)
    # Before: the whole-file gzip ARC gave 0 documents and counted only its warcinfo record.
    assert {d["url"]: d["text"] for d in docs} == {d["url"]: d["text"] for d in expected}
    assert dict(skips) == dict(expected_skips)
    assert len(docs) + skips["empty_text"] == len(html_200_offsets(plain, arc=True)) == 94
    if variant != "UPPER.ARC.GZ":
        assert sorted(d["meta"]["record_offset"] for d in docs) == sorted(
            set(html_200_offsets(plain, arc=True)) & {d["meta"]["record_offset"] for d in docs})
        assert len({d["id"] for d in docs}) == len(docs) == 93


def test_fsspec_url_of_a_whole_file_gzip(shared_data, warc_plain, tmp_path):
    path = tmp_path / "whole.warc.gz"
    path.write_bytes(gzip.compress(warc_plain))
    via_url, _ = read_all(path.as_uri())
    local, _ = read_all(path)
    assert via_url == local and len(local) == 15


# ---- empty, wrong, truncated and corrupt files ----------------------------------------------


@pytest.mark.parametrize("data", [b"", gzip.compress(b""), zstandard.ZstdCompressor().compress(b"")],
                         ids=["zero-bytes", "gzip-of-nothing", "zstd-of-nothing"])
def test_empty_file_is_counted(tmp_path, data):
    # Before: no document and no count at all.
    path = tmp_path / "empty.warc.gz"
    path.write_bytes(data)
    assert read_all(path) == ([], SkipCounter({"error:empty_file": 1}))


@pytest.mark.parametrize("data", [
    gzip.compress(b"crawl-data/CC-MAIN-2024-22/segments/1/warc/CC-MAIN-1.warc.gz\n" * 3),
    b"<html><body>403 Forbidden</body></html>",
], ids=["warc.paths.gz", "html-error-page"])
def test_a_file_that_is_not_an_archive_raises_naming_the_fix(tmp_path, data):
    # Before: 0 documents, 0 skips: a wrong glob went unnoticed.
    path = tmp_path / "CC-MAIN-1.warc.gz"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=r"CC-MAIN-1\.warc\.gz: no WARC or ARC record found.*`paths` in recipe.yaml"):
        read_all(path)


@pytest.mark.parametrize("compress", ["plain", "gzip-whole", "zstd-whole"])
def test_truncated_mid_record_keeps_every_record_before(shared_data, warc_plain, tmp_path, compress):
    spans = warcio_spans(warc_plain)
    pages = html_200_offsets(warc_plain)
    cut_offset, cut_length, _ = next(s for s in spans if s[0] == pages[6])
    cut = warc_plain[: cut_offset + cut_length // 2]
    data = {"plain": cut, "gzip-whole": gzip.compress(warc_plain)[: len(gzip.compress(cut)) - 8],
            "zstd-whole": zstandard.ZstdCompressor().compress(warc_plain)}[compress]
    if compress == "zstd-whole":  # cut the compressed stream where it holds the cut bytes
        data = data[: len(zstandard.ZstdCompressor().compress(cut))]
    path = tmp_path / "cut.warc"
    path.write_bytes(data)

    docs, skips = read_all(path)
    assert [d["meta"]["record_offset"] for d in docs] == pages[:6]
    assert skips["error:clipped_record"] + skips["error:truncated_stream"] == 1
    assert skips["error:corrupt_stream"] == 0
    assert skips["warc_request"] == sum(1 for o, _, r in spans if r.rec_type == "request" and o < cut_offset)


def test_single_stream_cut_between_records_is_counted(warc_plain, tmp_path):
    spans = warcio_spans(warc_plain)
    boundary = spans[10][0]  # everything before record 10, then the gzip trailer is missing
    path = tmp_path / "cut-at-boundary.warc.gz"
    path.write_bytes(gzip.compress(warc_plain[:boundary])[:-8])
    docs, skips = read_all(path)
    assert [d["meta"]["record_offset"] for d in docs] == [o for o in html_200_offsets(warc_plain) if o < boundary]
    assert skips["error:truncated_stream"] == 1
    assert skips["error:clipped_record"] == 0
    assert len(docs) + sum(skips.values()) == 10 + 1


def test_corrupt_single_stream_keeps_what_precedes_the_damage(shared_data, warc_plain, tmp_path):
    compressed = bytearray(gzip.compress(warc_plain))
    middle = len(compressed) // 2
    compressed[middle : middle + 64] = bytes(64)
    path = tmp_path / "corrupt.warc.gz"
    path.write_bytes(bytes(compressed))
    # Records that end before the damaged compressed bytes decode (zlib on the intact prefix).
    decoded_before_damage = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(bytes(compressed[:middle]))
    intact = [o for o, n, _ in warcio_spans(warc_plain) if o + n <= len(decoded_before_damage)]
    clean, _ = read_all(shared_data / "web" / WARC_NAME)
    clean_by_url = {d["url"]: d["text"] for d in clean}

    docs, skips = read_all(path)
    assert skips["error:corrupt_stream"] == 1
    kept = [d for d in docs if d["meta"]["record_offset"] in intact]
    assert [d["meta"]["record_offset"] for d in kept] == [o for o in html_200_offsets(warc_plain) if o in intact]
    assert len(kept) >= 5 and all(clean_by_url[d["url"]] == d["text"] for d in kept)


# ---- hand-built records: HTTP codings, status lines, content types, charsets, WET ------------

PAGE = "<html><head>{head}<title>t</title></head><body><article><p>{text}</p></article></body></html>"
EN = "The quick brown fox jumps over the lazy dog near the river bank today."
JA = "日本語のテキストです。東京は日本の首都であり、多くの人々が住んでいます。今日は良い天気ですね。"
ZH = "中文文本示例。北京是中华人民共和国的首都，有很多人住在这里。今天天气很好，我们去公园散步吧。"
FR = "Le cœur déçu mais l'âme plutôt naïve, Louÿs rêva de crapaüter en canoë au delà des îles."


def page(text: str, head: str = "") -> str:
    return PAGE.format(head=head, text=text)


def warc_record(wtype: str, uri: str, block: bytes, *, content_type: str | None = "application/http; msgtype=response",
                extra: tuple = (), order: str = "standard") -> bytes:
    headers = [("WARC-Type", wtype), ("WARC-Target-URI", uri), ("WARC-Date", "2014-03-25T12:12:25Z"),
               ("WARC-Record-ID", f"<urn:uuid:00000000-0000-0000-0000-{abs(hash(uri)) % 10**12:012d}>")]
    if content_type:
        headers.append(("Content-Type", content_type))
    headers += list(extra)
    headers.append(("Content-Length", str(len(block))))
    if order == "reversed":  # older writers put Content-Length / Content-Type first
        headers.reverse()
    head = "".join(f"{k}: {v}\r\n" for k, v in headers).encode()
    return b"WARC/1.0\r\n" + head + b"\r\n" + block + b"\r\n\r\n"


def http(status: str, headers: list[tuple[str, str]], body: bytes, protocol: str = "HTTP/1.1") -> bytes:
    return (f"{protocol} {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode() + body


def chunked(data: bytes, size: int = 37) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(data[i : i + size]), data[i : i + size]) for i in range(0, len(data), size)]
    return b"".join(parts) + b"0\r\n\r\n"


def write_warc(path: Path, records: list[bytes]) -> Path:
    path.write_bytes(b"".join(gzip.compress(r) for r in records))
    return path


HTML = [("Content-Type", "text/html")]


def test_http_codings_and_status_lines(tmp_path):
    body = page(EN).encode()
    path = write_warc(tmp_path / "codings.warc.gz", [
        warc_record("response", "http://t.test/br", http("200 OK", HTML + [("Content-Encoding", "br")], brotli.compress(body))),
        warc_record("response", "http://t.test/gzip-chunked", http(
            "200 OK", HTML + [("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked")], chunked(gzip.compress(body)))),
        warc_record("response", "http://t.test/br-chunked", http(
            "200 OK", HTML + [("Content-Encoding", "br"), ("Transfer-Encoding", "chunked")], chunked(brotli.compress(body)))),
        warc_record("response", "http://t.test/http2", http("200", [("content-type", "text/html")], body, "HTTP/2")),
        warc_record("response", "http://t.test/no-reason", http("200", HTML, body)),
        # Writers that leave out the record's `Content-Type: application/http`: before the fix
        # this page was lost as response_not_http.
        warc_record("response", "http://t.test/no-warc-type", http("200 OK", HTML, body), content_type=None),
        warc_record("response", "http://t.test/lying-gzip", http("200 OK", HTML + [("Content-Encoding", "gzip")], body)),
    ])
    docs, skips = read_all(path)
    assert dict(skips) == {}
    assert {d["url"]: d["text"] for d in docs} == {
        f"http://t.test/{name}": EN for name in
        ("br", "gzip-chunked", "br-chunked", "http2", "no-reason", "no-warc-type", "lying-gzip")}
    assert {d["meta"]["http_status"] for d in docs} == {200}


def test_non_pages_are_skipped_with_stable_reasons(tmp_path):
    body = page(EN).encode()
    path = write_warc(tmp_path / "skips.warc.gz", [
        warc_record("response", "http://t.test/a.pdf", http("200 OK", [("Content-Type", "application/pdf")], b"%PDF-1.4\n1 0 obj")),
        warc_record("response", "http://t.test/a.jpg", http("200 OK", [("Content-Type", "image/jpeg")], b"\xff\xd8\xff\xe0" + bytes(64))),
        warc_record("response", "http://t.test/png-as-html", http("200 OK", HTML, b"\x89PNG\r\n\x1a\n" + bytes(64))),
        warc_record("response", "http://t.test/a.json", http("200 OK", [("Content-Type", "application/json")], b'{"a": [1, 2]}')),
        warc_record("response", "http://t.test/a.txt", http("200 OK", [("Content-Type", "text/plain")], EN.encode())),
        warc_record("response", "http://t.test/gone", http("404 Not Found", HTML, page("Not found").encode())),
        warc_record("response", "http://t.test/moved", http("301 Moved Permanently", HTML + [("Location", "/x")], b"")),
        warc_record("response", "http://t.test/found", http("302 Found", HTML + [("Location", "/y")], page("moved").encode())),
        warc_record("revisit", "http://t.test/again", http("200 OK", HTML, b""), extra=[
            ("WARC-Profile", "http://netpreserve.org/warc/1.0/revisit/identical-payload-digest"),
            ("WARC-Refers-To-Target-URI", "http://t.test/page")]),
        warc_record("response", "dns:t.test", b"20140325121225\nt.test. 300 IN A 10.0.0.1\n", content_type="text/dns"),
        warc_record("request", "http://t.test/page", b"GET /page HTTP/1.1\r\nHost: t.test\r\n\r\n",
                    content_type="application/http; msgtype=request"),
        warc_record("response", "http://t.test/page", http("200 OK", HTML, body)),
    ])
    docs, skips = read_all(path)
    assert [(d["url"], d["text"]) for d in docs] == [("http://t.test/page", EN)]
    assert dict(skips) == {"content_not_html": 5, "http_status_404": 1, "http_status_301": 1,
                           "http_status_302": 1, "warc_revisit": 1, "response_not_http": 1, "warc_request": 1}


CHARSET_CASES = {
    # name: (Content-Type, body bytes, expected text, expected (charset, charset_source))
    "shift_jis-undeclared": ("text/html", page(JA).encode("shift_jis"), JA, ("shift_jis", "detected")),
    "gbk-undeclared": ("text/html", page(ZH).encode("gbk"), ZH, ("gb18030", "detected")),
    "cp1252-undeclared": ("text/html", page(FR).encode("cp1252"), FR, ("cp1252", "detected")),
    "utf-8-undeclared": ("text/html", page(FR).encode(), FR, ("utf-8", "detected")),
    "shift_jis-meta-only": ("text/html", page(JA, '<meta charset="Shift_JIS">').encode("shift_jis"), JA,
                            ("shift_jis", "meta")),
    "gbk-http-equiv": ("text/html", page(ZH, '<meta http-equiv="Content-Type" content="text/html; charset=gb2312">')
                       .encode("gbk"), ZH, ("gbk", "meta")),
    "bom-beats-wrong-label": ("text/html; charset=iso-8859-1", b"\xef\xbb\xbf" + page(FR).encode(), FR, ("utf-8", "bom")),
    # Apache's default `charset=ISO-8859-1` on a UTF-8 page: before the fix, mojibake
    # ("Le cÅ“ur dÃ©Ã§u...") labelled cp1252/http.
    "utf-8-labelled-latin1": ("text/html; charset=ISO-8859-1", page(FR).encode(), FR, ("utf-8", "detected")),
    "utf-8-meta-labelled-latin1": ("text/html", page(FR, '<meta charset="windows-1252">').encode(), FR, ("utf-8", "detected")),
    "shift_jis-labelled-utf-8": ("text/html; charset=utf-8", page(JA).encode("shift_jis"), JA, ("shift_jis", "detected")),
    "cp1252-labelled-utf-8-meta-right": ("text/html; charset=UTF-8",
                                         page(FR, '<meta charset="windows-1252">').encode("cp1252"), FR, ("cp1252", "meta")),
}


def test_charsets(tmp_path):
    path = write_warc(tmp_path / "charsets.warc.gz", [
        warc_record("response", f"http://t.test/{name}", http("200 OK", [("Content-Type", ctype)], body))
        for name, (ctype, body, _, _) in CHARSET_CASES.items()
    ])
    docs, skips = read_all(path)
    assert dict(skips) == {}
    got = {d["url"].rsplit("/", 1)[1]: (d["text"], (d["meta"]["charset"], d["meta"]["charset_source"])) for d in docs}
    assert got == {name: (text, charset) for name, (_, _, text, charset) in CHARSET_CASES.items()}


def test_older_wet_records_without_language_and_other_header_order(tmp_path):
    text_a = "Erste Seite\nDies ist der Text der ersten Seite."
    text_b = "Second page\nThe text of the second page."
    path = tmp_path / "CC-MAIN-2015-11.warc.wet"
    path.write_bytes(b"".join([
        warc_record("warcinfo", "", b"Software-Info: ia-web-commons.1.0-SNAPSHOT\r\n", content_type="application/warc-fields"),
        warc_record("conversion", "http://de.test/a", text_a.encode(), content_type="text/plain", order="reversed",
                    extra=[("WARC-Refers-To", "<urn:uuid:aaaa>")]),
        warc_record("conversion", "http://en.test/b", text_b.encode(), content_type="text/plain"),
        warc_record("conversion", "http://en.test/empty", b"", content_type="text/plain"),
    ]))
    docs, skips = read_all(path)
    assert dict(skips) == {"warc_warcinfo": 1, "empty_text": 1}
    assert [(d["url"], d["text"]) for d in docs] == [("http://de.test/a", text_a), ("http://en.test/b", text_b)]
    assert ["warc_language" in d["meta"] for d in docs] == [False, False]
    assert docs[0]["meta"]["warc_refers_to"] == "<urn:uuid:aaaa>"
    assert [d["meta"]["warc_type"] for d in docs] == ["conversion", "conversion"]
