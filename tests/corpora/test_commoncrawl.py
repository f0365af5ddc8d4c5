"""The web-archive reader on every real WARC / ARC / WET / WAT file in shared/data/web, plus
small WARCs written here with warcio for the cases the real files do not contain."""
from __future__ import annotations

import gzip
import io
from pathlib import Path

import fsspec
import pydantic
import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from corpora import reader_for
from corpora.commoncrawl import Options, iter_documents
from corpora.schema import SkipCounter, make_doc_id

# file -> (records, HTML 200 responses by header, revisits, requests) from MANIFEST.md, and
# (kept, empty_text, clipped) from this reader. kept + empty_text + clipped must equal the
# MANIFEST's "200 OK" HTML count: no page is lost for any other reason. The 4 empty pages are
# www.hideout.com.br (a bare <meta refresh> redirect, no body text) and data.gov.uk's home and
# login pages (all navigation: main-content extraction leaves nothing), in both gov.uk crawls.
# Content sniffing adds no page on these files: no 200 response without an html Content-Type
# starts like HTML (asserted below via meta["html_sniffed"]).
REAL_FILES = {
    "warc-real/resiliparse_cc-sample_warcfile.warc.gz": ((50, 16, 0, 17), (16, 0, 0)),
    "warc-real/resiliparse_clueweb-quirk.warc.gz": ((30, 29, 0, 0), (29, 0, 0)),
    "warc-real/resiliparse_clipped.warc.gz": ((1, 1, 0, 0), (0, 0, 1)),
    "warc-real/dolma_sample-0000.warc.gz": ((48, 22, 0, 22), (22, 0, 0)),
    "warc-real/dolma_sample-0001.warc.gz": ((34, 15, 0, 15), (15, 0, 0)),
    "warc-real/aut_example.warc.gz": ((822, 94, 0, 261), (93, 1, 0)),
    "warc-real/aut_example.arc.gz": ((300, 94, 0, 0), (93, 1, 0)),
    "warc-real/ukwa_IAH-20080430204825-00000-blackbook-truncated.warc.gz": ((23, 2, 0, 7), (2, 0, 0)),
    "warc-real/ukwa_IAH-urls-wget.warc.gz": ((36, 2, 0, 16), (2, 0, 0)),
    "warc-real/ukwa_sopa-wikipedia-homepage.warc.gz": ((164, 1, 0, 86), (1, 0, 0)),
    "warc-real/ukwa_wikipedia-post-blackout-main-page.warc.gz": ((151, 1, 0, 77), (1, 0, 0)),
    "warc-real/ukwa_wikipedia-post-blackout.warc.gz": ((117, 1, 0, 62), (1, 0, 0)),
    "warc-real/pywb_iana.warc.gz": ((343, 16, 123, 171), (16, 0, 0)),
    "warc-real/ukwad_gov.uk_BL-20140325121225068-00000.warc.gz": ((190, 32, 0, 62), (30, 2, 0)),
    "warc-real/ukwad_gov.uk_BL-20140325122341434-00000-revisits.warc.gz": ((190, 6, 55, 62), (5, 1, 0)),
    "warc-real/ukwad_wikipedia-mona-lisa-flashfrozen.warc.gz": ((82, 2, 0, 39), (2, 0, 0)),
    "cc-whirlwind/cc-whirlwind.warc.gz": ((4, 1, 0, 1), (1, 0, 0)),
}


def read_all(path: str, options: Options = Options(), file_key: str = "f") -> tuple[list[dict], SkipCounter]:
    skips = SkipCounter()
    docs = list(iter_documents(path, source="web", file_key=file_key, options=options, skips=skips))
    return docs, skips


@pytest.mark.parametrize("name", sorted(REAL_FILES))
def test_real_archive_counts_match_manifest(shared_data: Path, name: str):
    (records, html_200, revisits, requests), (kept, empty, clipped) = REAL_FILES[name]
    docs, skips = read_all(str(shared_data / "web" / name))

    assert len(docs) == kept
    assert skips["empty_text"] == empty
    assert skips["error:clipped_record"] == clipped
    assert kept + empty + clipped == html_200
    assert skips["warc_revisit"] == revisits
    assert skips["warc_request"] == requests
    # Every record is either a document or counted under some reason.
    assert len(docs) + sum(skips.values()) == records
    assert sum(1 for d in docs if d["meta"].get("html_sniffed")) == 0
    assert {d["meta"]["http_status"] for d in docs} <= {200}
    assert len({d["id"] for d in docs}) == len(docs)
    assert all(d["text"] == d["text"].strip() and d["text"] for d in docs)


def test_wet_conversion_record_is_taken_as_text(shared_data: Path):
    docs, skips = read_all(str(shared_data / "web/cc-whirlwind/cc-whirlwind.warc.wet.gz"))
    assert dict(skips) == {"warc_warcinfo": 1}
    assert len(docs) == 1
    (doc,) = docs
    assert doc["url"] == "https://an.wikipedia.org/wiki/Escopete"
    assert doc["meta"]["warc_language"] == "spa"
    assert doc["meta"]["warc_type"] == "conversion"
    assert doc["meta"]["content_type"] == "text/plain"
    assert doc["text"].startswith("Escopete - Biquipedia, a enciclopedia libre\n")
    # The WARC of the same capture: the WET record refers to its response record.
    (html_doc,), _ = read_all(str(shared_data / "web/cc-whirlwind/cc-whirlwind.warc.gz"))
    assert html_doc["url"] == doc["url"]
    assert doc["meta"]["warc_refers_to"] == html_doc["meta"]["warc_record_id"]
    assert html_doc["text"].startswith("Escopete\n")


def test_wat_metadata_gives_no_documents(shared_data: Path):
    docs, skips = read_all(str(shared_data / "web/cc-whirlwind/cc-whirlwind.warc.wat.gz"))
    assert docs == []
    assert dict(skips) == {"warc_warcinfo": 1, "warc_metadata": 1}


def test_arc_gives_the_same_pages_as_its_warc_twin(shared_data: Path):
    arc_docs, arc_skips = read_all(str(shared_data / "web/warc-real/aut_example.arc.gz"))
    warc_docs, warc_skips = read_all(str(shared_data / "web/warc-real/aut_example.warc.gz"))
    assert len(arc_docs) + arc_skips["empty_text"] == 94
    assert {d["url"]: d["text"] for d in arc_docs} == {d["url"]: d["text"] for d in warc_docs}
    # Same responses dropped for the same reasons (the WARC also has request/metadata records).
    for reason in ("http_status_404", "http_status_302", "http_status_301", "content_not_html",
                   "response_not_http", "empty_text"):
        assert arc_skips[reason] == warc_skips[reason]
    # warcio invents random record ids for ARC records: none may leak into meta.
    assert all("warc_record_id" not in d["meta"] for d in arc_docs)


def test_ids_and_meta_match_an_independent_warcio_read(shared_data: Path):
    path = shared_data / "web/warc-real/dolma_sample-0000.warc.gz"
    expected = {}
    with open(path, "rb") as stream:
        records = ArchiveIterator(stream)
        for record in records:
            if record.rec_type == "response" and record.http_headers.get_statuscode() == "200":
                ctype = record.http_headers.get_header("Content-Type")
                expected[records.get_record_offset()] = (
                    record.rec_headers.get_header("WARC-Target-URI"),
                    record.rec_headers.get_header("WARC-Record-ID"),
                    record.rec_headers.get_header("WARC-Date"),
                    ctype,
                )
    docs, _ = read_all(str(path), file_key="dolma/sample-0000.warc.gz")
    assert len(expected) == 22 == len(docs)
    for doc in docs:
        offset = doc["meta"]["record_offset"]
        url, record_id, date, ctype = expected[offset]
        assert doc["id"] == make_doc_id("web", "dolma/sample-0000.warc.gz", offset)
        assert (doc["url"], doc["meta"]["warc_record_id"], doc["meta"]["warc_date"]) == (url, record_id, date)
        assert doc["meta"]["content_type"] == ctype
        assert doc["meta"]["http_status"] == 200
        assert doc["meta"]["extractor"] == "resiliparse"


def test_clueweb_quirks_charset_and_lying_content_encoding(shared_data: Path):
    # HTTP headers end with bare "\n", declare EUC-JP and `Content-Encoding: gzip` on a body
    # that is not gzipped.
    docs, _ = read_all(str(shared_data / "web/warc-real/resiliparse_clueweb-quirk.warc.gz"))
    assert len(docs) == 29
    assert {(d["meta"]["charset"], d["meta"]["charset_source"]) for d in docs} == {("euc_jp", "http")}
    assert all("ヘッドポーター" in d["text"] for d in docs)
    assert all("\ufffd" not in d["text"] for d in docs)


def test_reader_is_registered_and_reads_fsspec_urls(shared_data: Path):
    assert reader_for("commoncrawl").iter_documents is iter_documents
    path = shared_data / "web/warc-real/dolma_sample-0001.warc.gz"
    local, _ = read_all(str(path))
    via_url, _ = read_all(path.as_uri())  # file:// URL through fsspec
    assert via_url == local
    assert len(local) == 15


# ---- damaged files --------------------------------------------------------------------------


def _record_spans(data: bytes, arc: bool) -> list[tuple[int, int]]:
    records = ArchiveIterator(io.BytesIO(data), arc2warc=arc)
    return [(records.get_record_offset(), records.get_record_length()) for _ in records]


@pytest.mark.parametrize("name", ["aut_example.warc.gz", "aut_example.arc.gz"])
def test_corrupt_gzip_member_costs_only_that_record(shared_data: Path, name: str):
    data = (shared_data / "web/warc-real" / name).read_bytes()
    clean, _ = read_all(str(shared_data / "web/warc-real" / name))
    by_offset = {d["meta"]["record_offset"]: d for d in clean}
    offset, length = [s for s in _record_spans(data, name.endswith(".arc.gz")) if s[0] in by_offset][40]
    damaged = bytearray(data)
    damaged[offset + length // 2 : offset + length // 2 + 64] = bytes(64)  # inside the deflate data
    fsspec.filesystem("memory").pipe(f"/damaged/{name}", bytes(damaged))

    docs, skips = read_all(f"memory:///damaged/{name}")
    assert skips["error:corrupt_stream"] == 1
    assert sorted(set(by_offset) - {d["meta"]["record_offset"] for d in docs}) == [offset]
    assert all(by_offset[d["meta"]["record_offset"]] == d for d in docs)  # same ids, same text
    assert len(docs) == 92


@pytest.mark.parametrize("name", ["dolma_sample-0000.warc.gz", "aut_example.arc.gz"])
def test_truncated_file_yields_everything_before_the_cut(shared_data: Path, name: str):
    data = (shared_data / "web/warc-real" / name).read_bytes()
    clean, _ = read_all(str(shared_data / "web/warc-real" / name))
    offsets = sorted(d["meta"]["record_offset"] for d in clean)
    cut_record = offsets[10]
    span = dict(_record_spans(data, name.endswith(".arc.gz")))[cut_record]
    fsspec.filesystem("memory").pipe(f"/cut/{name}", data[: cut_record + span // 2])

    docs, skips = read_all(f"memory:///cut/{name}")
    assert skips["error:clipped_record"] == 1
    assert skips["error:corrupt_stream"] == 0
    assert docs == [d for d in clean if d["meta"]["record_offset"] < cut_record]
    assert len(docs) == 10


# ---- synthetic records for cases the real files lack ------------------------------------------

PAGE = "<html><head><title>t</title></head><body><article><p>{}</p></article></body></html>"


def _write_warc(path: Path, records: list[tuple]) -> None:
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for kind, uri, status, headers, body in records:
            http = StatusAndHeaders(status, headers, protocol="HTTP/1.1") if status else None
            warc_headers = None if status else {"Content-Type": headers[0][1]}
            record = writer.create_warc_record(
                uri, kind, payload=io.BytesIO(body), length=len(body), http_headers=http,
                warc_headers_dict=warc_headers,
            )
            writer.write_record(record)


def _chunked(data: bytes, size: int = 50) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(data[i : i + size]), data[i : i + size]) for i in range(0, len(data), size)]
    return b"".join(parts) + b"0\r\n\r\n"


RUSSIAN = "Всеобщая декларация прав человека принята Генеральной Ассамблеей ООН."
POLISH = "Powszechna Deklaracja Praw Człowieka została uchwalona przez Zgromadzenie Ogólne."
FRENCH = "Déclaration universelle des droits de l'homme, adoptée à Paris, été 1948."


@pytest.fixture()
def synthetic_warc(tmp_path: Path) -> Path:
    gz_page = gzip.compress(PAGE.format("Chunked and gzipped page body text.").encode())
    path = tmp_path / "synthetic.warc.gz"
    _write_warc(path, [
        ("response", "http://a.test/ru", "200 OK", [("Content-Type", "text/html; charset=windows-1251")],
         PAGE.format(RUSSIAN).encode("cp1251")),
        # No Content-Type at all: sniffed; charset from <meta>.
        ("response", "http://a.test/pl", "200 OK", [],
         ("  <!DOCTYPE html><html><head><meta charset='iso-8859-2'></head><body><p>"
          + POLISH + "</p></body></html>").encode("iso-8859-2")),
        # Header claims UTF-8, bytes are windows-1252 as the <meta> says.
        ("response", "http://a.test/fr", "200 OK", [("Content-Type", "text/html; charset=utf-8")],
         ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
          "</head><body><p>" + FRENCH + "</p></body></html>").encode("cp1252")),
        ("response", "http://a.test/png", "200 OK", [("Content-Type", "text/html")], b"\x89PNG\r\n\x1a\n" + bytes(40)),
        ("response", "http://a.test/bin", "200 OK", [("Content-Type", "application/octet-stream")], bytes(range(256))),
        ("response", "http://a.test/gz", "200 OK",
         [("Content-Type", "text/html"), ("Transfer-Encoding", "chunked"), ("Content-Encoding", "gzip")],
         _chunked(gz_page)),
        ("response", "http://a.test/missing", "404 Not Found", [("Content-Type", "text/html")], PAGE.format("gone").encode()),
        ("response", "http://a.test/short", "200 OK", [("Content-Type", "text/html")], PAGE.format("Hi").encode()),
        ("response", "http://a.test/big", "200 OK", [("Content-Type", "text/html")],
         PAGE.format("word " * 2000).encode()),
        ("resource", "http://a.test/res.html", None, [("Content-Type", "text/html")], PAGE.format("A stored resource page.").encode()),
        ("resource", "http://a.test/log.txt", None, [("Content-Type", "text/plain")], b"wget log"),
    ])
    return path


def test_synthetic_records_charsets_sniffing_and_codings(synthetic_warc: Path):
    docs, skips = read_all(str(synthetic_warc))
    by_url = {d["url"]: d for d in docs}
    assert sorted(by_url) == ["http://a.test/big", "http://a.test/fr", "http://a.test/gz", "http://a.test/pl",
                              "http://a.test/res.html", "http://a.test/ru", "http://a.test/short"]
    assert dict(skips) == {"content_not_html": 2, "http_status_404": 1, "resource_not_html": 1}

    ru, pl, fr = by_url["http://a.test/ru"], by_url["http://a.test/pl"], by_url["http://a.test/fr"]
    assert (ru["text"], ru["meta"]["charset"], ru["meta"]["charset_source"]) == (RUSSIAN, "cp1251", "http")
    assert (pl["text"], pl["meta"]["charset"], pl["meta"]["charset_source"]) == (POLISH, "iso8859-2", "meta")
    assert pl["meta"]["html_sniffed"] is True and pl["meta"]["content_type"] is None
    assert (fr["text"], fr["meta"]["charset"], fr["meta"]["charset_source"]) == (FRENCH, "cp1252", "meta")
    assert by_url["http://a.test/gz"]["text"] == "Chunked and gzipped page body text."
    resource = by_url["http://a.test/res.html"]
    assert resource["text"] == "A stored resource page."
    assert "http_status" not in resource["meta"] and resource["meta"]["warc_type"] == "resource"


def test_size_and_length_limits(synthetic_warc: Path):
    docs, skips = read_all(str(synthetic_warc), Options(min_text_chars=10, max_payload_bytes=4096))
    urls = {d["url"] for d in docs}
    assert "http://a.test/short" not in urls and "http://a.test/big" not in urls
    assert skips["short_text"] == 1
    assert skips["payload_too_large"] == 1
    assert len(docs) == 5


def test_trafilatura_extractor_on_the_synthetic_and_real_files(synthetic_warc: Path, shared_data: Path):
    options = Options(extractor="trafilatura")
    docs, skips = read_all(str(synthetic_warc), options)
    by_url = {d["url"]: d["text"] for d in docs}
    assert by_url["http://a.test/ru"] == RUSSIAN
    assert by_url["http://a.test/fr"] == FRENCH
    assert all(d["meta"]["extractor"] == "trafilatura" for d in docs)
    # Real pages: still every HTML 200 response is a document or counted as empty. trafilatura 2.3.1
    # (what users get) finds no main text on one cc-sample page, a video page
    # (http://096355.com/video/11073.html?11073-0-2) that 1.11.0 kept: 15 documents there, was 16.
    for name, html_200, num_docs in (("resiliparse_cc-sample_warcfile.warc.gz", 16, 15),
                                     ("dolma_sample-0000.warc.gz", 22, 22),
                                     ("resiliparse_clueweb-quirk.warc.gz", 29, 29)):
        docs, skips = read_all(str(shared_data / "web/warc-real" / name), options)
        assert len(docs) + skips["empty_text"] == html_200
        assert len(docs) == num_docs


def test_options_reject_unknown_keys_and_are_frozen():
    with pytest.raises(pydantic.ValidationError, match="extra"):
        Options(extractr="trafilatura")
    with pytest.raises(pydantic.ValidationError):
        Options(extractor="readability")
    options = Options()
    with pytest.raises(pydantic.ValidationError):
        options.min_text_chars = 5
    assert (options.extractor, options.min_text_chars, options.max_payload_bytes) == ("resiliparse", 1, 5 * 1024 * 1024)


def test_uncompressed_warc_gives_the_same_pages(shared_data: Path, tmp_path: Path):
    source = shared_data / "web/warc-real/dolma_sample-0001.warc.gz"
    plain = tmp_path / "sample.warc"
    plain.write_bytes(gzip.decompress(source.read_bytes()))
    compressed_docs, _ = read_all(str(source))
    plain_docs, skips = read_all(str(plain))
    assert [(d["url"], d["text"]) for d in plain_docs] == [(d["url"], d["text"]) for d in compressed_docs]
    assert len(plain_docs) == 15 and skips["warc_request"] == 15
