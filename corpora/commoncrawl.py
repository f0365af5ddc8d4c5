"""Web archives -> documents: WARC / WARC.gz (Common Crawl or any crawler), WET, and legacy ARC.

What becomes a document:
- `response` records with an HTTP 200 status whose payload is HTML: the Content-Type says html,
  or (header missing or lying) the payload itself starts like an HTML document. The main text is
  extracted with resiliparse (default) or trafilatura.
- `resource` records that are HTML (same test on the WARC Content-Type / payload): some crawlers
  (browser-based archivers, file imports) store pages that way, without an HTTP envelope.
- WET `conversion` records: already text, taken as is.

Everything else is counted in `skips` by a stable reason code, never dropped silently:
`warc_warcinfo`, `warc_request`, `warc_metadata`, `warc_revisit`, `warc_continuation`,
`warc_other` (record types); `response_not_http` (dns:, whois: ...); `http_status_<code>`
(e.g. `http_status_404`; only 200 is kept: redirects and errors carry boilerplate, not content);
`resource_not_html`, `content_not_html`; `payload_too_large`; `html_too_deep`; `empty_text`, `short_text`;
`error:clipped_record`, `error:corrupt_stream`, `error:truncated_stream`, `error:empty_file`
(see corpora.warc_records); `error:<Exception>` when an extractor fails on one page.

Inputs: plain or gzip / zstd / lz4 / bzip2 / xz compressed, one record per member or the whole
file as one stream, told from the bytes (not the name); local paths or fsspec URLs. A file that
holds no WARC/ARC record at all raises ValueError naming the file.
"""
from __future__ import annotations

import re
import zlib
from typing import Any, Iterator, Literal

from pydantic import Field

from corpora.html_text import HtmlTooDeep, decode_html, extract_main_text, looks_like_html
from corpora.schema import SkipCounter, Strict, make_doc_id
from corpora.warc_records import ArchiveRecord, iter_archive_records

_SKIPPED_TYPES = {
    "warcinfo": "warc_warcinfo",
    "request": "warc_request",
    "metadata": "warc_metadata",
    "revisit": "warc_revisit",
    "continuation": "warc_continuation",
}
# Formats that are never HTML, whatever the header says (servers label images as text/html).
_BINARY_MAGIC = (b"%PDF-", b"\x89PNG", b"GIF87a", b"GIF89a", b"\xff\xd8\xff", b"PK\x03\x04", b"\x1f\x8b")


class Options(Strict):
    """Options of a `commoncrawl` source in recipe.yaml."""


    extractor: Literal["resiliparse", "trafilatura"] = "resiliparse"
    # 1 = keep every page with any text. Length/quality thresholds belong to the filter stage,
    # which annotates first and drops by threshold, so they can change without re-extracting.
    min_text_chars: int = Field(default=1, ge=1)
    # HTML payloads above this size are skipped (counted) before being read: they are almost
    # never prose, and trafilatura's run time grows faster than linearly with page size.
    # Common Crawl itself truncates payloads at 1 MiB (older crawls) to 5 MiB.
    max_payload_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    # Accept 200 responses whose Content-Type is missing or not html when the payload starts
    # like an HTML document.
    sniff_html: bool = True


def iter_documents(
    path: str, *, source: str, file_key: str, options: Options, skips: SkipCounter
) -> Iterator[dict[str, Any]]:
    """Documents of one WARC / WET / ARC file (local path or fsspec URL); see the module doc."""

    def select(record: ArchiveRecord) -> str | None:
        rtype = record.record_type
        if rtype in _SKIPPED_TYPES:
            return _SKIPPED_TYPES[rtype]
        if rtype == "response":
            if record.http_status is None:
                return "response_not_http"
            if record.http_status != 200:
                return f"http_status_{record.http_status}"
        elif rtype not in ("resource", "conversion"):
            return "warc_other"
        if (record.declared_payload_bytes or 0) > options.max_payload_bytes:
            return "payload_too_large"
        return None

    for record in iter_archive_records(path, select=select, skips=skips):
        try:
            text, meta = record_to_document(record, options)
        except SkipRecord as skip:
            skips.skip(skip.reason)
            continue
        except Exception as exc:  # noqa: BLE001 - one bad page never ends the file
            skips.skip(f"error:{type(exc).__name__}")
            continue
        yield {
            "id": make_doc_id(source, file_key, record.offset),
            "text": text,
            "url": target_uri(record),
            "meta": meta,
        }


class SkipRecord(Exception):
    """A record that is not a document; `reason` is its stable skip code."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def record_to_document(record: ArchiveRecord, options: Options) -> tuple[str, dict[str, Any]]:
    """Text and meta of one selected record (payload read), or SkipRecord(reason)."""
    if record.record_type == "conversion":  # WET: the crawler already extracted the text
        text = record.payload.decode("utf-8", errors="replace").strip()
        meta = _base_meta(record)
        meta["content_type"] = record.headers.get("Content-Type")
        if refers_to := record.headers.get("WARC-Refers-To"):
            meta["warc_refers_to"] = refers_to
    else:
        text, meta = _html_document(record, options)
    if not text:
        raise SkipRecord("empty_text")
    if len(text) < options.min_text_chars:
        raise SkipRecord("short_text")
    return text, meta


def _html_document(record: ArchiveRecord, options: Options) -> tuple[str, dict[str, Any]]:
    if record.http_headers is not None:
        content_type = record.http_headers.get("content-type", "")
        try:
            body = decode_http_body(record.payload, record.http_headers, options.max_payload_bytes)
        except PayloadTooLarge:
            raise SkipRecord("payload_too_large") from None
    else:  # resource record: the WARC Content-Type describes the payload itself
        content_type = record.headers.get("Content-Type", "")
        body = record.payload

    sniffed = False
    if body.startswith(_BINARY_MAGIC):
        is_html = False
    elif "html" in content_type.lower():
        is_html = True
    else:
        is_html = sniffed = options.sniff_html and looks_like_html(body)
    if not is_html:
        raise SkipRecord("resource_not_html" if record.record_type == "resource" else "content_not_html")

    decoded = decode_html(body, content_type)
    try:
        text = extract_main_text(decoded.html, options.extractor, target_uri(record))
    except HtmlTooDeep:
        raise SkipRecord("html_too_deep") from None

    meta = _base_meta(record)
    meta.update(
        content_type=content_type or None,
        charset=decoded.charset,
        charset_source=decoded.charset_source,
        extractor=options.extractor,
    )
    if record.http_status is not None:
        meta["http_status"] = record.http_status
    if sniffed:
        meta["html_sniffed"] = True
    if truncated := record.headers.get("WARC-Truncated"):
        meta["warc_truncated"] = truncated  # crawler cut the payload (e.g. CC at 1 MiB)
    return text, meta


def target_uri(record: ArchiveRecord) -> str | None:
    """WARC-Target-URI without the angle brackets some writers (wget, WARC/1.0 examples) add."""
    uri = record.headers.get("WARC-Target-URI")
    if uri is None:
        return None
    uri = uri.strip()
    return uri[1:-1] if uri.startswith("<") and uri.endswith(">") else uri


def _base_meta(record: ArchiveRecord) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "warc_type": record.record_type,
        "warc_date": record.headers.get("WARC-Date"),
        "record_offset": record.offset,
    }
    if record_id := record.headers.get("WARC-Record-ID"):  # absent for ARC records
        meta["warc_record_id"] = record_id
    if language := record.headers.get("WARC-Identified-Content-Language"):
        meta["warc_language"] = language
    return meta


# ---- HTTP payload decoding ------------------------------------------------------------------------


_CHUNK_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]+)[ \t]*(?:;[^\r\n]*)?\r?\n")


class PayloadTooLarge(Exception):
    pass


def decode_http_body(body: bytes, http_headers: dict[str, str], max_bytes: int) -> bytes:
    """Undo chunked transfer coding and gzip/deflate/zstd/br content coding where the bytes
    really carry them; keep the raw bytes when a header lies (common in old crawls)."""
    if "chunked" in http_headers.get("transfer-encoding", "").lower():
        body = _dechunk(body)
    coding = http_headers.get("content-encoding", "").strip().lower()
    if coding in ("gzip", "x-gzip", "deflate", "zstd", "br"):
        body = _decompress(body, coding, max_bytes)
    if len(body) > max_bytes:
        raise PayloadTooLarge(len(body))
    return body


def _dechunk(body: bytes) -> bytes:
    parts: list[bytes] = []
    position = 0
    while position < len(body):
        match = _CHUNK_SIZE_LINE.match(body, position)
        if match is None:
            # Not chunked at all (the writer already removed the coding) or damaged after the
            # first chunks: keep what we have plus the rest as is.
            return body if not parts else b"".join(parts) + body[position:]
        size = int(match.group(1), 16)
        if size == 0:
            break
        start = match.end()
        parts.append(body[start : start + size])
        position = start + size
        if body.startswith(b"\r\n", position):
            position += 2
        elif body.startswith(b"\n", position):
            position += 1
    return b"".join(parts)


def _decompress(body: bytes, coding: str, max_bytes: int) -> bytes:
    try:
        if coding in ("gzip", "x-gzip") and body.startswith(b"\x1f\x8b"):
            return _zlib_decompress(body, 16 + zlib.MAX_WBITS, max_bytes)
        if coding == "deflate" and body:
            try:
                return _zlib_decompress(body, zlib.MAX_WBITS, max_bytes)
            except zlib.error:
                return _zlib_decompress(body, -zlib.MAX_WBITS, max_bytes)  # raw deflate
        if coding == "zstd" and body.startswith(b"\x28\xb5\x2f\xfd"):
            import zstandard

            reader = zstandard.ZstdDecompressor().stream_reader(body)
            out = reader.read(max_bytes + 1)
            if len(out) > max_bytes:
                raise PayloadTooLarge(len(out))
            return out
        if coding == "br":
            import brotli  # optional; ImportError -> raw bytes below

            return brotli.decompress(body)
    except PayloadTooLarge:
        raise
    except Exception:  # noqa: BLE001 - header says compressed, bytes are not: keep them raw
        return body
    return body


def _zlib_decompress(body: bytes, wbits: int, max_bytes: int) -> bytes:
    decompressor = zlib.decompressobj(wbits)
    out = decompressor.decompress(body, max_bytes + 1)
    if len(out) > max_bytes:
        raise PayloadTooLarge(len(out))
    return out
