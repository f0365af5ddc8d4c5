"""MediaWiki wikitext -> plain text, with mwparserfromhell.

What survives: paragraphs, headings (each on its own line), list items (without their markers),
the display text of links, and the text of a few inline templates (`keep_template_text`). What goes:
templates, references, files/images, categories, interlanguage links, tables, math, galleries,
HTML comments, bold/italic markup, magic words. Tables, file captions and math can be kept.

mwparserfromhell's tree builder is slow on big pages, so what would be dropped anyway (comments,
refs, templates, tables, list markers) is cut out first by exact, syntax-following rules
(corpora/wikitext_prestrip.py); the parser then sees a fraction of the page. Whatever could not be
balanced (an unclosed `{{` or `{|`) falls through as text; a final line-level pass removes that
residue so no markup reaches the corpus.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

import mwparserfromhell
from mwparserfromhell.nodes import (
    Argument,
    Comment,
    ExternalLink,
    Heading,
    HTMLEntity,
    Tag,
    Template,
    Text,
    Wikilink,
)

from corpora.wikitext_prestrip import MEDIA_SUFFIX, prestrip

# Canonical (English) names, valid on every wiki besides the local ones read from <siteinfo>.
CANONICAL_FILE_PREFIXES = frozenset({"file", "image", "media"})
CANONICAL_CATEGORY_PREFIXES = frozenset({"category"})

# An interlanguage link ([[fr:Paris]]) renders nothing in the article body.
_LANGUAGE_PREFIX = re.compile(r"^[a-z]{2,3}(?:-[a-z]{2,8})*$")

# Rendered headings carry this mark until the final clean-up, which needs to see section starts.
_HEADING_MARK = "\ue000"  # private use: never in real text, and not whitespace to strip()
_STYLE_QUOTES = re.compile(r"'{2,}")
_MAGIC_WORD = re.compile(r"__[^\W_]+__")
_LEFTOVER_TAG = re.compile(r"</?(?:ref|references)\b[^>]*>", re.IGNORECASE)
_LEFTOVER_HTML = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?>")
_EMPTY_PARENS = re.compile(r"[(（]\s*(?:[,;:、，；]\s*)*[)）]")
_PAREN_LEADING_PUNCT = re.compile(r"([(（])\s*[,;:，；]+\s*")
_SPACE_BEFORE_PUNCT = re.compile(r" +([,.)])")
_SPACES = re.compile(r"[ \u00a0]{2,}")
_BLANK_LINES = re.compile(r"\n{3,}")

# File link options, as opposed to its caption (the last "|" part that is not an option).
_FILE_OPTION = re.compile(
    r"^\s*(?:thumb|thumbnail|frame|framed|frameless|border|left|right|center|centre|none|upright"
    r"(?:\s*=?\s*[\d.]+)?|\d*x?\d+\s*px|alt\s*=.*|link\s*=.*|page\s*=.*|class\s*=.*|lang\s*=.*)\s*$",
    re.IGNORECASE,
)
_SIZE_OPTION = re.compile(r"(?:^|\|)\s*\d*x?\d+\s*px\s*(?:\||$)")
# What is left of a file link whose "[[File:" was lost: "...|thumb|250px|" before its caption.
_FILE_OPTIONS_RESIDUE = re.compile(r"[^\n\[\]]*\|\s*\d*x?\d+\s*px\s*\|")

# Tags whose content is not prose (or is markup of its own).
_DROPPED_TAGS = frozenset({
    "ref", "references", "gallery", "timeline", "imagemap", "graph", "mapframe", "maplink",
    "templatestyles", "templatedata", "score", "inputbox", "categorytree", "style", "script",
    "indicator", "section", "includeonly", "hiero", "chem", "ce", "charinsert", "dynamicpagelist",
})
_TABLE_TAGS = frozenset({"table", "tr", "td", "th", "caption", "tbody", "thead", "tfoot"})
_LINE_BREAK_TAGS = frozenset({"br", "hr", "p", "div", "li", "dd", "dt", "ul", "ol", "dl", "blockquote", "center", "poem", "pre"})


@dataclass(frozen=True, kw_only=True, slots=True)
class WikitextConfig:
    keep_tables: bool = False
    keep_file_captions: bool = False
    keep_math: bool = False
    # Templates (lower-case names) whose last positional argument is inline prose, e.g. {{lang|fr|Paris}}.
    keep_template_text: frozenset[str] = frozenset({"lang", "nowrap", "nobr", "small", "transl", "script"})
    # Lower-cased namespace names; the wiki's local names are added from <siteinfo>.
    file_prefixes: frozenset[str] = CANONICAL_FILE_PREFIXES
    category_prefixes: frozenset[str] = CANONICAL_CATEGORY_PREFIXES
    # Every prefix that names a namespace of this wiki: such links are never interlanguage links.
    namespace_prefixes: frozenset[str] = field(default=frozenset())


class WikitextRenderer:
    """Renders one page's wikitext to plain text. Stateless apart from its config; reuse it."""

    def __init__(self, config: WikitextConfig) -> None:
        self.config = config
        prefixes = sorted(config.file_prefixes | config.category_prefixes, key=len, reverse=True)
        self._unclosed_link = re.compile(
            r"\[\[\s*:?\s*(?:" + "|".join(re.escape(p) for p in prefixes) + r")\s*:[^\n\]]*?(?:\]\]|$)",
            re.IGNORECASE | re.MULTILINE,
        )

    def render(self, wikitext: str) -> str:
        config = self.config
        source = prestrip(wikitext, keep_templates=config.keep_template_text,
                          keep_tables=config.keep_tables, keep_math=config.keep_math)
        parsed = mwparserfromhell.parse(source, skip_style_tags=True)
        out: list[str] = []
        self._render_nodes(parsed.nodes, out)
        return _clean_text("".join(out), keep_tables=self.config.keep_tables)

    # -- nodes -------------------------------------------------------------------------------
    def _render_nodes(self, nodes, out: list[str]) -> None:
        for node in nodes:
            kind = type(node)
            if kind is Text:
                value = node.value
                if "|" in value or "[[" in value:
                    value = self._strip_link_residue(value)
                out.append(value)
            elif kind is Wikilink:
                self._render_wikilink(node, out)
            elif kind is Template:
                self._render_template(node, out)
            elif kind is Tag:
                self._render_tag(node, out)
            elif kind is Heading:
                title: list[str] = []
                self._render_nodes(node.title.nodes, title)
                out.append("\n" + _HEADING_MARK + " ".join("".join(title).split()) + "\n")
            elif kind is HTMLEntity:
                out.append(node.normalize())
            elif kind is ExternalLink:
                if node.title is not None:
                    self._render_nodes(node.title.nodes, out)
                elif not node.brackets:  # a bare URL in running text is part of the prose
                    out.append(str(node.url))
            elif kind is Comment or kind is Argument:
                continue
            # Any other node kind (none in mwparserfromhell 0.7) is markup: dropped.

    def _render_wikilink(self, link: Wikilink, out: list[str]) -> None:
        target = str(link.title).strip()
        visible = target.startswith(":")  # [[:Category:X]] is a visible link, not a tag
        target = target.lstrip(":").strip()
        prefix, sep, rest = target.partition(":")
        # Namespace names compare as MediaWiki normalises titles: any case, "_" = " ", spaces trimmed.
        prefix = " ".join(prefix.lower().replace("_", " ").split()) if sep else ""
        config = self.config
        if self._is_file_link(link, prefix, rest if sep else target):
            if config.keep_file_captions and link.text is not None and not visible:
                caption = str(link.text).split("\n\n", 1)[0].rsplit("|", 1)[-1]
                if not _FILE_OPTION.match(caption):
                    self._render_nodes(mwparserfromhell.parse(caption, skip_style_tags=True).nodes, out)
            if link.text is not None:
                self._render_after_paragraph_break(link.text.nodes, out)
            return
        if prefix in config.category_prefixes:
            if visible:  # "see also [[:Category:Births 1944]]": the category's own name reads as prose
                out.append(str(link.text) if link.text is not None and str(link.text).strip() else rest.strip())
            return
        if sep and link.text is None and prefix not in config.namespace_prefixes and _LANGUAGE_PREFIX.match(prefix):
            return  # interlanguage link: shown in the sidebar, not in the text
        if link.text is not None:
            if str(link.text).strip():
                self._render_nodes(link.text.nodes, out)
            else:  # the pipe trick: [[Paris (France)|]] shows "Paris"
                out.append(re.sub(r"\s*\(.*\)\s*$", "", rest if sep else target))
        else:
            out.append(target.replace("_", " "))

    def _render_after_paragraph_break(self, nodes, out: list[str]) -> None:
        """A file link missing its "]]" swallows the paragraphs up to some later "]]": a caption
        never spans a blank line, so whatever follows the first one is article text."""
        for index, node in enumerate(nodes):
            if type(node) is Text and "\n\n" in node.value:
                out.append("\n\n" + node.value.split("\n\n", 1)[1])
                self._render_nodes(nodes[index + 1:], out)
                return

    def _is_file_link(self, link: Wikilink, prefix: str, name: str) -> bool:
        if prefix in self.config.file_prefixes:
            return True
        if prefix in self.config.category_prefixes or prefix in self.config.namespace_prefixes:
            return False
        # A local alias <siteinfo> does not list ("Hình:"), or a broken link that lost its colon.
        if MEDIA_SUFFIX.search(name):
            return True
        if link.text is None:
            return False
        # [[Alias:Name|thumb|Caption]]: options such as "thumb" or "250px" before the caption.
        options = str(link.text).split("|")[:-1]
        return bool(_SIZE_OPTION.search(str(link.text))) or any(_FILE_OPTION.match(o) for o in options)

    def _strip_link_residue(self, text: str) -> str:
        """Unclosed file/category links stay text: "[[File:x.jpg|thumb|" and "...|250px|"."""
        text = self._unclosed_link.sub("", text)
        return _FILE_OPTIONS_RESIDUE.sub("", text)

    def _render_template(self, template: Template, out: list[str]) -> None:
        name = str(template.name).strip().lower().replace("_", " ")
        if name not in self.config.keep_template_text:
            return
        positional = [p for p in template.params if not p.showkey]
        if positional:
            self._render_nodes(positional[-1].value.nodes, out)

    def _render_tag(self, tag: Tag, out: list[str]) -> None:
        name = str(tag.tag).strip().lower()
        if name in _DROPPED_TAGS:
            return
        if name in _TABLE_TAGS:
            if not self.config.keep_tables:
                out.append("\n")
                return
            if name == "tr":
                out.append("\n")
            if tag.contents is not None:
                self._render_nodes(tag.contents.nodes, out)
            if name in ("td", "th"):
                out.append("\t")
            if name == "table":
                out.append("\n")
            return
        if name == "math":
            if self.config.keep_math and tag.contents is not None:
                out.append(str(tag.contents))
            return
        if tag.wiki_markup is not None and name in ("li", "dd", "dt", "hr"):
            # List markers (*, #, :, ;) and ----: the item's text follows as a sibling node.
            if name == "hr":
                out.append("\n")
            return
        if name in _LINE_BREAK_TAGS:
            out.append("\n")
        if tag.contents is not None:
            self._render_nodes(tag.contents.nodes, out)
            if name in _LINE_BREAK_TAGS and name != "br":
                out.append("\n")


def _strip_unparsed_tables(lines: list[str]) -> list[str]:
    """Drop wikitable syntax the parser left as text (an unbalanced `{|`), and the parameter lines
    (`| name = value`) of an unclosed template: neither is ever prose."""
    kept: list[str] = []
    depth = 0
    for line in lines:
        stripped = line.lstrip()
        if stripped.startswith("{|"):
            depth += 1
        elif depth:
            if stripped.startswith("|}"):
                depth -= 1
            elif stripped.startswith(_HEADING_MARK):  # an unclosed table ends at the next section
                depth = 0
                kept.append(line)
        elif not stripped.startswith("|"):
            kept.append(line)
    return kept


def _clean_text(text: str, *, keep_tables: bool) -> str:
    text = _STYLE_QUOTES.sub("", text)
    text = _MAGIC_WORD.sub("", text)
    text = _LEFTOVER_TAG.sub("", text)
    text = _LEFTOVER_HTML.sub("", text)
    text = html.unescape(text)  # entities escaped twice in the source ("&amp;nbsp;")
    lines = text.split("\n")
    if not keep_tables:
        lines = _strip_unparsed_tables(lines)
    text = "\n".join(lines).replace(_HEADING_MARK, "")
    text = text.replace("{{", "").replace("}}", "").replace("[[", "").replace("]]", "")
    text = _EMPTY_PARENS.sub("", text)
    text = _PAREN_LEADING_PUNCT.sub(r"\1", text)
    text = _SPACES.sub(" ", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()
