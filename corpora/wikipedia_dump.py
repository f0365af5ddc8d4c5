"""Reading a MediaWiki XML dump as a stream: the decompressed bytes in pieces, whatever the
compression (told by magic bytes, not the name), and the expat handler that collects <siteinfo>
and completed <page>s from them (the page rules live in corpora/wikipedia.py)."""
from __future__ import annotations

import bz2
import gzip
import lzma
from contextlib import contextmanager
from typing import IO, Any, Iterator
from xml.parsers import expat

import fsspec

from corpora import bz2_streams
from corpora.archive_compression import sniff_compression, zstd_decompressor
from corpora.schema import InputError

# Project suffixes of a dbname: "hywiki" -> "hy", "frwiktionary" -> "fr", "zh_min_nanwiki" -> "zh-min-nan".
_DBNAME_SUFFIXES = ("wiktionary", "wikibooks", "wikinews", "wikiquote", "wikisource",
                    "wikiversity", "wikivoyage", "wiki")
# Multilingual wikis: their dbname names no language.
_NON_LANGUAGE_DBNAMES = frozenset({"commonswiki", "wikidatawiki", "metawiki", "specieswiki",
                                   "mediawikiwiki", "foundationwiki", "incubatorwiki", "sourceswiki"})
# Archives that hold a dump but are not a compressed stream: say how to convert them.
_ARCHIVE_MAGIC = ((b"7z\xbc\xaf\x27\x1c", "7z"), (b"PK\x03\x04", "zip"))


# -- XML streaming ----------------------------------------------------------------------------

class DumpHandler:
    """expat callbacks that collect <siteinfo> and completed <page>s. A page is a dict of strings
    (title, ns, id, redirect) plus "revision": the fields of its newest <revision>."""

    # (parent, element) pairs whose text is captured, and the key each one fills. <text> and <model>
    # of other slots (<content>), <upload>s and <logitem>s have other parents: never captured.
    _PAGE_FIELDS = {("page", "title"): "title", ("page", "ns"): "ns", ("page", "id"): "id"}
    _REVISION_FIELDS = {("revision", "id"): "revision_id", ("revision", "timestamp"): "timestamp",
                        ("revision", "model"): "model", ("revision", "text"): "text"}
    _SITE_FIELDS = {("siteinfo", "dbname"): "dbname", ("siteinfo", "base"): "base",
                    ("namespaces", "namespace"): "namespace"}

    def __init__(self) -> None:
        self.pages: list[dict[str, Any]] = []
        self.dbname = ""
        self.base = ""
        self.root = ""
        self.root_language = ""
        self.site_namespaces: dict[int, str] = {}
        self._stack: list[str] = []
        self._page: dict[str, Any] | None = None
        self._revision: dict[str, str] | None = None
        self._buffer: list[str] | None = None
        self._target: str | None = None
        self._namespace_key: int | None = None

    def make_parser(self) -> expat.XMLParserType:
        parser = expat.ParserCreate()  # no namespace processing: names arrive as written
        parser.buffer_text = True
        parser.buffer_size = 1 << 16
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._characters
        return parser

    @property
    def language(self) -> str | None:
        return language_from_dbname(self.dbname) or self.root_language or None

    @property
    def url_prefix(self) -> str:
        # <base> is the main page's URL: articles live next to it.
        return self.base.rsplit("/", 1)[0] + "/" if "/" in self.base else ""

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        name = name.rpartition(":")[2]
        stack = self._stack
        if not stack:
            if name != "mediawiki":
                raise InputError(f"not a MediaWiki XML dump: the root element is <{name}>, not <mediawiki>; "
                                 "check `paths` in recipe.yaml: it should name pages-articles .xml[.bz2] dumps")
            self.root = name
            self.root_language = attrs.get("xml:lang", "")
        parent = stack[-1] if stack else ""
        stack.append(name)
        page = self._page
        if page is None:
            if name == "page":
                self._page = {}
            elif (parent, name) in self._SITE_FIELDS:
                self._target = self._SITE_FIELDS[(parent, name)]
                self._buffer = []
                if name == "namespace":
                    key_attr = attrs.get("key", "")
                    self._namespace_key = int(key_attr) if key_attr.lstrip("-").isdigit() else None
            return
        if name == "revision" and parent == "page":
            self._revision = {}
        elif name == "redirect" and parent == "page":
            page["redirect"] = attrs.get("title", "")
        elif (parent, name) in self._PAGE_FIELDS:
            self._target = self._PAGE_FIELDS[(parent, name)]
            self._buffer = []
        elif self._revision is not None and (parent, name) in self._REVISION_FIELDS:
            self._target = self._REVISION_FIELDS[(parent, name)]
            self._buffer = []
            if name == "text":
                if attrs.get("deleted"):
                    self._revision["deleted"] = attrs["deleted"]
                if "bytes" in attrs:
                    self._revision["bytes"] = attrs["bytes"]

    def _characters(self, data: str) -> None:
        if self._buffer is not None:
            self._buffer.append(data)

    def _end(self, name: str) -> None:
        name = name.rpartition(":")[2]
        self._stack.pop()
        if self._buffer is not None and self._target is not None:
            value = "".join(self._buffer)
            if self._revision is not None and self._target in self._REVISION_KEYS:
                self._revision[self._target] = value
            elif self._page is not None:
                self._page[self._target] = value
            elif self._target == "namespace":
                if self._namespace_key is not None:
                    self.site_namespaces[self._namespace_key] = value.strip()
            else:
                setattr(self, self._target, value.strip())
            self._buffer = None
            self._target = None
        if self._page is None:
            return
        if name == "revision" and self._revision is not None:
            # The newest revision is the page (a history dump lists them oldest first, an export
            # may list them newest first): keep the latest timestamp, the later one on a tie.
            newest = self._page.get("revision")
            if newest is None or self._revision.get("timestamp", "") >= newest.get("timestamp", ""):
                self._page["revision"] = self._revision
            self._revision = None
        elif name == "page":
            self.pages.append(self._page)
            self._page = None

    _REVISION_KEYS = frozenset(_REVISION_FIELDS.values())


# -- opening ----------------------------------------------------------------------------------

try:  # zstandard reports corrupt frames with its own error type
    from zstandard import ZstdError as ZSTD_ERROR
except ImportError:  # pragma: no cover - zstandard is a dependency; a stand-in keeps the except valid
    class ZSTD_ERROR(Exception):  # type: ignore[no-redef]
        pass


@contextmanager
def chunk_source(path: str, chunk_bytes: int, byte_range: tuple[int, int] | None):
    """A function returning the next piece of decompressed XML (b"" at the end)."""
    if byte_range is not None:
        pieces = bz2_streams.range_chunks(path, *byte_range, chunk_bytes=chunk_bytes)
        yield lambda: next(pieces, b"")
        return
    with open_decompressed(path) as stream:
        # read1, not read: a buffered read(n) that hits a truncated end raises and throws away the
        # up to n bytes it had already decompressed; read1 hands back each piece as it comes.
        read_piece = getattr(stream, "read1", stream.read)
        yield lambda: read_piece(chunk_bytes)


@contextmanager
def open_decompressed(path: str) -> Iterator[IO[bytes]]:
    """The dump's decompressed bytes, whatever its compression (told by magic bytes, not name)."""
    with fsspec.open(path, "rb") as raw:
        head = raw.read(6)
        raw.seek(0)
        archive = next((k for magic, k in _ARCHIVE_MAGIC if head.startswith(magic)), None)
        if archive is not None:
            raise InputError(
                f"{path}: a .{archive} archive, which is not read as a stream; recompress the dump "
                f"inside it, e.g. `7z x -so {path} | bzip2 > dump.xml.bz2`, or use the .xml.bz2 dump"
            )
        kind = sniff_compression(head)
        if kind == "bzip2":
            stream: IO[bytes] = bz2.BZ2File(raw)  # reads every stream of a multistream dump
        elif kind == "xz":
            stream = lzma.LZMAFile(raw)
        elif kind == "gzip":
            stream = gzip.GzipFile(fileobj=raw)
        elif kind == "zstd":
            stream = zstd_decompressor().stream_reader(raw, read_across_frames=True)
        else:
            stream = raw
        try:
            yield stream
        finally:
            if stream is not raw:
                stream.close()


def language_from_dbname(dbname: str) -> str | None:
    """`hywiki` -> `hy`, `zh_min_nanwiki` -> `zh-min-nan`; None for multilingual wikis."""
    if not dbname or dbname in _NON_LANGUAGE_DBNAMES:
        return None
    for suffix in _DBNAME_SUFFIXES:
        if dbname.endswith(suffix) and len(dbname) > len(suffix):
            return dbname[: -len(suffix)].replace("_", "-")
    return None
