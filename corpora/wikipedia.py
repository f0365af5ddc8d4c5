"""MediaWiki XML dumps (pages-articles, also multistream and pages-meta-history) -> one document per
page.

Input: `.xml`, `.xml.bz2` (single or multistream), `.xml.xz`, `.xml.gz`, `.xml.zst`, local or any
fsspec URL; the compression is recognised from the file's magic bytes (a `.7z` or `.zip` archive is
refused with the command that converts it). Export schema 0.3 to 0.11 (any
`http://www.mediawiki.org/xml/export-0.N/`: element names are matched without their namespace).
UTF-8 or UTF-16 with a BOM (expat detects both). A file whose root is not `<mediawiki>` (an HTML
error page saved under the dump's name, say) raises ValueError.

Which page is what, on every wiki whatever its language:
- namespace: the numeric `<ns>` (schema >= 0.6); older schemas have none, so the title's prefix is
  looked up in `namespace_aliases`, the dump's `<siteinfo>` namespaces, then the canonical names.
- redirect: the `<redirect>` element (schema >= 0.4), or text starting with a redirect magic word in
  any language: `#REDIRECT [[...]]`, `#ПЕРЕНАПРАВЛЕННЯ [[...]]`, `#पुनर्निर्देशन [[...]]`.
- revision: a history dump lists many `<revision>`s per page; the newest (latest `<timestamp>`,
  the later one in the file on a tie) is the page's text, as on the live wiki. When that newest
  text is hidden (`<text deleted="deleted"/>`) the page is counted, never replaced by older text.
- disambiguation: `__DISAMBIG__`, or a template named in `disambiguation_templates`; such pages
  are kept with `meta["disambiguation"] = True` unless `skip_disambiguation`.
- Category/File links are removed under their canonical and local (`<siteinfo>`) names, and the
  wiki's aliases given in `namespace_aliases` (dumps do not list aliases).

Streaming: an expat parser is fed fixed-size chunks of the decompressed stream and hands back the
pages completed in each chunk, so memory is bounded by one chunk plus the largest page (of a history
page: its largest revision), never the dump. A dump cut off anywhere (mid-page, mid-character,
mid-compression-block) yields every complete page and then counts exactly one `error:truncated_dump`;
a stream that is corrupt rather than short counts `error:corrupt_dump` the same way.

Skip reasons: `wiki_redirect` (any namespace), `wiki_namespace_<n>` (a namespace not in
`namespaces`), `wiki_non_wikitext` (a content model other than wikitext), `wiki_no_revision` (a page
with no `<revision>`), `wiki_text_deleted` (the newest revision's text is hidden),
`wiki_text_not_in_dump` (`<text bytes="N" id=.../>` with no content: a stub dump; a dump of only
such pages raises ValueError), `wiki_disambiguation` (only with `skip_disambiguation`), `wiki_empty`
(empty text, or nothing left after markup removal), `error:wikitext_parse` (the renderer raised).
"""
from __future__ import annotations

import lzma
import re
import zlib
from typing import Any, Iterator
from urllib.parse import quote
from xml.parsers import expat

from pydantic import Field

from corpora import bz2_streams
from corpora.wikipedia_dump import ZSTD_ERROR, DumpHandler, chunk_source
from corpora.schema import InputError, SkipCounter, Strict, make_doc_id
from corpora.wikitext import (
    CANONICAL_CATEGORY_PREFIXES,
    CANONICAL_FILE_PREFIXES,
    WikitextConfig,
    WikitextRenderer,
)

FILE_NAMESPACE = 6
CATEGORY_NAMESPACE = 14
MEDIA_NAMESPACE = -2
# Canonical namespace names, valid on every wiki next to the local ones: the fallback for a title's
# prefix when a dump has no <ns> (schema < 0.6) and no <siteinfo> entry for it.
CANONICAL_NAMESPACES = {
    "media": -2, "special": -1, "talk": 1, "user": 2, "user talk": 3, "project": 4, "project talk": 5,
    "file": 6, "image": 6, "file talk": 7, "image talk": 7, "mediawiki": 8, "mediawiki talk": 9,
    "template": 10, "template talk": 11, "help": 12, "help talk": 13, "category": 14, "category talk": 15,
}

# A redirect's text is "#<magic word> [[Target]]"; the word is localised (#ПЕРЕНАПРАВЛЕННЯ, #đổi,
# #पुनर्निर्देशन), so any run of non-space, non-markup characters glued to the "#" counts. A numbered
# list item ("# text") has a space after its "#"; <redirect/> is the authority where a dump has it.
_REDIRECT_TEXT = re.compile(
    r"\s*#(?:redirect\b|[^\s\d\[\]#:|<>{}=]+(?:[ _][^\s\d\[\]#:|<>{}=]+)?\s*:?\s*\[\[[^\[\]\n]+\]\])", re.IGNORECASE)
_DISAMBIG_MAGIC_WORD = "__DISAMBIG__"
# After this many text-less pages and none with text, the input is a stub dump: stop early.
_STUB_DUMP_PAGES = 100


class Options(Strict):
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
    disambiguation_templates: tuple[str, ...] = Field(
        default=("disambig", "disambiguation", "dab", "disamb"),
        description="templates that mark a disambiguation page (any case; add your wiki's own, e.g. "
                    "'неоднозначність'); `__DISAMBIG__` marks one on every wiki",
    )
    skip_disambiguation: bool = Field(
        default=False, description="count disambiguation pages as `wiki_disambiguation` instead of keeping them"
    )
    namespace_aliases: dict[str, int] = Field(
        default_factory=dict,
        description="more names of namespaces, e.g. {'Зображення': 6}: a dump's <siteinfo> lists one local "
                    "name per namespace, not the wiki's aliases (the API's siteinfo/namespacealiases has them)",
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
    handler = DumpHandler()
    parser = handler.make_parser()
    page_rules: _PageRules | None = None
    failure: str | None = None
    num_bytes = 0
    with chunk_source(path, options.read_chunk_bytes, byte_range) as read_piece:
        while failure is None:
            try:
                chunk = read_piece()
            except EOFError:  # compressed stream ends before its end-of-stream marker
                failure = "error:truncated_dump"
                break
            except (OSError, lzma.LZMAError, zlib.error, ValueError, ZSTD_ERROR):
                failure = "error:corrupt_dump"
                break
            num_bytes += len(chunk)
            try:
                parser.Parse(chunk, not chunk)
            except expat.ExpatError as error:
                if not handler.root and num_bytes:
                    raise InputError(f"{path}: not a MediaWiki XML dump ({error}); check `paths` in "
                                     "recipe.yaml: it should name pages-articles .xml[.bz2] dumps") from None
                # At the final feed the document is incomplete (cut mid-page or mid-character);
                # earlier, the XML itself is broken.
                failure = "error:truncated_dump" if not chunk else "error:corrupt_dump"
            if handler.pages:
                if page_rules is None:
                    page_rules = _PageRules(options, handler)
                pages, handler.pages = handler.pages, []
                for page in pages:
                    doc = page_rules.document(page, source, file_key, skips)
                    if doc is not None:
                        yield doc
                page_rules.refuse_stub_dump(path, final=False)
            if not chunk:
                break
    if page_rules is not None:
        page_rules.refuse_stub_dump(path, final=True)
    if failure is not None:
        skips.skip(failure)


# -- pages ------------------------------------------------------------------------------------

class _PageRules:
    """Decides what each parsed page is (a document or a counted skip) for one dump."""

    def __init__(self, options: Options, site: "DumpHandler") -> None:
        self.options = options
        self.site = site
        names = {key: name for key, name in site.site_namespaces.items() if name}
        self.renderer = WikitextRenderer(_renderer_config(options, names))
        # Title prefix -> namespace, for dumps without <ns>: canonical, then local names, then aliases.
        self._namespace_keys = dict(CANONICAL_NAMESPACES)
        self._namespace_keys.update({_name_key(name): key for key, name in names.items()})
        self._namespace_keys.update({_name_key(name): key for name, key in options.namespace_aliases.items()})
        names = sorted({n.strip().lower() for n in options.disambiguation_templates if n.strip()}, key=len, reverse=True)
        # "{{Disambig}}", "{{disambig|...}}", "{{ Dab }}", "{{Template:Disambiguation}}" (first letter any case).
        self._disambiguation = re.compile(
            r"\{\{\s*(?:template\s*:\s*)?(?:" + "|".join(re.escape(n).replace(r"\ ", "[ _]+") for n in names)
            + r")\s*(?:\||\}\})", re.IGNORECASE) if names else None
        self.num_with_text = 0
        self.num_without_text = 0

    def document(self, page: dict[str, Any], source: str, file_key: str, skips: SkipCounter) -> dict | None:
        options, site = self.options, self.site
        revision: dict[str, str] = page.get("revision") or {}
        wikitext = revision.get("text", "")
        if wikitext:
            self.num_with_text += 1
        elif _missing_text_reason(page, revision) == "wiki_text_not_in_dump":
            self.num_without_text += 1
        if "redirect" in page or _REDIRECT_TEXT.match(wikitext):
            skips.skip("wiki_redirect")
            return None
        namespace = self.namespace_of(page)
        if namespace not in options.namespaces:
            skips.skip(f"wiki_namespace_{namespace}")
            return None
        if revision.get("model", "wikitext") != "wikitext":
            skips.skip("wiki_non_wikitext")
            return None
        reason = _missing_text_reason(page, revision)
        if reason is not None:
            skips.skip(reason)
            return None
        disambiguation = _DISAMBIG_MAGIC_WORD in wikitext or bool(
            self._disambiguation and "{{" in wikitext and self._disambiguation.search(wikitext))
        if disambiguation and options.skip_disambiguation:
            skips.skip("wiki_disambiguation")
            return None
        try:
            text = self.renderer.render(wikitext)
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
        if revision.get("revision_id", "").strip().isdigit():
            meta["revision_id"] = int(revision["revision_id"])
        if revision.get("timestamp"):
            meta["timestamp"] = revision["timestamp"].strip()
        if language:
            meta["language"] = language
        if site.dbname:
            meta["dbname"] = site.dbname
        if disambiguation:
            meta["disambiguation"] = True
        doc = {"id": make_doc_id(source, file_key, page_id or title), "text": text, "meta": meta}
        if site.url_prefix:
            doc["url"] = site.url_prefix + quote(title.replace(" ", "_"), safe=";@$!*(),/~:")
        else:  # a dump without <siteinfo><base>: provenance is the dump file itself
            doc["path"] = file_key
        return doc

    def namespace_of(self, page: dict[str, Any]) -> int:
        """The page's <ns>; without one (schema < 0.6), the namespace its title's prefix names."""
        ns = page.get("ns", "").strip()
        if ns.lstrip("-").isdigit():
            return int(ns)
        prefix, sep, _ = page.get("title", "").partition(":")
        return self._namespace_keys.get(_name_key(prefix), 0) if sep else 0

    def refuse_stub_dump(self, path: str, *, final: bool) -> None:
        """A stub dump (text left out of every page) would give zero documents: say so instead."""
        if self.num_with_text or self.num_without_text < (1 if final else _STUB_DUMP_PAGES):
            return
        raise InputError(
            f"{path}: its pages carry no text (<text bytes=\"N\" id=.../> with no content): this is a "
            "stub dump (stub-articles / stub-meta-history); use the pages-articles or pages-meta-history "
            "dump of the same date instead"
        )


def _missing_text_reason(page: dict[str, Any], revision: dict[str, str]) -> str | None:
    if "revision" not in page:
        return "wiki_no_revision"
    if revision.get("deleted"):
        return "wiki_text_deleted"
    if not revision.get("text") and revision.get("bytes", "0").strip() not in ("", "0"):
        return "wiki_text_not_in_dump"
    return None


def _name_key(name: str) -> str:
    """How a namespace name is compared: case-folded, "_" as " ", spaces collapsed."""
    return " ".join(name.lower().replace("_", " ").split())


def _renderer_config(options: Options, site_namespaces: dict[int, str]) -> WikitextConfig:
    local = {key: {_name_key(name)} for key, name in site_namespaces.items()}
    for name, key in options.namespace_aliases.items():
        local.setdefault(key, set()).add(_name_key(name))
    return WikitextConfig(
        keep_tables=options.keep_tables,
        keep_file_captions=options.keep_file_captions,
        keep_math=options.keep_math,
        keep_template_text=frozenset(name.lower() for name in options.keep_template_text),
        file_prefixes=CANONICAL_FILE_PREFIXES | local.get(FILE_NAMESPACE, set()) | local.get(MEDIA_NAMESPACE, set()),
        category_prefixes=CANONICAL_CATEGORY_PREFIXES | local.get(CATEGORY_NAMESPACE, set()),
        namespace_prefixes=frozenset(name for names in local.values() for name in names),
    )
