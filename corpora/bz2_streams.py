"""Byte ranges of multistream bz2 files (Wikipedia's `pages-articles-multistream` dumps).

A multistream dump is many independent bz2 streams concatenated: the first holds the XML header
and <siteinfo>, each later one about 100 whole <page>s, the last the closing tag. So one huge dump
can be read as many tasks: a task owns the byte range [start, end) of the file and reads exactly
the streams that *start* inside it, so every stream belongs to one task, wherever the range
boundaries fall. A single-stream file degrades gracefully: the range holding offset 0 reads all
of it and the others read nothing.
"""
from __future__ import annotations

import bz2
import re
from typing import IO, Iterator

import fsspec

# "BZh" + block-size digit + the first block's magic (pi): where a stream starts.
STREAM_START = re.compile(rb"BZh[1-9]1AY&SY")
_SCAN_BYTES = 1 << 20


def is_bz2(path: str) -> bool:
    with fsspec.open(path, "rb") as raw:
        return raw.read(3) == b"BZh"


def split_ranges(size_bytes: int, target_bytes: int) -> list[tuple[int, int]]:
    """Equal byte ranges covering [0, size): decided from the size alone, so the same every run."""
    count = max(1, -(-size_bytes // target_bytes))
    step = -(-size_bytes // count)
    return [(i * step, min((i + 1) * step, size_bytes)) for i in range(count)]


def _next_stream_start(raw: IO[bytes], offset: int) -> int | None:
    """Offset of the first stream header at or after `offset`, or None."""
    raw.seek(offset)
    carry = b""
    position = offset
    while True:
        block = raw.read(_SCAN_BYTES)
        if not block:
            return None
        data = carry + block
        found = STREAM_START.search(data)
        if found:
            return position - len(carry) + found.start()
        carry = data[-9:]
        position += len(block)


def _decompress_stream(raw: IO[bytes], offset: int, chunk_bytes: int) -> Iterator[bytes]:
    """Decompressed pieces of the stream at `offset`; afterwards `raw.tell()` is at its end.

    Raises EOFError when the file ends inside the stream (a truncated dump).
    """
    raw.seek(offset)
    decompressor = bz2.BZ2Decompressor()
    while not decompressor.eof:
        block = raw.read(chunk_bytes)
        if not block:
            raise EOFError("compressed file ended before the end-of-stream marker was reached")
        piece = decompressor.decompress(block)
        if piece:
            yield piece
    raw.seek(raw.tell() - len(decompressor.unused_data))


def range_chunks(path: str, start: int, end: int, chunk_bytes: int = 1 << 20) -> Iterator[bytes]:
    """The XML a task over [start, end) parses: the dump's header, then the streams that start in
    the range, then a closing tag when the range stops before the end of the file."""
    with fsspec.open(path, "rb") as raw:
        size = raw.seek(0, 2)
        if start > 0:
            # Every task needs <siteinfo> (language, namespaces); only the part before the first
            # <page> of the first stream, in case that stream also holds pages.
            header = b"".join(_decompress_stream(raw, 0, chunk_bytes))
            cut = header.find(b"<page")
            yield header if cut < 0 else header[:cut]
            offset = _next_stream_start(raw, max(start, raw.tell()))
        else:
            offset = 0
        while offset is not None and offset < end:
            yield from _decompress_stream(raw, offset, chunk_bytes)
            offset = raw.tell()
            if offset >= size:
                return  # the file's last stream carries the real closing tag
            if raw.read(3) != b"BZh":
                # Trailing bytes that are no stream: let the parser see them, as a whole-file read would.
                raw.seek(offset)
                yield raw.read()
                return
        yield b"</mediawiki>"  # the file goes on in later ranges: close the document here
