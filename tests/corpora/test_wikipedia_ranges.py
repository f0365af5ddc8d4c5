"""A multistream .bz2 dump read as byte ranges yields exactly what the whole file yields."""
from __future__ import annotations

from pathlib import Path

import pytest

from corpora import SkipCounter
from corpora.wikipedia import Options, iter_documents, split_ranges

DUMP = "wikipedia/repaired/hywiki-truncated-100k.repaired.xml.bz2"


@pytest.fixture(scope="module")
def multistream(hywiki_multistream) -> Path:
    return hywiki_multistream


def _read(path: Path, byte_range=None) -> tuple[list[tuple[str, str]], dict]:
    skips = SkipCounter()
    kwargs = {"byte_range": byte_range} if byte_range else {}
    docs = [(d["id"], d["text"]) for d in iter_documents(str(path), source="wiki", file_key="hy.xml.bz2",
                                                          options=Options(), skips=skips, **kwargs)]
    return docs, dict(skips)


def _read_ranges(path: Path, target_bytes: int) -> tuple[list, dict, int]:
    ranges = split_ranges(str(path), path.stat().st_size, target_bytes)
    docs, skips = [], SkipCounter()
    for byte_range in ranges:
        part_docs, part_skips = _read(path, byte_range)
        docs += part_docs
        skips.update(part_skips)
    return docs, dict(skips), len(ranges)


@pytest.mark.parametrize("num_ranges", [2, 7, 40])
def test_ranges_together_equal_the_whole_multistream_file(multistream, num_ranges):
    whole_docs, whole_skips = _read(multistream)
    assert len(whole_docs) == 278 and whole_skips["wiki_redirect"] == 29  # as the repaired dump
    size = multistream.stat().st_size
    docs, skips, count = _read_ranges(multistream, -(-size // num_ranges))
    assert count == num_ranges
    assert docs == whole_docs
    assert skips == whole_skips


def test_a_truncated_multistream_file_gives_the_same_pages_and_one_error(multistream, tmp_path):
    cut = tmp_path / "cut.xml.bz2"
    data = multistream.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    whole_docs, whole_skips = _read(cut)
    assert whole_skips["error:truncated_dump"] == 1
    docs, skips, _ = _read_ranges(cut, len(data) // 9)
    assert docs == whole_docs
    assert skips == whole_skips


def test_a_single_stream_file_split_into_ranges_is_read_once(shared_data):
    path = shared_data / DUMP  # one bz2 stream: the range holding offset 0 reads it all
    whole_docs, whole_skips = _read(path)
    docs, skips, count = _read_ranges(path, path.stat().st_size // 4 + 1)
    assert count == 4
    assert docs == whole_docs and skips == whole_skips


def test_small_or_non_bz2_files_are_not_split(shared_data):
    small = shared_data / DUMP
    assert split_ranges(str(small), small.stat().st_size, small.stat().st_size) is None
    xz = shared_data / "wikipedia/hywiki-truncated-100k.xml.xz"
    assert split_ranges(str(xz), xz.stat().st_size, 1 << 16) is None
