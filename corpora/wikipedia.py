"""MediaWiki XML dumps (pages-articles, also multistream) -> one document per article.

Input: `.xml`, `.xml.bz2` (single or multistream), `.xml.xz`, `.xml.gz`, `.xml.zst`, local or any
fsspec URL; the compression is recognised from the file's magic bytes. Export schema 0.9 to 0.11
(any `http://www.mediawiki.org/xml/export-0.N/`: element names are matched without their namespace).
UTF-8 or UTF-16 with a BOM (expat detects both).

Streaming: an expat parser is fed fixed-size chunks of the decompressed stream and hands back the
pages completed in each chunk, so memory is bounded by one chunk plus the largest page, never the
dump. A dump cut off anywhere (mid-page, mid-character, mid-compression-block) yields every complete
page and then counts exactly one `error:truncated_dump`; a stream that is corrupt rather than short
counts `error:corrupt_dump` the same way.

Skip reasons: `wiki_redirect` (any namespace), `wiki_namespace_<n>` (a namespace not in
`namespaces`), `wiki_non_wikitext` (a content model other than wikitext), `wiki_empty` (nothing left
after markup removal), `error:wikitext_parse` (the page's wikitext made the renderer raise).
"""
from __future__ import annotations

import bz2
import gzip
import lzma
import re
import zlib
from contextlib import contextmanager
from typing import IO, Any, Iterator
from urllib.parse import quote
from xml.parsers import expat

import fsspec
from pydantic import BaseModel, ConfigDict, Field

from corpora import bz2_streams
from corpora.schema import SkipCounter, make_doc_id
from corpora.wikitext import (
    CANONICAL_CATEGORY_PREFIXES,
    CANONICAL_FILE_PREFIXES,
    WikitextConfig,
    WikitextRenderer,
)

FILE_NAMESPACE = 6
CATEGORY_NAMESPACE = 14
MEDIA_NAMESPACE = -2

# Project suffixes of a dbname: "hywiki" -> "hy", "frwiktionary" -> "fr", "zh_min_nanwiki" -> "zh-min-nan".
_DBNAME_SUFFIXES = ("wiktionary", "wikibooks", "wikinews", "wikiquote", "wikisource",
                    "wikiversity", "wikivoyage", "wiki")
# Multilingual wikis: their dbname names no language.
_NON_LANGUAGE_DBNAMES = frozenset({"commonswiki", "wikidatawiki", "metawiki", "specieswiki",
                                   "mediawikiwiki", "foundationwiki", "incubatorwiki", "sourceswiki"})
# The English keyword works on every wiki; <redirect/> catches the localised ones.
_REDIRECT_TEXT = re.compile(r"^\s*#redirect\b", re.IGNORECASE)


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    namespaces: tuple[int, ...] = Field(
        default=(0,), description="page namespaces to keep (0 = articles); others are counted"
    )
    language: str | None = Field(
        default=None, description="language code for meta; default: from the dump's <dbname>"
    )
    keep_tables: bool = False
    keep_file_captions: bool = False
    keep_math: bool = False
    keep_template_text: tuple[str, ...] = Field(
        default=("lang", "nowrap", "nobr", "small", "transl", "script"),
        description="templates whose last positional argument is kept as inline text",
    )
    read_chunk_bytes: int = Field(default=1 << 20, ge=4096, description="decompressed bytes per parser feed")


def split_ranges(path: str, size_bytes: int, target_bytes: int) -> list[tuple[int, int]] | None:
    """Byte ranges for one huge multistream .bz2 dump to be read as many tasks (None: one task)."""
    if size_bytes <= target_bytes or not bz2_streams.is_bz2(path):
        return None
    return bz2_streams.split_ranges(size_bytes, target_bytes)


def iter_documents(
    path: str, *, source: str, file_key: str, options: Options, skips: SkipCounter,
    byte_range: tuple[int, int] | None = None,
) -> Iterator[dict]:
    """Documents of the dump at `path`, or of the multistream bz2 streams that start inside
    `byte_range` (see corpora.bz2_streams)."""
    handler = _DumpHandler()
    parser = handler.make_parser()
    renderer: WikitextRenderer | None = None
    failure: str | None = None
    with _chunk_source(path, options, byte_range) as read_piece:
        while failure is None:
            try:
                chunk = read_piece()
            except EOFError:  # compressed stream ends before its end-of-stream marker
                failure = "error:truncated_dump"
                break
            except (OSError, lzma.LZMAError, zlib.error, ValueError):
                failure = "error:corrupt_dump"
                break
            try:
                parser.Parse(chunk, not chunk)
            except expat.ExpatError:
                # At the final feed the document is incomplete (cut mid-page or mid-character);
                # earlier, the XML itself is broken.
                failure = "error:truncated_dump" if not chunk else "error:corrupt_dump"
            if handler.pages:
                if renderer is None:
                    renderer = WikitextRenderer(_renderer_config(options, handler.site_namespaces))
                pages, handler.pages = handler.pages, []
                for page in pages:
                    doc = _page_document(page, handler, renderer, source, file_key, options, skips)
                    if doc is not None:
                        yield doc
            if not chunk:
                break
    if failure is not None:
        skips.skip(failure)


# -- pages ------------------------------------------------------------------------------------

def _page_document(
    page: dict[str, Any], site: "_DumpHandler", renderer: WikitextRenderer, source: str,
    file_key: str, options: Options, skips: SkipCounter,
) -> dict | None:
    wikitext = page.get("text", "")
    if "redirect" in page or _REDIRECT_TEXT.match(wikitext):
        skips.skip("wiki_redirect")
        return None
    namespace = int(page["ns"]) if page.get("ns", "").strip().lstrip("-").isdigit() else 0
    if namespace not in options.namespaces:
        skips.skip(f"wiki_namespace_{namespace}")
        return None
    if page.get("model", "wikitext") != "wikitext":
        skips.skip("wiki_non_wikitext")
        return None
    try:
        text = renderer.render(wikitext)
    except Exception:  # noqa: BLE001 - one bad page must not end the dump; it is counted
        skips.skip("error:wikitext_parse")
        return None
    if not text:
        skips.skip("wiki_empty")
        return None
    title = page.get("title", "")
    page_id = page.get("id", "").strip()
    language = options.language or site.language
    meta: dict[str, Any] = {"title": title, "page_id": int(page_id) if page_id.isdigit() else page_id,
                            "namespace": namespace}
    if page.get("revision_id", "").strip().isdigit():
        meta["revision_id"] = int(page["revision_id"])
    if page.get("timestamp"):
        meta["timestamp"] = page["timestamp"]
    if language:
        meta["language"] = language
    if site.dbname:
        meta["dbname"] = site.dbname
    doc = {"id": make_doc_id(source, file_key, page_id or title), "text": text, "meta": meta}
    if site.url_prefix:
        doc["url"] = site.url_prefix + quote(title.replace(" ", "_"), safe=";@$!*(),/~:")
    else:  # a dump without <siteinfo><base>: provenance is the dump file itself
        doc["path"] = file_key
    return doc


def _renderer_config(options: Options, site_namespaces: dict[int, str]) -> WikitextConfig:
    local = {key: name.lower() for key, name in site_namespaces.items() if name}
    return WikitextConfig(
        keep_tables=options.keep_tables,
        keep_file_captions=options.keep_file_captions,
        keep_math=options.keep_math,
        keep_template_text=frozenset(name.lower() for name in options.keep_template_text),
        file_prefixes=CANONICAL_FILE_PREFIXES
        | {local[k] for k in (FILE_NAMESPACE, MEDIA_NAMESPACE) if k in local},
        category_prefixes=CANONICAL_CATEGORY_PREFIXES
        | ({local[CATEGORY_NAMESPACE]} if CATEGORY_NAMESPACE in local else set()),
        namespace_prefixes=frozenset(local.values()),
    )


def language_from_dbname(dbname: str) -> str | None:
    """`hywiki` -> `hy`, `zh_min_nanwiki` -> `zh-min-nan`; None for multilingual wikis."""
    if not dbname or dbname in _NON_LANGUAGE_DBNAMES:
        return None
    for suffix in _DBNAME_SUFFIXES:
        if dbname.endswith(suffix) and len(dbname) > len(suffix):
            return dbname[: -len(suffix)].replace("_", "-")
    return None


# -- XML streaming ----------------------------------------------------------------------------

class _DumpHandler:
    """expat callbacks that collect <siteinfo> and completed <page>s (as dicts of strings)."""

    # (parent, element) pairs whose text is captured, and the page key each one fills.
    _PAGE_FIELDS = {("page", "title"): "title", ("page", "ns"): "ns", ("page", "id"): "id",
                    ("revision", "id"): "revision_id", ("revision", "timestamp"): "timestamp",
                    ("revision", "model"): "model", ("revision", "text"): "text"}
    _SITE_FIELDS = {("siteinfo", "dbname"): "dbname", ("siteinfo", "base"): "base",
                    ("namespaces", "namespace"): "namespace"}

    def __init__(self) -> None:
        self.pages: list[dict[str, str]] = []
        self.dbname = ""
        self.base = ""
        self.root_language = ""
        self.site_namespaces: dict[int, str] = {}
        self._stack: list[str] = []
        self._page: dict[str, str] | None = None
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
        parent = self._stack[-1] if self._stack else ""
        self._stack.append(name)
        if name == "page":
            self._page = {}
        elif name == "redirect" and self._page is not None:
            self._page["redirect"] = attrs.get("title", "")
        elif name == "mediawiki":
            self.root_language = attrs.get("xml:lang", "")
        key = (parent, name)
        if self._page is not None and key in self._PAGE_FIELDS:
            self._target = self._PAGE_FIELDS[key]
            self._buffer = []
        elif self._page is None and key in self._SITE_FIELDS:
            self._target = self._SITE_FIELDS[key]
            self._buffer = []
            if name == "namespace":
                key_attr = attrs.get("key", "")
                self._namespace_key = int(key_attr) if key_attr.lstrip("-").isdigit() else None

    def _characters(self, data: str) -> None:
        if self._buffer is not None:
            self._buffer.append(data)

    def _end(self, name: str) -> None:
        name = name.rpartition(":")[2]
        self._stack.pop()
        if self._buffer is not None and self._target is not None:
            value = "".join(self._buffer)
            if self._page is not None:
                # A history dump has many revisions: the last one (the newest) wins.
                self._page[self._target] = value
            elif self._target == "namespace":
                if self._namespace_key is not None:
                    self.site_namespaces[self._namespace_key] = value.strip()
            else:
                setattr(self, self._target, value.strip())
            self._buffer = None
            self._target = None
        if name == "page" and self._page is not None:
            self.pages.append(self._page)
            self._page = None


# -- opening ----------------------------------------------------------------------------------

@contextmanager
def _chunk_source(path: str, options: Options, byte_range: tuple[int, int] | None):
    """A function returning the next piece of decompressed XML (b"" at the end)."""
    if byte_range is not None:
        pieces = bz2_streams.range_chunks(path, *byte_range, chunk_bytes=options.read_chunk_bytes)
        yield lambda: next(pieces, b"")
        return
    with _open_decompressed(path) as stream:
        # read1, not read: a buffered read(n) that hits a truncated end raises and throws away the
        # up to n bytes it had already decompressed; read1 hands back each piece as it comes.
        read_piece = getattr(stream, "read1", stream.read)
        yield lambda: read_piece(options.read_chunk_bytes)


_MAGIC = ((b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"), (b"\x1f\x8b", "gz"), (b"\x28\xb5\x2f\xfd", "zst"))


@contextmanager
def _open_decompressed(path: str) -> Iterator[IO[bytes]]:
    """The dump's decompressed bytes, whatever its compression (told by magic bytes, not name)."""
    with fsspec.open(path, "rb") as raw:
        head = raw.read(6)
        raw.seek(0)
        kind = next((k for magic, k in _MAGIC if head.startswith(magic)), None)
        if kind == "bz2":
            stream: IO[bytes] = bz2.BZ2File(raw)  # reads every stream of a multistream dump
        elif kind == "xz":
            stream = lzma.LZMAFile(raw)
        elif kind == "gz":
            stream = gzip.GzipFile(fileobj=raw)
        elif kind == "zst":
            import zstandard

            stream = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        else:
            stream = raw
        try:
            yield stream
        finally:
            if stream is not raw:
                stream.close()
