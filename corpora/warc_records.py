"""WARC / ARC records as plain values, with clipped-record detection and resync after damage.

FastWARC reads WARC (also WET/WAT; gzip, zstd, lz4 or plain; ~850 MB/s of records here). It
does not read ARC, so ARC goes through warcio (`arc2warc=True`). Both paths yield the same
`ArchiveRecord`, so the document policy in `corpora.commoncrawl` never sees which library read
the file.

Compression is told from the first bytes, never from the name. Files with one record per gzip
member / zstd frame (the norm: Common Crawl, Heritrix, wget, warcio; zstd with the WARC-zstd
dictionary frame too) and plain files are read natively; record offsets are file offsets.
Files compressed as one stream (`gzip file.warc`), bzip2 and xz files are read through a
decompressing stream; record offsets are then offsets in the decompressed bytes (the only ones
that differ per record). An empty file is counted as `error:empty_file`; a file that holds no
record at all raises ValueError (it is not an archive: a path list, an index, an error page).

Damage handling, so one bad spot never costs the rest of a file:
- a record whose payload ends before its declared length (a clipped file, a truncated gzip
  stream) is counted as `error:clipped_record` and not yielded;
- a decompression or parse error mid-file is counted as `error:corrupt_stream`; reading resumes
  at the next gzip member (or `WARC/` line) that starts a readable record. In a single-stream
  file nothing after the damage can be found again: what precedes it is kept;
- a single-stream file cut between two records is counted as `error:truncated_stream`.
"""
from __future__ import annotations

import contextlib
import io
import re
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator, Literal

import fsspec

from corpora.archive_compression import (
    GZIP_MAGIC,
    Compression,
    DecompressingReader,
    decompressed_head,
    sniff_compression,
)
from corpora.schema import InputError, SkipCounter

ArchiveFormat = Literal["warc", "arc"]

_COMPRESSION_SUFFIXES = (".gz", ".gzip", ".zst", ".zstd", ".lz4", ".bz2", ".xz")
# The first bytes read to tell compression, format and member layout (first record's length).
_PROBE_BYTES = 1 << 20
# Uncompressed files: a record starts after the blank line that ends the previous one.
_WARC_START = re.compile(rb"\r?\n\r?\n(WARC/\d\.\d+\r?\n)")
_ARC_HEADER_LINE = re.compile(rb"\S+ \S+ \d{14} ")  # "url ip yyyymmddhhmmss mime length"
_RESYNC_CHUNK_BYTES = 1 << 20


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
    """WARC or ARC, by file name (the content decides where its first bytes tell)."""
    name = path.lower().rstrip("/")
    for suffix in _COMPRESSION_SUFFIXES:
        name = name.removesuffix(suffix)
    return "arc" if name.endswith(".arc") else "warc"


def iter_archive_records(
    path: str, *, select: RecordSelector, skips: SkipCounter, fmt: ArchiveFormat | None = None
) -> Iterator[ArchiveRecord]:
    """Records of one archive that `select` keeps, payload read; never raises on damaged data.

    Raises ValueError only for a non-empty file that holds no WARC/ARC record at all and is not
    damaged (a path list, an index, an HTML error page): a wrong input, not a damaged one.
    """
    with fsspec.open(path, "rb") as stream:
        head = stream.read(_PROBE_BYTES)
        if not head:
            skips.skip("error:empty_file")  # a failed download or write: counted, not fatal
            return
        compression = sniff_compression(head)
        plain_head = decompressed_head(head, compression)
        fmt = fmt or _format_of(plain_head) or archive_format(path)
        state = _ReadState()
        if _needs_decompressed_read(plain_head, compression, fmt):
            yield from _read_decompressed(stream, compression, head, fmt, select, skips, state)
        else:
            try:
                yield from _read_native(stream, fmt, select, skips, state)
            except _LayoutChanged:
                # A later gzip/zstd member holds several records after all: read the rest from
                # the decompressed bytes, past the records already seen.
                yield from _read_decompressed(stream, compression, head, fmt, select, skips, state)
        if state.num_records == 0 and not state.damaged:
            if plain_head is not None and not plain_head.strip():
                skips.skip("error:empty_file")  # e.g. a gzip member of nothing
                return
            raise InputError(
                f"{path}: no WARC or ARC record found (file starts with {head[:24]!r}); web "
                f"sources read WARC/WET/WAT/ARC files, plain or compressed with gzip, zstd, lz4, "
                f"bzip2 or xz; remove this file from the source's `paths` in recipe.yaml"
            )


@dataclass(slots=True)
class _ReadState:
    last_offset: int = -1  # offset of the last record seen (native read: in the file)
    num_records: int = 0  # records seen so far, selected or not
    damaged: bool = False  # a damage was counted


class _LayoutChanged(Exception):
    """Record offsets stopped increasing: members hold several records; read decompressed."""


def _read_native(
    stream: BinaryIO, fmt: ArchiveFormat, select: RecordSelector, skips: SkipCounter, state: _ReadState
) -> Iterator[ArchiveRecord]:
    """fastwarc (WARC) or warcio (ARC) on the file itself: plain, or one record per gzip /
    zstd / lz4 member, so record offsets are member offsets and a damaged member can be skipped."""
    read_from = _read_arc_records if fmt == "arc" else _read_warc_records
    start = 0
    while True:
        seen_before = state.num_records
        try:
            yield from read_from(stream, start, select, skips, state)
        except _LayoutChanged:
            raise
        except Exception as error:  # noqa: BLE001 - any decoder/parser failure: damaged bytes
            if "non-chunked gzip" in str(error):  # warcio on an ARC member of many records
                raise _LayoutChanged() from None
        # Whether the reader raised or stopped quietly (warcio ends iteration on a broken
        # gzip member), a readable record after the last one seen means bytes were lost.
        # Searching strictly past both the restart point and the last record seen means a
        # record that fails again at the same place cannot loop forever.
        resume = _find_next_record_start(stream, max(state.last_offset, start) + 1, fmt)
        if resume is None:
            return
        # Resuming lands on the damaged member first when its header still decompresses;
        # failing there again, before any record past it, is the same damage: count once.
        if start == 0 or state.num_records > seen_before:
            skips.skip("error:corrupt_stream")
            state.damaged = True
        start = resume


def _read_decompressed(
    stream: BinaryIO, compression: Compression, head: bytes, fmt: ArchiveFormat,
    select: RecordSelector, skips: SkipCounter, state: _ReadState,
) -> Iterator[ArchiveRecord]:
    """Read through a decompressing stream: whole-file gzip/zstd (one member for many records),
    bzip2 and xz. Offsets are positions in the decompressed bytes. Damage cannot be skipped in a
    single stream: what comes before it is kept and the damage is counted once."""
    stream.seek(0)
    plain = DecompressingReader(stream, compression, head)
    state.last_offset = -1  # offsets now count decompressed bytes
    read_from = _read_arc_records if fmt == "arc" else _read_warc_records
    clipped_before = skips["error:clipped_record"]
    try:
        yield from read_from(io.BufferedReader(plain, 1 << 16), 0, select, skips, state,
                             skip_first=state.num_records)
    except Exception:  # noqa: BLE001 - a parser failure on the decompressed bytes
        plain.damage = plain.damage or "corrupt"
    if plain.damage == "corrupt":
        skips.skip("error:corrupt_stream")
        state.damaged = True
    elif plain.damage == "truncated":
        state.damaged = True
        if skips["error:clipped_record"] == clipped_before:  # cut between two records
            skips.skip("error:truncated_stream")


def _read_warc_records(
    stream: BinaryIO, start: int, select: RecordSelector, skips: SkipCounter, state: _ReadState,
    skip_first: int = 0,
) -> Iterator[ArchiveRecord]:
    from fastwarc.warc import ArchiveIterator

    if stream.seekable():  # the decompressing stream starts at 0 and cannot seek
        stream.seek(start)
    # quirks_mode: ClueWeb-style HTTP headers ended by bare "\n" otherwise swallow the page.
    # auto_decode stays off: a lying `Content-Encoding: gzip` would abort the whole file there;
    # decode_http_body below falls back to the raw bytes instead.
    for index, rec in enumerate(
        ArchiveIterator(stream, parse_http=True, quirks_mode=True, fsspec_args=False)
    ):
        if index < skip_first:
            continue
        if rec.stream_pos <= state.last_offset:
            # Native reads of compressed files report member offsets; two records at the same
            # one would share a document id.
            raise _LayoutChanged()
        state.last_offset = rec.stream_pos  # absolute: fastwarc counts from the stream's tell()
        state.num_records += 1
        headers = dict(rec.headers)
        record = ArchiveRecord(
            record_type=headers.get("WARC-Type", "").lower(), headers=headers, offset=rec.stream_pos
        )
        block = None  # set when the block had to be read before `select` to parse HTTP
        record.declared_payload_bytes = rec.content_length
        if rec.is_http and rec.http_headers is not None:
            record.http_status = rec.http_headers.status_code
            record.http_headers = _lower_keys(rec.http_headers.items())
        elif record.record_type == "response":
            # No `Content-Type: application/http` on the record (some writers omit it), so
            # fastwarc left the HTTP envelope unparsed: parse it here when there is one.
            block = rec.reader.read()
            if len(block) < rec.content_length:
                skips.skip("error:clipped_record")
                state.damaged = True
                continue
            if parsed := _parse_http_envelope(block):
                record.http_status, record.http_headers, block = parsed
                record.declared_payload_bytes = len(block)
        reason = select(record)
        if reason is not None:
            skips.skip(reason)
            continue
        if block is not None:
            record.payload = block
        else:
            record.payload = rec.reader.read()
            if len(record.payload) < rec.content_length:
                skips.skip("error:clipped_record")
                state.damaged = True
                continue
        yield record


def _parse_http_envelope(block: bytes) -> tuple[int, dict[str, str], bytes] | None:
    """(status, lower-cased headers, body) of an `HTTP/x y ...` block, or None."""
    if not block.startswith(b"HTTP/"):
        return None
    crlf, lf = block.find(b"\r\n\r\n"), block.find(b"\n\n")
    if crlf == -1 and lf == -1:
        return None
    end, sep = (crlf, 4) if lf == -1 or (crlf != -1 and crlf < lf) else (lf, 2)
    lines = block[:end].decode("latin-1").splitlines()
    parts = lines[0].split(None, 2)
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        status = -1
    headers = _lower_keys(
        (name.strip(), value.strip()) for name, _, value in (line.partition(":") for line in lines[1:]) if _
    )
    return status, headers, block[end + sep :]


def _read_arc_records(
    stream: BinaryIO, start: int, select: RecordSelector, skips: SkipCounter, state: _ReadState,
    skip_first: int = 0,
) -> Iterator[ArchiveRecord]:
    from warcio.archiveiterator import ArchiveIterator

    if stream.seekable():
        stream.seek(start)
    iterator = ArchiveIterator(stream, arc2warc=True)
    records = iter(iterator)
    index = -1
    while True:
        # warcio reports a broken gzip member on stderr once per 16 KiB block, then stops;
        # the damage is counted by the caller instead.
        with _quiet_stderr():
            rec = next(records, None)
        if rec is None:
            return
        index += 1
        if index < skip_first:
            continue
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
        state.last_offset = record.offset
        state.num_records += 1
        if reason is not None:
            skips.skip(reason)
            continue
        if clipped:
            skips.skip("error:clipped_record")
            state.damaged = True
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
    compressed = stream.read(2) == GZIP_MAGIC[:2]
    while True:
        stream.seek(position)
        window = stream.read(_RESYNC_CHUNK_BYTES + 16)
        if not window:
            return None
        if compressed:
            hit = window.find(GZIP_MAGIC)
            while hit != -1 and not _member_starts_record(stream, position + hit, fmt):
                hit = window.find(GZIP_MAGIC, hit + 1)
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


# ---- member layout ------------------------------------------------------------------------------


def _format_of(plain_head: bytes | None) -> ArchiveFormat | None:
    if plain_head is None:
        return None
    start = plain_head.lstrip()[:64]
    if start.startswith(b"WARC/"):
        return "warc"
    if start.startswith(b"filedesc://"):
        return "arc"
    return None


def _needs_decompressed_read(plain_head: bytes | None, compression: Compression, fmt: ArchiveFormat) -> bool:
    """True for files the native readers cannot read member by member: bzip2 and xz, and gzip /
    zstd files compressed as one stream (offsets inside it would repeat: two documents, one id;
    warcio refuses such ARC files)."""
    if compression in ("bzip2", "xz"):
        return True
    if compression == "zstd" and fmt == "arc":
        return True  # warcio reads gzip or plain only
    if compression not in ("gzip", "zstd"):
        return False
    if plain_head is None:
        return False  # damaged or unknown: the native read counts and resyncs
    record_end = _first_record_end(plain_head, fmt)
    # Bytes past the first record in the same member: one member holds several records.
    return record_end is not None and bool(plain_head[record_end:].strip(b"\r\n"))


_CONTENT_LENGTH = re.compile(rb"^content-length[ \t]*:[ \t]*(\d+)", re.IGNORECASE | re.MULTILINE)


def _first_record_end(plain: bytes, fmt: ArchiveFormat) -> int | None:
    """End of the first record's block in decompressed bytes, or None when not in `plain`."""
    if fmt == "arc":
        line_end = plain.find(b"\n")
        fields = plain[:line_end].split()
        if line_end == -1 or not fields or not fields[-1].isdigit():
            return None
        return line_end + 1 + int(fields[-1])
    crlf, lf = plain.find(b"\r\n\r\n"), plain.find(b"\n\n")
    if crlf == -1 and lf == -1:
        return None
    end = crlf + 4 if lf == -1 or (crlf != -1 and crlf < lf) else lf + 2
    length = _CONTENT_LENGTH.search(plain, 0, end)
    return end + int(length.group(1)) if length else None


