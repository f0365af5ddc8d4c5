"""JSON records from a file, decompressed chunk by chunk (gzip / zstd / bz2 / xz told by magic
bytes), so a cut stream yields every complete line first and then exactly one counted error, the
same for every codec (see corpora/records.py for the formats and skip reasons)."""
from __future__ import annotations

import bz2
import itertools
import json
import lzma
import zlib
from typing import Any, Callable, Iterator

import fsspec
import orjson
import zstandard

from corpora.archive_compression import BoundedDecoder, sniff_compression, zstd_decompressor
from corpora.record_values import clean_str
from corpora.schema import InputError, SkipCounter


CHUNK_BYTES = 1 << 20


def _gzip_decompressor():
    return zlib.decompressobj(wbits=47)  # 32 + 15: accept gzip or zlib headers


def _zstd_decompressor():
    return zstd_decompressor().decompressobj()  # the long window allowed


# suffix -> (codec, decoder factory); the decoders by the codec sniff_compression names (no lz4 here).
DECOMPRESSORS: dict[str, tuple[str, Callable[[], Any]]] = {
    ".gz": ("gzip", _gzip_decompressor),
    ".gzip": ("gzip", _gzip_decompressor),
    ".bz2": ("bzip2", bz2.BZ2Decompressor),
    ".xz": ("xz", lzma.LZMADecompressor),
    ".lzma": ("xz", lzma.LZMADecompressor),
    ".zst": ("zstd", _zstd_decompressor),
    ".zstd": ("zstd", _zstd_decompressor),
}
SUFFIX_OF_CODEC = {"gzip": ".gz", "zstd": ".zst", "bzip2": ".bz2", "xz": ".xz"}
_CODEC_ERRORS = (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError, zstandard.ZstdError)
# A decompression bomb: more than this many plain bytes per compressed byte read (real JSON Lines
# compress 3-10:1; gzip tops out near 1,000:1, bzip2 / xz / zstd go far beyond) once past
# RATIO_FLOOR_BYTES, so a small very repetitive file is not taken for one.
DEFAULT_MAX_DECOMPRESSION_RATIO = 100.0
RATIO_FLOOR_BYTES = 64 << 20
# Pieces smaller than this are joined before they go on (a zstd piece is often ~100 bytes).
_JOIN_BYTES = 64 << 10


def compression_suffix(path: str) -> str | None:
    """The compression the file name says (case-insensitive), or None."""
    lowered = path.lower()
    for suffix in DECOMPRESSORS:
        if lowered.endswith(suffix):
            return suffix
    return None


def _peek(chunks: Iterator[bytes | None], size: int) -> tuple[bytes, Iterator[bytes | None]]:
    """The first `size` bytes (fewer at the end or at a None) and the unchanged stream."""
    head: list[bytes] = []
    num_bytes = 0
    for chunk in chunks:
        head.append(chunk)
        if chunk is None:
            break
        num_bytes += len(chunk)
        if num_bytes >= size:
            break
    data = b"".join(c for c in head if c)
    return data[:size], itertools.chain(head, chunks)


def _decompress(chunks: Iterator[bytes | None], suffix: str, skips: SkipCounter,
                max_ratio: float | None = DEFAULT_MAX_DECOMPRESSION_RATIO):
    """Plain bytes in pieces of at most 1 MiB (zstd ~8 MiB; BoundedDecoder), whatever the ratio; past
    `max_ratio` plain bytes per compressed byte (and RATIO_FLOOR_BYTES) the stream ends there,
    counted `error:decompression_bomb` (None: no ratio limit)."""
    codec, factory = DECOMPRESSORS[suffix]
    decoder = BoundedDecoder(codec, factory)
    num_in = num_out = 0
    joined: list[bytes] = []
    num_joined = 0
    for chunk in chunks:
        if chunk is None:  # the layer below was cut: its loss is counted there
            yield from _joined(joined)
            yield None
            return
        num_in += len(chunk)
        try:
            while chunk:
                if decoder.eof:  # the previous member ended: the next one starts here
                    if not chunk.strip(b"\x00"):  # zero padding after the last member
                        break
                    decoder = BoundedDecoder(codec, factory)
                for piece in decoder.pieces(chunk):
                    num_out += len(piece)
                    if max_ratio and num_out > RATIO_FLOOR_BYTES and num_out > max_ratio * num_in:
                        skips.skip("error:decompression_bomb")
                        yield from _joined(joined)
                        yield None
                        return
                    joined.append(piece)
                    num_joined += len(piece)
                    if num_joined >= _JOIN_BYTES:
                        yield b"".join(joined)
                        joined, num_joined = [], 0
                chunk = decoder.unused_data if decoder.eof else b""
        except _CODEC_ERRORS:
            skips.skip("error:bad_compression")
            yield from _joined(joined)
            yield None
            return
    yield from _joined(joined)
    if not decoder.eof:
        skips.skip("error:truncated")
        yield None


def _joined(pieces: list[bytes]) -> Iterator[bytes]:
    if pieces:
        yield b"".join(pieces)


def plain_chunks(raw, path: str, skips: SkipCounter,
                 max_ratio: float | None = DEFAULT_MAX_DECOMPRESSION_RATIO) -> Iterator[bytes | None]:
    """Plain bytes of a possibly (multiply) compressed stream, codec by magic bytes; a None
    marks a broken stream (already counted) after its last decodable byte."""
    chunks: Iterator[bytes | None] = iter(lambda: raw.read(CHUNK_BYTES), b"")
    head, chunks = _peek(chunks, 6)
    if not head:
        skips.skip("empty_file")
        return iter(())
    suffix = None
    for _ in range(4):  # a doubly compressed `.gz.gz` is unwrapped layer by layer
        suffix = SUFFIX_OF_CODEC.get(sniff_compression(head))
        if suffix is None:
            break
        head, chunks = _peek(_decompress(chunks, suffix, skips, max_ratio), 6)
    if suffix is None and head and compression_suffix(path) == ".lzma":  # no magic bytes
        head, chunks = _peek(_decompress(chunks, ".lzma", skips, max_ratio), 6)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{path} is UTF-16 text; convert it to UTF-8 (iconv -f UTF-16 -t UTF-8)")
    return chunks


# --------------------------------------------------------------------------- JSON


def _loads(line: bytes) -> Any:
    """orjson, else the lenient stdlib parser: NaN/Infinity, lone surrogate escapes, invalid
    UTF-8 bytes (replaced by U+FFFD), integers beyond 64 bits. Raises ValueError if neither."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return _clean_strings(json.loads(line.decode("utf-8", "replace")))


def _clean_strings(value: Any) -> Any:
    if type(value) is str:
        return clean_str(value)
    if type(value) is dict:
        return {key: _clean_strings(item) for key, item in value.items()}
    if type(value) is list:
        return [_clean_strings(item) for item in value]
    return value


# A line longer than this is one record too large to hold: skipped as `record_too_large` while it
# streams past, never joined in memory (a 100 MB single-line file costs one chunk, not 100 MB).
MAX_LINE_BYTES = 64 << 20
TOO_LARGE = b""  # stands for a skipped over-long line in `_lines` (an empty line is no record)


def _lines(chunks: Iterator[bytes | None], max_line_bytes: int = MAX_LINE_BYTES,
           skips: SkipCounter | None = None) -> Iterator[tuple[int, bytes, bool]]:
    """(0-based line number, line without its newline, terminated?) for every line; the partial
    last line of a broken stream is dropped (its loss is the counted error). A line over
    `max_line_bytes` is counted `record_too_large` in `skips` and yielded as an empty line."""
    line_number = 0
    pending: list[bytes] = []  # pieces of the line in progress (a line may span many chunks)
    num_pending = 0
    too_large = False  # the line in progress is over the limit: its bytes are dropped
    for data in chunks:
        if data is None:
            return
        if b"\n" not in data:
            num_pending += len(data)
            if num_pending > max_line_bytes:
                too_large, pending = True, []
            elif not too_large:
                pending.append(data)
            continue
        lines = data.split(b"\n")
        if too_large or num_pending + len(lines[0]) > max_line_bytes:
            if skips is not None:
                skips.skip("record_too_large")
            lines[0] = TOO_LARGE
        else:
            pending.append(lines[0])
            lines[0] = b"".join(pending)
        pending = [lines.pop()]
        num_pending, too_large = len(pending[0]), False
        for line in lines:
            if len(line) > max_line_bytes:  # a long line within one chunk (chunks may be large)
                if skips is not None:
                    skips.skip("record_too_large")
                line = TOO_LARGE
            yield line_number, line, True
            line_number += 1
    if too_large:
        if skips is not None:
            skips.skip("record_too_large")
        return
    tail = b"".join(pending)
    if tail:
        yield line_number, tail, False


_BOM = b"\xef\xbb\xbf"


def _strip_bom(chunks: Iterator[bytes | None]) -> Iterator[bytes | None]:
    head, chunks = _peek(chunks, 3)
    return _drop_bytes(chunks, 3) if head == _BOM else chunks


def _drop_bytes(chunks: Iterator[bytes | None], count: int) -> Iterator[bytes | None]:
    for chunk in chunks:
        if count > 0 and chunk:
            chunk, count = chunk[count:], count - len(chunk)
        yield chunk


def iter_json_records(path: str, skips: SkipCounter, max_line_bytes: int = MAX_LINE_BYTES,
                      max_ratio: float | None = DEFAULT_MAX_DECOMPRESSION_RATIO) -> Iterator[tuple[int, Any]]:
    """(record number, decoded JSON value): line numbers for JSON Lines, indexes for a JSON
    array file. Blank lines are not records; bad JSON is counted, the rest kept. Memory stays
    bounded by `max_line_bytes` plus one decoder piece (1-8 MiB) whatever the compression ratio,
    and a stream past `max_ratio` stops there, counted (see _decompress). A JSON array file is
    the exception: it is held whole (at most `max_ratio` times its compressed size)."""
    with fsspec.open(path, "rb") as raw:
        chunks = _strip_bom(plain_chunks(raw, path, skips, max_ratio))
        head, chunks = _peek_non_space(chunks)
        if head == b"[":
            yield from _array_records(chunks, skips)
        else:
            yield from _line_records(chunks, skips, max_line_bytes)


def _line_records(chunks: Iterator[bytes | None], skips: SkipCounter, max_line_bytes: int = MAX_LINE_BYTES):
    for line_number, line, terminated in _lines(chunks, max_line_bytes, skips):
        if not line.strip():
            continue
        try:
            value = _loads(line)
        except ValueError:  # orjson.JSONDecodeError and json's are ValueErrors
            skips.skip("error:bad_json" if terminated else "error:truncated")
            continue
        yield line_number, value


def _peek_non_space(chunks: Iterator[bytes | None]) -> tuple[bytes, Iterator[bytes | None]]:
    """The first non-whitespace byte of the stream (b"" if none) and the unchanged stream."""
    seen: list[bytes | None] = []
    for chunk in chunks:
        seen.append(chunk)
        if chunk is None:
            break
        stripped = chunk.lstrip()
        if stripped:
            return stripped[:1], itertools.chain(seen, chunks)
    return b"", itertools.chain(seen, chunks)


def _array_records(chunks: Iterator[bytes | None], skips: SkipCounter):
    """One JSON array of records, parsed whole. If it does not parse, it was JSON Lines whose
    first line is a list (or a cut array): the same bytes are read line by line."""
    pieces = list(chunks)
    data = b"".join(p for p in pieces if p is not None)
    try:
        records = _loads(data) if pieces[-1:] != [None] else None
    except ValueError:
        records = None
    if type(records) is list:
        yield from enumerate(records)
    else:
        yield from _line_records(iter(pieces), skips)
