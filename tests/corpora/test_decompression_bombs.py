"""Decompression bombs in JSON Lines: memory stays bounded whatever the ratio, a stream past the
ratio limit stops there with a counted reason, and everything before it is kept.

Bombs are made here with the stdlib / zstandard compressors (64 MiB of one byte: bzip2 83 bytes,
zstd ~2 kB, xz ~10 kB, gzip ~290 kB at level 1); the expected sizes and counts are the
construction's.
"""
from __future__ import annotations

import bz2
import json
import lzma
import zlib

import pytest
import zstandard

from corpora.archive_compression import BoundedDecoder
from corpora.json_records import iter_json_records
from corpora.schema import SkipCounter

MiB = 1 << 20
BOMB_BYTES = 64 * MiB
# One decoder call's output: 1 MiB (zlib / bz2 / lzma max_length); zstd: 256-byte input slices of
# at most 32,768:1 (a 4-byte RLE block is 128 KiB), plus the block a slice may finish.
MAX_PIECE_BYTES = {"gzip": MiB, "bzip2": MiB, "xz": MiB, "zstd": 256 * 32 * 1024 + 128 * 1024}

COMPRESS = {
    "gzip": lambda data: zlib.compress(data, 1, wbits=31),
    "bzip2": lambda data: bz2.compress(data, 9),
    "xz": lambda data: lzma.compress(data, preset=0),
    "zstd": lambda data: zstandard.ZstdCompressor(level=1).compress(data),
}
SUFFIX = {"gzip": ".gz", "bzip2": ".bz2", "xz": ".xz", "zstd": ".zst"}


@pytest.mark.parametrize("codec", sorted(COMPRESS))
def test_each_decoder_call_returns_a_bounded_piece(codec):
    packed = COMPRESS[codec](b"a" * BOMB_BYTES)
    assert len(packed) < BOMB_BYTES // 200  # a bomb: over 200:1
    decoder = BoundedDecoder(codec)
    sizes = [len(piece) for piece in decoder.pieces(packed)]
    assert sum(sizes) == BOMB_BYTES and decoder.eof
    assert max(sizes) <= MAX_PIECE_BYTES[codec], (codec, max(sizes))


def _records(texts: list[str]) -> bytes:
    return b"".join(json.dumps({"text": t}).encode() + b"\n" for t in texts)


def _bomb_file(tmp_path, codec: str, line_bytes: int) -> tuple[str, list[str], list[str]]:
    """Good records, one `line_bytes` JSON line of one letter, good records; one compressed stream."""
    before = [f"record {i} before the bomb" for i in range(5)]
    after = [f"record {i} after the bomb" for i in range(3)]
    plain = _records(before) + b'{"text": "' + b"a" * line_bytes + b'"}\n' + _records(after)
    path = tmp_path / f"bomb.jsonl{SUFFIX[codec]}"
    path.write_bytes(COMPRESS[codec](plain))
    return str(path), before, after


@pytest.mark.parametrize("codec", sorted(COMPRESS))
def test_a_bomb_stops_at_the_ratio_limit_keeping_what_came_before(tmp_path, codec):
    path, before, _ = _bomb_file(tmp_path, codec, 128 * MiB)
    skips = SkipCounter()
    texts = [record["text"] for _, record in iter_json_records(path, skips)]
    assert texts == before
    assert dict(skips) == {"error:decompression_bomb": 1}


def test_without_a_ratio_limit_the_bomb_line_streams_past_and_later_records_are_kept(tmp_path):
    """The per-line limit alone: the 128 MiB line is dropped as it streams (never held), counted
    `record_too_large`, and the records after it come through."""
    path, before, after = _bomb_file(tmp_path, "bzip2", 128 * MiB)
    skips = SkipCounter()
    texts = [record["text"] for _, record in iter_json_records(path, skips, max_ratio=None)]
    assert texts == before + after
    assert dict(skips) == {"record_too_large": 1}


def test_a_small_very_repetitive_file_is_not_taken_for_a_bomb(tmp_path):
    """Below the 64 MiB floor the ratio is not judged: 20 MiB of one repeated record (over the
    100:1 limit) reads whole."""
    line = json.dumps({"text": "the same short line"}).encode() + b"\n"
    num_lines = 20 * MiB // len(line)
    path = tmp_path / "repetitive.jsonl.gz"
    path.write_bytes(zlib.compress(line * num_lines, 9, wbits=31))
    assert path.stat().st_size * 100 < 20 * MiB
    skips = SkipCounter()
    assert sum(1 for _ in iter_json_records(str(path), skips)) == num_lines
    assert dict(skips) == {}


def test_the_ratio_limit_is_a_jsonl_option(tmp_path):
    from corpora.records import Options, iter_documents

    path, before, after = _bomb_file(tmp_path, "zstd", 128 * MiB)
    for options, texts, reasons in ((Options(), before, {"error:decompression_bomb": 1}),
                                    (Options(max_decompression_ratio=None), before + after, {"record_too_large": 1})):
        skips = SkipCounter()
        docs = list(iter_documents(path, source="s", file_key="f", options=options, skips=skips))
        assert [d["text"] for d in docs] == texts
        assert dict(skips) == reasons


@pytest.mark.parametrize("codec", sorted(COMPRESS))
def test_the_warc_and_papers_decompressing_stream_holds_one_piece_at_a_time(codec):
    """DecompressingReader (bzip2 / xz / one-stream gzip or zstd WARCs, papers bundles) over a
    128 MiB bomb: every byte comes through, and the Python heap never holds more than a couple of
    decoder pieces (reading whole 16 KiB compressed steps held 63-558 MiB for a 256 MiB bomb)."""
    import io
    import tracemalloc

    from corpora.archive_compression import DecompressingReader

    packed = COMPRESS[codec](b"a" * (128 * MiB))
    tracemalloc.start()
    try:
        stream = io.BufferedReader(DecompressingReader(io.BytesIO(packed), codec, packed[:64]), 1 << 16)
        num_bytes = 0
        while chunk := stream.read(MiB):
            num_bytes += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert num_bytes == 128 * MiB and stream.raw.damage is None
    assert peak < 2 * MAX_PIECE_BYTES[codec] + 4 * MiB, (codec, peak)  # + the 1 MiB reads and their joins
