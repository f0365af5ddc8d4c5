"""zstd files written with a long window (`zstd --long`) open in every reader that takes zstd:
one place (corpora.archive_compression.zstd_decompressor) allows the window."""
from __future__ import annotations

import bz2
import json

import pytest
import zstandard

from corpora import SkipCounter, reader_for

# window_log 28 (256 MiB) is past zstandard's default decoder limit of 2**27
LONG = zstandard.ZstdCompressor(compression_params=zstandard.ZstdCompressionParameters.from_level(
    3, window_log=28, enable_ldm=True))


def _compress_long(data: bytes) -> bytes:
    """As `zstd --long=28` streams: the size unknown up front, so the frame keeps its 256 MiB window."""
    stream = LONG.compressobj()
    compressed = stream.compress(data) + stream.flush()
    assert zstandard.get_frame_parameters(compressed).window_size == 1 << 28
    return compressed


def _read(kind: str, path, **options) -> list[dict]:
    reader = reader_for(kind)
    return list(reader.iter_documents(str(path), source="s", file_key="f", options=reader.Options(**options),
                                      skips=SkipCounter()))


def test_the_default_decoder_refuses_a_long_window():
    data = _compress_long(b"x" * 1000)
    with pytest.raises(zstandard.ZstdError):
        zstandard.ZstdDecompressor().decompressobj().decompress(data)


@pytest.mark.shared_data
def test_wikipedia_dump_with_a_long_window(shared_data, tmp_path):
    source = shared_data / "wikipedia/repaired/hywiki-truncated-100k.repaired.xml.bz2"
    path = tmp_path / "hywiki.xml.zst"
    path.write_bytes(_compress_long(bz2.decompress(source.read_bytes())))
    assert [d["text"] for d in _read("wikipedia", path)] == [d["text"] for d in _read("wikipedia", source)]


def test_json_lines_with_a_long_window(tmp_path):
    path = tmp_path / "docs.jsonl.zst"
    path.write_bytes(_compress_long(b"".join(json.dumps({"text": f"doc {i}"}).encode() + b"\n" for i in range(5))))
    assert [d["text"] for d in _read("jsonl", path)] == [f"doc {i}" for i in range(5)]
