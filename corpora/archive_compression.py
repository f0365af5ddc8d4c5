"""Compressed archives told from their first bytes, and a forgiving decompressing stream.

Names lie (`.warc.gz` files that are plain, `.warc` files that are gzipped, upper-case suffixes),
so compression is sniffed from magic bytes. `DecompressingReader` reads gzip / zstd / bzip2 / xz
files whether they are one stream or many members (zstd with the WARC-zstd dictionary frame too)
and, where the data is cut or corrupt, ends the stream with `damage` set instead of raising, after
every byte decoded before the damage.
"""
from __future__ import annotations

import bz2
import io
import lzma
import zlib
from typing import BinaryIO, Literal

Compression = Literal["gzip", "zstd", "lz4", "bzip2", "xz", "none"]

GZIP_MAGIC = b"\x1f\x8b\x08"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
LZ4_MAGIC = b"\x04\x22\x4d\x18"
_MAGIC_TO_COMPRESSION = (
    (GZIP_MAGIC[:2], "gzip"), (ZSTD_MAGIC, "zstd"), (LZ4_MAGIC, "lz4"),
    (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"),
)

# `zstd --long=31` files need a window of up to 2 GiB; zstandard refuses them by default.
ZSTD_MAX_WINDOW_BYTES = 1 << 31
# Archive names a directory input contributes as tar archives (code and papers sources).
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar.xz", ".txz")


def zstd_decompressor(dictionary: bytes | None = None):
    """The one way corpusmill opens zstd data: the long window allowed, the WARC-zstd dictionary
    when given. Use `.decompressobj()` or `.stream_reader(raw, read_across_frames=True)`."""
    import zstandard

    dict_data = zstandard.ZstdCompressionDict(dictionary) if dictionary else None
    return zstandard.ZstdDecompressor(dict_data=dict_data, max_window_size=ZSTD_MAX_WINDOW_BYTES)


def sniff_compression(head: bytes) -> Compression:
    """Compression of a file from its first bytes (names lie: `.warc.gz` files that are plain,
    `.warc` files that are gzipped, upper-case suffixes)."""
    if is_zstd_skippable_frame(head):
        return "zstd"  # a .warc.zst that starts with its dictionary (the WARC zstd spec)
    for magic, compression in _MAGIC_TO_COMPRESSION:
        if head.startswith(magic):
            return compression  # type: ignore[return-value]
    return "none"


def is_zstd_skippable_frame(head: bytes) -> bool:
    return len(head) >= 8 and head[0] & 0xF0 == 0x50 and head[1:4] == b"\x2a\x4d\x18"


def zstd_dictionary(head: bytes) -> tuple[bytes | None, int]:
    """(dictionary, bytes it takes) of a .warc.zst that starts with one (else (None, 0))."""
    if not is_zstd_skippable_frame(head):
        return None, 0
    size = int.from_bytes(head[4:8], "little")
    dictionary = head[8 : 8 + size]
    if dictionary.startswith(ZSTD_MAGIC):  # the spec allows a zstd-compressed dictionary
        dictionary = zstd_decompressor().decompressobj().decompress(dictionary)
    return dictionary, 8 + size


def decompressed_head(head: bytes, compression: Compression, max_output: int = 8 << 20) -> bytes | None:
    """The start of the file's first member / frame, decompressed (bounded; up to the damage
    if it is damaged); None when nothing decodes."""
    if compression == "none":
        return head
    if compression == "lz4":
        return None  # no decoder outside fastwarc
    dictionary, skip = zstd_dictionary(head) if compression == "zstd" else (None, 0)
    head = head[skip:]
    decoder = new_decoder(compression, dictionary)
    parts: list[bytes] = []
    size = 0
    for start in range(0, len(head), 1 << 14):  # in steps, to keep what precedes damage
        try:
            part = decoder.decompress(head[start : start + (1 << 14)])
        except Exception:  # noqa: BLE001 - damaged: what decoded so far still tells the layout
            break
        parts.append(part)
        size += len(part)
        if decoder.eof or size > max_output:
            break
    plain = b"".join(parts)
    return plain if plain or decoder.eof else None  # b"": a member of nothing


class DecompressingReader(io.RawIOBase):
    """The decompressed bytes of a gzip / zstd / bzip2 / xz file (one stream or many members),
    decoded in bounded pieces (BoundedDecoder), so a decompression bomb costs no memory.

    Where the compressed data is cut or corrupt the stream ends instead of raising, with
    `damage` set to "truncated" or "corrupt", after every byte decoded before the damage
    (stdlib GzipFile / BZ2File drop the last block they decoded when they raise)."""

    _CHUNK_BYTES = 1 << 14  # compressed bytes per step: bounds what a corrupt step loses

    def __init__(self, raw: BinaryIO, compression: Compression, head: bytes):
        super().__init__()
        self.damage: str | None = None
        self._raw = raw
        self._compression = compression
        self._dictionary, _ = zstd_dictionary(head) if compression == "zstd" else (None, 0)
        self._decoder: BoundedDecoder | None = None  # None between members
        self._pieces = None  # the decoder's output for the data last fed, piece by piece (bounded)
        self._pending = b""  # compressed bytes read but not yet fed
        self._out = memoryview(b"")
        self._position = 0

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer) -> int:
        while not self._out and self.damage is None and self._decode_step():
            pass
        size = min(len(buffer), len(self._out))
        buffer[:size] = self._out[:size]
        self._out = self._out[size:]
        self._position += size
        return size

    def _read_compressed(self, min_bytes: int = 1) -> bytes:
        while len(self._pending) < min_bytes:
            more = self._raw.read(self._CHUNK_BYTES)
            if not more:
                break
            self._pending += more
        data, self._pending = self._pending, b""
        return data

    def _decode_step(self) -> bool:
        """Decode one piece (at most BoundedDecoder's) into `_out`; False at the end of the data
        (or at damage)."""
        if self._pieces is not None:
            try:
                self._out = memoryview(next(self._pieces))
                return True
            except StopIteration:
                self._pieces = None
            except Exception:  # noqa: BLE001 - zlib / bz2 / lzma / zstd errors: corrupt bytes
                self.damage = "corrupt"
                return False
            if self._decoder.eof:
                self._pending = self._decoder.unused_data + self._pending
                self._decoder = None
            return True
        if self._decoder is None:  # a member boundary: padding, a skippable frame, or a member
            data = self._read_compressed(min_bytes=8)
            if not data.strip(b"\0"):
                return False  # end of file (zero padding after the last member is common)
            if self._compression == "zstd" and is_zstd_skippable_frame(data):
                skip = 8 + int.from_bytes(data[4:8], "little")
                self._pending = data
                self._pending = self._read_compressed(min_bytes=skip)[skip:]
                return True
            if sniff_compression(data) != self._compression:
                self.damage = "corrupt"  # trailing bytes that are not another member
                return False
            self._decoder = BoundedDecoder(self._compression,
                                           lambda: new_decoder(self._compression, self._dictionary))
        else:
            data = self._read_compressed()
            if not data:
                self.damage = "truncated"
                return False
        self._pieces = self._decoder.pieces(data)
        return True

def new_decoder(compression: Compression, dictionary: bytes | None):
    """A one-member decompressor: .decompress(bytes), .eof, .unused_data."""
    if compression == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if compression == "bzip2":
        return bz2.BZ2Decompressor()
    if compression == "xz":
        return lzma.LZMADecompressor()
    return zstd_decompressor(dictionary).decompressobj()


# Plain bytes one decoder call may return (BoundedDecoder): 1 MiB of gzip holds up to 1 GiB, and
# 1 MiB of bzip2, xz or zstd far more, so an unbounded call is how a decompression bomb takes memory.
MAX_PIECE_BYTES = 1 << 20
# zstd has no per-call output limit; a zstd block (3-byte header, 1 RLE byte) expands to 128 KiB at
# most (32,768:1), so a 256-byte compressed slice yields at most ~8 MiB. (32-byte slices would keep
# it to 1 MiB but halve zstd's speed on real JSONL: every call costs an output buffer.)
ZSTD_SLICE_BYTES = 256


class BoundedDecoder:
    """One member / stream / frame's decoder whose output comes in pieces of at most
    MAX_PIECE_BYTES (zstd: ~8 MiB, see ZSTD_SLICE_BYTES), however high the ratio. `pieces(data)`
    feeds all of `data`; after the member ends (`eof`), `unused_data` is the input that followed."""

    def __init__(self, compression: Compression, factory=None):
        self.compression = compression
        self._decoder = factory() if factory else new_decoder(compression, None)
        self._rest = b""  # zstd: input after the frame's end not yet fed

    @property
    def eof(self) -> bool:
        return self._decoder.eof

    @property
    def unused_data(self) -> bytes:
        return self._decoder.unused_data + self._rest

    def pieces(self, data: bytes):
        decoder = self._decoder
        if self.compression == "zstd":
            view = memoryview(data)
            for start in range(0, len(view), ZSTD_SLICE_BYTES):
                yield decoder.decompress(view[start : start + ZSTD_SLICE_BYTES])
                if decoder.eof:
                    self._rest = bytes(view[start + ZSTD_SLICE_BYTES :])
                    return
        elif self.compression == "gzip":  # zlib: what max_length leaves is in unconsumed_tail
            while not decoder.eof:
                piece = decoder.decompress(data, MAX_PIECE_BYTES)
                yield piece
                data = decoder.unconsumed_tail
                if not data and len(piece) < MAX_PIECE_BYTES:  # a full piece may leave output inside
                    return
        else:  # bz2 / lzma keep what max_length leaves inside until asked with no input
            yield decoder.decompress(data, MAX_PIECE_BYTES)
            while not decoder.eof and not decoder.needs_input:
                yield decoder.decompress(b"", MAX_PIECE_BYTES)

