"""Cheap removal of markup that would be dropped anyway, before mwparserfromhell sees a page.

mwparserfromhell's C tokenizer is fast; its Python tree builder is not, and most of a page's nodes
are ones the renderer throws away: citation templates inside <ref>s, infoboxes and navboxes,
table cells, list markers. Removing them here, with exact rules that follow MediaWiki's own syntax,
roughly doubles throughput (see benchmarks/bench_wikipedia_books.py):

- comments and <ref>/<references>: neither nests;
- <math> when math is not kept: does not nest;
- templates: balanced `{{ ... }}` pairs, nested ones included, except templates whose text is kept
  (`keep_template_text`); regions where braces are literal (<nowiki>, <pre>, <syntaxhighlight>,
  <source>, <code>) are not scanned;
- tables when not kept: `{|` ... `|}` at line starts, nested ones included; a table never closed
  ends at the next section heading;
- list markers (`*`, `#`, `:`, `;` at the start of a line): the renderer drops them anyway;
- plain links, `[[Target]]` and `[[Target|text]]` with no namespace colon and no markup inside,
  become their display text (what the renderer would output); links with a colon (files,
  categories, interwiki) and nested ones are left to the parser.

Whatever is unbalanced is left for the parser and the renderer's final clean-up.
"""
from __future__ import annotations

import re

_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_REF_SELF_CLOSING = re.compile(r"<ref\b[^>]*?/\s*>", re.IGNORECASE)
_REF_PAIRED = re.compile(r"<ref\b[^>]*>.*?</ref\s*>", re.IGNORECASE | re.DOTALL)
_REFERENCES = re.compile(r"<references\b[^>]*?(?:/\s*>|>.*?</references\s*>)", re.IGNORECASE | re.DOTALL)
_MATH = re.compile(r"<math\b[^>]*?(?:/\s*>|>.*?</math\s*>)", re.IGNORECASE | re.DOTALL)
_LITERAL_REGION = re.compile(
    r"<(nowiki|pre|syntaxhighlight|source|code)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL
)
_BRACES = re.compile(r"\{\{|\}\}")
_TEMPLATE_NAME = re.compile(r"[^|{}]*")
_TABLE_OPEN = re.compile(r"^[:\s]*\{\|")
_TABLE_CLOSE = re.compile(r"^\s*\|\}")
_HEADING = re.compile(r"^=+.+=+\s*$")
_LIST_MARKERS = re.compile(r"^[*#:;]+[ \t]*", re.MULTILINE)
_PLAIN_LINK = re.compile(r"\[\[([^\[\]{}|<>:\n]+)(?:\|([^\[\]{}<>|\n]*))?\]\]")
_PARENTHESISED_TAIL = re.compile(r"\s*\(.*\)\s*$")
# A link target that ends like a media file is a file link even without a namespace prefix
# (a local alias, or a broken link that lost its colon): the renderer drops those.
MEDIA_SUFFIX = re.compile(
    r"\.(?:jpe?g|png|gif|svg|tiff?|webp|bmp|xcf|ogg|ogv|oga|opus|webm|mp3|mp4|wav|flac|mid|midi|pdf|djvu|stl)\s*$",
    re.IGNORECASE,
)
_SIZE_OPTION = re.compile(r"\d\s*px\b")


def prestrip(wikitext: str, *, keep_templates: frozenset[str], keep_tables: bool, keep_math: bool) -> str:
    text = _COMMENT.sub("", wikitext)
    text = _REFERENCES.sub("", text)
    text = _REF_SELF_CLOSING.sub("", text)
    text = _REF_PAIRED.sub("", text)
    if not keep_math:
        text = _MATH.sub("", text)
    if "{{" in text:
        text = strip_templates(text, keep_templates)
    if not keep_tables and "{|" in text:
        text = strip_tables(text)
    text = _LIST_MARKERS.sub("", text)
    return _PLAIN_LINK.sub(_link_text, text) if "[[" in text else text


def _link_text(match: re.Match) -> str:
    target, label = match.group(1), match.group(2)
    if MEDIA_SUFFIX.search(target) or (label and _SIZE_OPTION.search(label)):
        return match.group(0)  # a file link: the renderer's rules decide
    if label is None:
        return target.replace("_", " ").strip()
    if not label.strip():  # the pipe trick: [[Paris (France)|]] shows "Paris"
        return _PARENTHESISED_TAIL.sub("", target)
    return label


def strip_templates(text: str, keep: frozenset[str]) -> str:
    """Remove every balanced top-level {{...}} whose name is not in `keep` (lower-case names)."""
    literal = [m.span() for m in _LITERAL_REGION.finditer(text)] if "<" in text else []
    spans: list[tuple[int, int]] = []
    stack: list[int] = []
    region = 0
    for match in _BRACES.finditer(text):
        position = match.start()
        while region < len(literal) and literal[region][1] <= position:
            region += 1
        if region < len(literal) and literal[region][0] <= position:
            continue  # braces inside <nowiki>/<pre>/... are text
        if match.group() == "{{":
            stack.append(position)
        elif stack:
            start = stack.pop()
            if not stack:
                name = _TEMPLATE_NAME.match(text, start + 2).group().strip().lower().replace("_", " ")
                if name not in keep:
                    spans.append((start, match.end()))
    if not spans:
        return text
    pieces, last = [], 0
    for start, end in spans:
        pieces.append(text[last:start])
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def strip_tables(text: str) -> str:
    """Remove `{| ... |}` tables (nested too); one never closed runs to the next heading."""
    lines = text.split("\n")
    dropped = [False] * len(lines)
    depth, outer_start = 0, 0
    for index, line in enumerate(lines):
        if _TABLE_OPEN.match(line):
            if depth == 0:
                outer_start = index
            depth += 1
        if depth:
            dropped[index] = True
            if _TABLE_CLOSE.match(line):
                depth -= 1
    if depth:  # unclosed: it ends at the first heading after it; the rest is read afresh
        heading = next((i for i in range(outer_start + 1, len(lines)) if _HEADING.match(lines[i])), None)
        kept = [line for line, drop in zip(lines[:outer_start], dropped) if not drop]
        if heading is None:
            return "\n".join(kept)
        return "\n".join(kept + [strip_tables("\n".join(lines[heading:]))])
    return "\n".join(line for line, drop in zip(lines, dropped) if not drop)
