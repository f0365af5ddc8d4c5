"""HTML bytes -> Unicode -> main text: charset choice, an HTML sniff, and the two extractors.

Charset order (what a browser does, plus a safety net for mislabelled pages):
BOM, then UTF-8 when the bytes are valid UTF-8 (and not plain ASCII), then the HTTP
`Content-Type` charset, then `<meta charset>` / `http-equiv` in the first 4 KiB, then
detection (uchardet through resiliparse). A declared charset is used only if the bytes
decode with it (allowing a few stray invalid bytes); otherwise the next source is tried, so a page
served as UTF-8 but written in EUC-JP still decodes as EUC-JP. Labels are mapped to the WHATWG
names (ISO-8859-1 -> windows-1252, gb2312 -> gbk, ...), which is how the web actually uses them.
"""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Literal

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import bytes_to_str, detect_encoding, map_encoding_to_html5
from resiliparse.parse.html import HTMLTree

ExtractorName = Literal["resiliparse", "trafilatura"]

# How much of the page the <meta> scan and the HTML sniff look at (browsers prescan 1024 bytes;
# pages with long <head> preambles put the tag later, so look a little further).
META_SCAN_BYTES = 4096
SNIFF_BYTES = 1024
# A declared charset survives this share of undecodable bytes (one stray byte in a UTF-8 page
# must not flip the whole page to a legacy codepage).
MAX_INVALID_SHARE = 0.005

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CHARSET_PARAM = re.compile(rb"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.IGNORECASE)
_META_CHARSET = re.compile(
    rb"""<meta\b[^>]*?\bcharset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.IGNORECASE
)
# Markup that only an HTML document starts with (after BOM / whitespace / XML prolog / comments).
_HTML_START = re.compile(
    rb"""\A(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*"""
    rb"""<(?:!doctype\s+html|html|head|body|title|meta|script)\b""",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class DecodedHtml:
    html: str
    charset: str  # Python codec name actually used
    charset_source: str  # bom | http | meta | detected


def charset_from_content_type(content_type: str | None) -> str | None:
    """The raw `charset=` parameter of a Content-Type header value, if any."""
    if not content_type:
        return None
    match = _CHARSET_PARAM.search(content_type.encode("latin-1", "replace"))
    return match.group(1).decode("ascii") if match else None


def _codec_for_label(label: str | None) -> str | None:
    if not label:
        return None
    codec = map_encoding_to_html5(label, fallback_utf8=False)
    if codec is None:
        return None
    # A UTF-16 label without a BOM on an ASCII-looking page is a mislabel (WHATWG treats a
    # <meta> UTF-16 label as UTF-8); real UTF-16 pages carry a BOM, handled before this.
    if codec.startswith("utf-16"):
        return "utf-8"
    return codec


def _decode_if_plausible(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        pass
    except LookupError:
        return None
    text = data.decode(codec, errors="replace")
    if text.count("\ufffd") <= MAX_INVALID_SHARE * max(len(text), 1):
        return text
    return None


def decode_html(payload: bytes, http_content_type: str | None = None) -> DecodedHtml:
    """Decode an HTML payload to str, choosing the charset as described in the module doc."""
    for bom, codec in _BOMS:
        if payload.startswith(bom):
            return DecodedHtml(payload[len(bom):].decode(codec, errors="replace"), codec, "bom")

    candidates: list[tuple[str, str | None]] = [
        ("http", _codec_for_label(charset_from_content_type(http_content_type)))
    ]
    meta = _META_CHARSET.search(payload[:META_SCAN_BYTES])
    candidates.append(("meta", _codec_for_label(meta.group(1).decode("ascii")) if meta else None))
    if not payload.isascii():
        # Non-ASCII bytes that are valid UTF-8 are UTF-8 whatever the label says: legacy
        # text (windows-1252, Shift_JIS, GBK...) is practically never valid UTF-8, while UTF-8
        # pages served with a server's default `charset=ISO-8859-1` are common, and taking
        # the label would turn every accented letter into mojibake ("Ã©").
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            source = next((s for s, codec in candidates if codec == "utf-8"), "detected")
            return DecodedHtml(text, "utf-8", source)
    tried: set[str] = set()
    for source, codec in candidates:
        if codec is None or codec in tried:
            continue
        tried.add(codec)
        text = _decode_if_plausible(payload, codec)
        if text is not None:
            return DecodedHtml(text, codec, source)

    detected = detect_encoding(payload)  # WHATWG-mapped; utf-8 when uchardet has no answer
    # bytes_to_str falls back to UTF-8, then windows-1252, then replaces: it never raises here.
    return DecodedHtml(bytes_to_str(payload, detected, errors="replace"), detected, "detected")


def looks_like_html(payload: bytes) -> bool:
    """True when the payload starts like an HTML document (for missing or lying Content-Types)."""
    return _HTML_START.match(payload[:SNIFF_BYTES]) is not None


@dataclass(frozen=True, slots=True)
class ResiliparseSettings:
    """Options passed to resiliparse's extract_plain_text (chosen on the trafilatura ground truth;
    see benchmarks/extraction_quality.py)."""

    main_content: bool = True
    preserve_formatting: bool = True
    list_bullets: bool = False
    alt_texts: bool = False
    links: bool = False
    form_fields: bool = False
    noscript: bool = False
    comments: bool = False


# resiliparse's main-content extraction takes time quadratic in the DOM's depth (measured here:
# 1,000 levels 0.09 s, 3,000 1.1 s, 10,000 11 s, 100,000 over 300 s), all inside one C++ call
# that no timer can interrupt. Real pages are shallow (at most 41 levels in the 1,033 real pages
# of the shared data), so a page nested deeper than this is refused before extraction.
MAX_DOM_DEPTH = 1000
# An element MAX_DOM_DEPTH levels down, found by lexbor's own selector engine (~1 ms a page).
_TOO_DEEP_SELECTOR = " > ".join(["*"] * MAX_DOM_DEPTH)


class HtmlTooDeep(ValueError):
    """A page whose elements nest deeper than MAX_DOM_DEPTH (counted `html_too_deep`)."""


def extract_text_resiliparse(html: str, settings: ResiliparseSettings = ResiliparseSettings()) -> str:
    tree = HTMLTree.parse(html)
    # MAX_DOM_DEPTH levels need at least as many tags: most pages skip the check.
    if html.count("<") > MAX_DOM_DEPTH and tree.document.query_selector(_TOO_DEEP_SELECTOR) is not None:
        raise HtmlTooDeep(f"elements nested deeper than {MAX_DOM_DEPTH} levels")
    return extract_plain_text(
        tree,
        main_content=settings.main_content,
        preserve_formatting=settings.preserve_formatting,
        list_bullets=settings.list_bullets,
        alt_texts=settings.alt_texts,
        links=settings.links,
        form_fields=settings.form_fields,
        noscript=settings.noscript,
        comments=settings.comments,
    ).strip()


def extract_text_trafilatura(html: str, url: str | None = None) -> str:
    # Imported lazily: trafilatura pulls in lxml, justext, courlan... (~0.5 s) and the
    # resiliparse path must not pay for it.
    import trafilatura

    # datatrove's (FineWeb's) settings, except deduplicate: trafilatura dedups against a
    # process-wide LRU cache, so a page's text would depend on which pages the same worker read
    # before (the aut_example WARC and its ARC twin gave 73 vs 70 documents). Same ground-truth
    # scores without it; cross-document dedup is the dedup stage's job.
    text = trafilatura.extract(
        html,
        url=url,
        favor_precision=True,
        include_comments=False,
        deduplicate=False,
    )
    return (text or "").strip()


def extract_main_text(html: str, extractor: ExtractorName, url: str | None = None) -> str:
    if extractor == "resiliparse":
        return extract_text_resiliparse(html)
    if extractor == "trafilatura":
        return extract_text_trafilatura(html, url)
    raise ValueError(f"unknown extractor {extractor!r}; choose 'resiliparse' or 'trafilatura'")
