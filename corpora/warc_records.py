"""WARC / ARC records as plain values, with clipped-record detection and resync after damage.

FastWARC reads WARC (also WET/WAT; gzip, zstd, lz4 or plain; ~850 MB/s of records here). It
does not read ARC, so ARC goes through warcio (`arc2warc=True`). Both paths yield the same
`ArchiveRecord`, so the document policy in `corpora.commoncrawl` never sees which library read
the file.

Damage handling, so one bad spot never costs the rest of a file:
- a record whose payload ends before its declared length (a clipped file, a truncated gzip
  stream) is counted as `error:clipped_record` and not yielded;
- a decompression or parse error mid-file is counted as `error:corrupt_stream`; reading resumes
  at the next gzip member (or `WARC/` line) that starts a readable record.
"""
from __future__ import annotations

import contextlib
import io
import re
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator, Literal

import fsspec

from corpora.schema import SkipCounter

ArchiveFormat = Literal["warc", "arc"]

_GZIP_MAGIC = b"\x1f\x8b\x08"
# Uncompressed files: a record starts after the blank line that ends the previous one.
_WARC_START = re.compile(rb"\r?\n\r?\n(WARC/\d\.\d+\r?\n)")
_ARC_HEADER_LINE = re.compile(rb"\S+ \S+ \d{14} ")  # "url ip yyyymmddhhmmss mime length"
_RESYNC_CHUNK_BYTES = 1 << 20
_CHUNK_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]+)[ \t]*(?:;[^\r\n]*)?\r?\n")


@dataclass(slots=True)
class ArchiveRecord:
    record_type: str  # WARC-Type, lower case: response, resource, conversion, revisit, ...
    headers: dict[str, str]  # WARC headers as written (ARC: as warcio converts them)
    http_status: int | None = None  # None for records without an HTTP envelope
    http_headers: dict[str, str] | None = None  # lower-cased names, first value wins
    declared_payload_bytes: int | None = None  # what the record says its payload (body) holds
    payload: bytes = b""  # raw payload, read only for records the selector accepted
    offset: int = -1  # byte offset of the record in the (compressed) file; set once read


# A selector sees a record before its payload is read and returns a skip reason, or None to keep.
RecordSelector = Callable[[ArchiveRecord], "str | None"]


def archive_format(path: str) -> ArchiveFormat:
    name = path.lower().rstrip("/")
    for suffix in (".gz", ".zst", ".lz4"):
        name = name.removesuffix(suffix)
    return "arc" if name.endswith(".arc") else "warc"


def iter_archive_records(
    path: str, *, select: RecordSelector, skips: SkipCounter, fmt: ArchiveFormat | None = None
) -> Iterator[ArchiveRecord]:
    """Records of one archive that `select` keeps, payload read; never raises on bad data."""
    fmt = fmt or archive_format(path)
    read_from = _read_arc_records if fmt == "arc" else _read_warc_records
    with fsspec.open(path, "rb") as stream:
        start = 0
        while True:
            last_offset = [start - 1]  # updated by the reader: offset of the last record seen
            try:
                yield from read_from(stream, start, select, skips, last_offset)
            except Exception:  # noqa: BLE001 - any decoder/parser failure means damaged bytes
                pass
            # Whether the reader raised or stopped quietly (warcio ends iteration on a broken
            # gzip member), a readable record after the last one seen means bytes were lost.
            # Searching strictly past both the restart point and the last record seen means a
            # record that fails again at the same place cannot loop forever.
            resume = _find_next_record_start(stream, max(last_offset[0], start) + 1, fmt)
            if resume is None:
                return
            # Resuming lands on the damaged member first when its header still decompresses;
            # failing there again, before any record past it, is the same damage: count once.
            if start == 0 or last_offset[0] > start:
                skips.skip("error:corrupt_stream")
            start = resume


def _read_warc_records(
    stream: BinaryIO, start: int, select: RecordSelector, skips: SkipCounter, last_offset: list[int]
) -> Iterator[ArchiveRecord]:
    from fastwarc.warc import ArchiveIterator

    stream.seek(start)
    # quirks_mode: ClueWeb-style HTTP headers ended by bare "\n" otherwise swallow the page.
    # auto_decode stays off: a lying `Content-Encoding: gzip` would abort the whole file there;
    # decode_http_body below falls back to the raw bytes instead.
    for rec in ArchiveIterator(stream, parse_http=True, quirks_mode=True, fsspec_args=False):
        last_offset[0] = rec.stream_pos  # absolute: fastwarc counts from the stream's tell()
        headers = dict(rec.headers)
        record = ArchiveRecord(
            record_type=headers.get("WARC-Type", "").lower(), headers=headers, offset=rec.stream_pos
        )
        if rec.is_http and rec.http_headers is not None:
            record.http_status = rec.http_headers.status_code
            record.http_headers = _lower_keys(rec.http_headers.items())
        record.declared_payload_bytes = rec.content_length
        reason = select(record)
        if reason is not None:
            skips.skip(reason)
            continue
        record.payload = rec.reader.read()
        if len(record.payload) < rec.content_length:
            skips.skip("error:clipped_record")
            continue
        yield record


def _read_arc_records(
    stream: BinaryIO, start: int, select: RecordSelector, skips: SkipCounter, last_offset: list[int]
) -> Iterator[ArchiveRecord]:
    from warcio.archiveiterator import ArchiveIterator

    stream.seek(start)
    iterator = ArchiveIterator(stream, arc2warc=True)
    records = iter(iterator)
    while True:
        # warcio reports a broken gzip member on stderr once per 16 KiB block, then stops;
        # the damage is counted by the caller instead.
        with _quiet_stderr():
            rec = next(records, None)
        if rec is None:
            return
        headers = dict(rec.rec_headers.headers)
        # warcio invents a random WARC-Record-ID for every ARC record: not provenance, and it
        # would make reruns differ, so it is dropped (the record offset identifies the record).
        headers.pop("WARC-Record-ID", None)
        record = ArchiveRecord(record_type=rec.rec_type.lower(), headers=headers)
        if rec.http_headers is not None and rec.http_headers.protocol.upper().startswith("HTTP"):
            try:
                record.http_status = int(rec.http_headers.get_statuscode())
            except ValueError:
                record.http_status = -1
            record.http_headers = _lower_keys(rec.http_headers.headers)
        record.declared_payload_bytes = rec.length  # upper bound: includes the HTTP headers
        reason = select(record)
        with _quiet_stderr():
            payload = rec.raw_stream.read() if reason is None else b""
            clipped = getattr(rec.raw_stream, "limit", 0) > 0
            # warcio knows a record's offset (absolute: it starts from the stream's tell())
            # only once it has read to the record's end.
            record.offset = iterator.get_record_offset()
        last_offset[0] = record.offset
        if reason is not None:
            skips.skip(reason)
            continue
        if clipped:
            skips.skip("error:clipped_record")
            continue
        record.payload = payload
        yield record


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    with contextlib.redirect_stderr(io.StringIO()):
        yield


def _lower_keys(items) -> dict[str, str]:
    result: dict[str, str] = {}
    for name, value in items:
        result.setdefault(name.lower(), value)
    return result


def _find_next_record_start(stream: BinaryIO, position: int, fmt: ArchiveFormat) -> int | None:
    """Offset of the next gzip member (or uncompressed `WARC/` line) at or after `position` that
    begins a record, or None at end of file."""
    stream.seek(0)
    compressed = stream.read(2) == _GZIP_MAGIC[:2]
    while True:
        stream.seek(position)
        window = stream.read(_RESYNC_CHUNK_BYTES + 16)
        if not window:
            return None
        if compressed:
            hit = window.find(_GZIP_MAGIC)
            while hit != -1 and not _member_starts_record(stream, position + hit, fmt):
                hit = window.find(_GZIP_MAGIC, hit + 1)
        else:
            match = _WARC_START.search(window)
            hit = match.start(1) if match else -1
        if hit != -1:
            return position + hit
        if len(window) <= 16:
            return None
        position += len(window) - 16  # overlap so a marker across the boundary is not missed


def _member_starts_record(stream: BinaryIO, offset: int, fmt: ArchiveFormat) -> bool:
    stream.seek(offset)  # read from the file: the member may run past the search window
    try:
        head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(stream.read(16384), 4096)
    except zlib.error:
        return False
    if fmt == "warc":
        return head.startswith(b"WARC/")
    return _ARC_HEADER_LINE.match(head) is not None


# ---- HTTP payload decoding -------------------------------------------------------------------


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
