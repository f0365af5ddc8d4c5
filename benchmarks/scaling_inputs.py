"""Distinct copies of the scaling benchmark's input (benchmarks/bench_scaling.py).

Copy k of an input is the original with one copy-specific English word inserted after every 4th
word of its text, so that the dedup stage (on by default) keeps k times the documents instead of
folding the copies back to one: every word 5-gram of the text as written holds that word, and no
copy's normalized text equals another's (exact dedup). After main-content extraction a few runs of
words lose their insertion, so two copies of a page share a few shingles: Jaccard at most 0.057
on a real WARC (tests/test_scaling_inputs.py), far under what MinHash LSH and verification keep. The words are ordinary adverbs, so a copy stays English for
language id and keeps its stop-word ratio for the quality filters. Copy 0 is the original, byte for
byte. Deterministic: the same copy of the same file is the same bytes.

- WARC/ARC (web): HTML responses are rewritten with warcio, the word inserted into text outside
  tags, scripts, styles and comments (bytes, so any ASCII-compatible charset survives); the HTTP
  Content-Encoding/Transfer-Encoding are dropped with the body decoded, Content-Length and the
  WARC digests recomputed. Other records are copied as they are; an ARC becomes a WARC.
- JSONL (code records): the `content` field.
- Books (plain text): every line except Project Gutenberg's marker and licence lines, which the
  books reader needs to find the body.
"""
from __future__ import annotations

import gzip
import io
import json
import re
import shutil
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.warcwriter import WARCWriter

COPY_WORDS = ("indeed", "also", "really", "quite", "often", "still", "perhaps", "simply", "rather",
              "surely", "truly", "clearly", "mostly", "nearly", "fairly", "plainly", "largely",
              "gladly", "openly", "calmly", "kindly", "firmly", "gently", "boldly", "wisely",
              "freely", "warmly", "deeply", "widely", "rarely", "partly")
EVERY_WORDS = 4  # one inserted word per 5 words: every word 5-gram holds one
_WORD_BYTES = re.compile(rb"\S+")
_WORD_TEXT = re.compile(r"\S+")
_NOT_TEXT = re.compile(rb"(<script\b.*?</script\s*>|<style\b.*?</style\s*>|<!--.*?-->|<[^>]*>)", re.S | re.I)
_BOOK_MARKER_LINE = re.compile(r"gutenberg|small print|licen[sc]e|etext|\*\*\*", re.I)


def copy_word(copy: int) -> str:
    if not 1 <= copy <= len(COPY_WORDS):
        raise ValueError(f"copy {copy}: distinct copies go up to {len(COPY_WORDS)}; add words to COPY_WORDS")
    return COPY_WORDS[copy - 1]


class _Inserter:
    """Counts words across calls (one document's text pieces) and inserts the word after every 4th."""

    def __init__(self, word: str):
        self.word, self.count = word, 0

    def _after(self, match_text, space, word):
        self.count += 1
        return match_text + space + word if self.count % EVERY_WORDS == 0 else match_text

    def text(self, text: str) -> str:
        return _WORD_TEXT.sub(lambda m: self._after(m.group(0), " ", self.word), text)

    def html_bytes(self, html: bytes) -> bytes:
        # a space on both sides: a text piece can end where an inline tag and the next word follow
        # with no space ("one</b>two"), and the word must not glue onto it ("one indeedtwo")
        word = self.word.encode() + b" "
        pieces = _NOT_TEXT.split(html)  # odd indexes: tags, scripts, styles, comments
        return b"".join(piece if i % 2 else _WORD_BYTES.sub(lambda m: self._after(m.group(0), b" ", word), piece)
                        for i, piece in enumerate(pieces))


def distinct_warc(source: Path, target: Path, copy: int) -> None:
    word = copy_word(copy)
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    with open(source, "rb") as handle:
        for record in ArchiveIterator(handle, arc2warc=True):
            headers = record.http_headers
            kind = (headers.get_header("Content-Type") or "") if headers else ""
            if record.rec_type != "response" or "html" not in kind.lower():
                writer.write_record(record)
                continue
            body = _Inserter(word).html_bytes(record.content_stream().read())
            for name in ("Content-Encoding", "Transfer-Encoding", "Content-Length"):
                headers.remove_header(name)
            headers.headers.append(("Content-Length", str(len(body))))
            warc_headers = record.rec_headers
            for name in ("WARC-Payload-Digest", "WARC-Block-Digest", "Content-Length"):
                warc_headers.remove_header(name)
            writer.write_record(writer.create_warc_record(
                record.rec_headers.get_header("WARC-Target-URI"), "response", payload=io.BytesIO(body),
                length=len(body), http_headers=headers, warc_headers=warc_headers))
    target.write_bytes(buffer.getvalue())


def distinct_jsonl_gz(source: Path, target: Path, copy: int, field: str = "content") -> None:
    word = copy_word(copy)
    lines = []
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            record = json.loads(line)
            if isinstance(record.get(field), str):
                record[field] = _Inserter(word).text(record[field])
            lines.append(json.dumps(record, ensure_ascii=False))
    with gzip.open(target, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def distinct_book(source: Path, target: Path, copy: int) -> None:
    inserter = _Inserter(copy_word(copy))
    text = source.read_bytes().decode("latin-1")  # byte-preserving: any ASCII-compatible encoding survives
    lines = text.splitlines(keepends=True)
    target.write_bytes("".join(line if _BOOK_MARKER_LINE.search(line) else inserter.text(line)
                               for line in lines).encode("latin-1"))


def write_copy(source: Path, target: Path, copy: int) -> None:
    """Copy `copy` of `source` at `target` (copy 0: the original bytes)."""
    if copy == 0:
        shutil.copyfile(source, target)
    elif source.name.endswith((".warc.gz", ".arc.gz", ".warc")):
        distinct_warc(source, target, copy)
    elif source.name.endswith(".jsonl.gz"):
        distinct_jsonl_gz(source, target, copy)
    else:
        distinct_book(source, target, copy)


def copy_name(source: Path, copy: int) -> str:
    """r<copy>-<name>; an ARC copy is a WARC (warcio converts it)."""
    name = source.name
    if copy and name.endswith(".arc.gz"):
        name = name[:-len(".arc.gz")] + ".warc.gz"
    return f"r{copy:02d}-{name}"
