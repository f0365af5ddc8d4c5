"""The walk over a paper's parsed LaTeX that writes its text (pylatexenc parses; this renders).

pylatexenc's LatexWalker does the parsing: macro arguments by their argument specs (its default
LaTeX context plus the specs below), environments, math, TeX specials. Its LatexNodes2Text is used
only for leaf macros it knows (accents `\\'e`, `\\c{c}`, symbols `\\%`, `\\ss`, `\\LaTeX`): for the
rest it would turn math into Unicode approximations and keep figure bodies, where a model trained
on arXiv should see math as LaTeX source and figures as captions. So this module hand-writes the
rendering:

* math (`$..$`, `\\(..\\)` -> `$..$`, `\\[..\\]`, `$$..$$`, equation/align/... environments) is kept
  as its LaTeX source minus `\\label{}`; display math on its own line, `equation`, `equation*`
  and `displaymath` written as `\\[ .. \\]`;
* sectioning -> Markdown heading lines (`##` section, `###` subsection, `####` subsubsection),
  `\\paragraph{X}` -> a bold run-in `**X**`;
* figure/table/algorithm floats -> one `Figure: <caption>` / `Table: <caption>` line per caption
  (code listings inside a float are kept); tabular, tikz, pictures outside floats are dropped;
* `\\cite`, `\\citep`, ... (parenthetical) removed; `\\citet`, `\\textcite`, `\\citeauthor` (part of
  the sentence) -> `citation_placeholder`; `\\ref`, `\\eqref`, `\\cref`, ... -> `ref_placeholder`;
  `\\label` removed; `\\footnote{x}` -> ` (x)`;
* lists -> `- item` lines (nested ones indented), theorem-like environments -> `**Theorem.** ..`,
  verbatim/lstlisting/minted blocks -> fenced code blocks;
* `--` `---` `~` quotes -> their characters; other macros keep the text of their braced arguments,
  unless they are layout (`\\vspace`, `\\setlength`, `\\includegraphics`, ...).
"""
from __future__ import annotations

import re

from pylatexenc.latex2text import LatexNodes2Text
from pylatexenc.latex2text import get_default_latex_context_db as text_context_db
from pylatexenc.latexwalker import (
    LatexCharsNode,
    LatexEnvironmentNode,
    LatexGroupNode,
    LatexMacroNode,
    LatexMathNode,
    LatexSpecialsNode,
    LatexWalker,
)

from corpora.papers_sources import VerbatimBlock
from corpora.papers_vocabulary import (
    ACCENTS,
    ACRONYM_FIRST_USE,
    ACRONYM_FULL,
    ACRONYM_LONG,
    ACRONYM_SHORT,
    AS_BRACKET_MATH,
    AUTHOR_NOISE,
    DROPPED_ENVIRONMENTS,
    DROPPED_MACROS,
    FIRST_HEADING,
    FLOATS,
    HEADING_LEVELS,
    LINE,
    LISTS,
    LOGOS,
    MATH_ENVIRONMENTS,
    PANDOC_ESCAPES,
    PARAGRAPH,
    PARENTHETICAL_CITES,
    REFS,
    RUN_IN_HEADINGS,
    SPECIALS,
    TEXTUAL_CITES,
    THEOREMS,
    latex_context,
)

_PROTECTED = re.compile(r"\x00(\d+)\x00")
_UNIT = r"(?:pt|em|ex|cm|mm|in|bp|sp|pc)(?![A-Za-z])"
_ASSIGNMENT = re.compile(rf"^\s*(?:=\s*-?\d*\.?\d+\s*(?:{_UNIT})?|-?\d*\.?\d+\s*{_UNIT})")
_LABEL = re.compile(r"\\label\s*\{[^{}]*\}")
_BLOCK_MACRO = re.compile(r"\\cmverbatimblock\{(\d+)\}")
_TOK_MACRO = re.compile(r"\\[A-Za-z]+Tok\{((?:[^{}\\]|\\.)*)\}")  # pandoc's highlighting markup

class PaperRenderer:
    """Renders parsed nodes; collects title, authors and abstract wherever they are met."""

    def __init__(self, blocks: list[VerbatimBlock], theorem_names: dict[str, str], *,
                 citation_placeholder: str, ref_placeholder: str,
                 acronyms: dict[str, tuple[str, str]] | None = None):
        self.blocks = blocks
        self.acronyms = acronyms or {}  # key -> (short, long), from \newacronym / \acro
        self._acronyms_used: set[str] = set()
        self.theorems = {**THEOREMS, **theorem_names}
        self.citation_placeholder = citation_placeholder
        self.ref_placeholder = ref_placeholder
        self.protected: list[str] = []
        self.title: str | None = None
        self.authors: list[str] = []
        self.abstract: list[str] = []
        self.num_headings = 0
        self._context = latex_context(self.theorems)
        self._leaf_text = LatexNodes2Text(latex_context=text_context_db(), math_mode="verbatim")
        self._leaf_specs = text_context_db()
        self._list_depth = 0
        self._in_abstract = False

    def parse(self, latex: str):
        walker = LatexWalker(latex, latex_context=self._context, tolerant_parsing=True)
        nodes, _, _ = walker.get_latex_nodes()
        return nodes

    # -- nodes --------------------------------------------------------------------------------

    def render(self, nodes) -> str:
        out, previous = [], None
        for node in nodes or ():
            text = self.node(node)
            if isinstance(node, LatexCharsNode) and isinstance(previous, LatexMacroNode) and not (
                    previous.nodeargd and previous.nodeargd.argnlist):
                text = _ASSIGNMENT.sub("", text, count=1)  # `\looseness=-1`, `\parindent 0pt`
            out.append(text)
            previous = node
        return "".join(out)

    def node(self, node) -> str:
        if node is None:
            return ""
        if isinstance(node, LatexCharsNode):
            return node.chars
        if isinstance(node, LatexGroupNode):
            return self.render(node.nodelist)
        if isinstance(node, LatexSpecialsNode):
            return SPECIALS.get(node.specials_chars, "")
        if isinstance(node, LatexMathNode):
            return self.math(node)
        if isinstance(node, LatexMacroNode):
            return self.macro(node)
        if isinstance(node, LatexEnvironmentNode):
            return self.environment(node)
        return ""  # comments (already stripped from the source)

    def protect(self, text: str) -> str:
        self.protected.append(text)
        return f"\x00{len(self.protected) - 1}\x00"

    def _math_source(self, source: str) -> str:
        source = _LABEL.sub("", source)
        return _BLOCK_MACRO.sub(lambda m: self.blocks[int(m.group(1))].content, source)

    def math(self, node: LatexMathNode) -> str:
        source = self._math_source(node.latex_verbatim())
        if node.displaytype == "inline":
            inner = source[1:-1] if source.startswith("$") else source[2:-2]
            return self.protect("$" + " ".join(inner.split()) + "$")
        return LINE + self.protect(_dedent(source)) + LINE

    def macro(self, node: LatexMacroNode) -> str:
        name = node.macroname
        args = node.nodeargd.argnlist if node.nodeargd is not None else []
        last = next((arg for arg in reversed(args) if arg is not None), None)
        if name in HEADING_LEVELS and not self._in_abstract:
            self.num_headings += 1
            marker = FIRST_HEADING if self.num_headings == 1 else ""
            return f"{PARAGRAPH}{marker}{HEADING_LEVELS[name]} {self.inline(last)}{PARAGRAPH}"
        if name in RUN_IN_HEADINGS or name in HEADING_LEVELS:  # (in an abstract: "Motivation:")
            return f"{PARAGRAPH}**{self.inline(last)}** "
        if name == "cmverbatimblock":
            return self.verbatim(self.blocks[int(self.inline(last))])
        if name in PARENTHETICAL_CITES or name in DROPPED_MACROS:
            return ""
        if name in TEXTUAL_CITES:
            return self.citation_placeholder
        if name in REFS:
            return self.ref_placeholder
        if name in ("title", "Title"):
            self.title = self.title or self.inline(last)
            return ""
        if name == "author":
            self.authors.extend(self.author_names(last))
            return ""
        if name in ("abstract", "Abstract"):
            self.abstract.append(self.render_abstract([last]))
            return ""
        if name in ("acknowledgments", "acknowledgements"):  # AASTeX's heading macro
            return f"{PARAGRAPH}## Acknowledgments{PARAGRAPH}"
        if self.acronyms and last is not None and (
                name in ACRONYM_SHORT or name in ACRONYM_LONG or name in ACRONYM_FULL or name in ACRONYM_FIRST_USE):
            return self.acronym(name, self.inline(last))
        if name in ("footnote", "footnotetext"):
            return f" ({self.inline(last)})"
        if name in ("mintinline", "lstinline"):  # made by a macro expansion: its code as written
            code = last.latex_verbatim()[1:-1] if isinstance(last, LatexGroupNode) else self.inline(last)
            return self.protect(f"`{code}`")
        if name == "href":
            return self.render([args[1]]) if len(args) > 1 else ""
        if name == "texorpdfstring":
            return self.render([args[0]]) if args else ""
        if name == "$":  # kept escaped: a bare `$` would read as the start of math
            return self.protect("\\$")
        if name in ("\\", "newline", "linebreak"):
            return LINE
        if name == "par":
            return PARAGRAPH
        if name in ("caption", "captionof", "subcaption"):  # a caption outside a float
            return f"{PARAGRAPH}{self.inline(last)}{PARAGRAPH}"
        if args:
            if name in ACCENTS or (len(args) == 1 and self._leaf_specs.get_macro_spec(name) is not None
                                   and name not in ("textbf", "emph", "textit", "text", "mbox", "url")):
                return self._leaf(node)
            return "".join(self.render([arg]) for arg, kind in zip(args, _arg_kinds(node)) if kind == "{")
        return self._leaf(node)

    def acronym(self, name: str, key: str) -> str:
        short, long = self.acronyms.get(key, (key, key))
        if name in ACRONYM_FIRST_USE:
            first = key not in self._acronyms_used
            self._acronyms_used.add(key)
            plural = ACRONYM_FIRST_USE[name]
            text = f"{long}{plural} ({short}{plural})" if first else short + plural
        elif name in ACRONYM_LONG:
            text = long + ACRONYM_LONG[name]
        elif name in ACRONYM_FULL:
            text = f"{long}{ACRONYM_FULL[name]} ({short}{ACRONYM_FULL[name]})"
        else:
            text = short + ACRONYM_SHORT[name]
        return text[:1].upper() + text[1:] if name[0].isupper() else text

    def _leaf(self, node) -> str:
        if node.macroname in LOGOS:
            return LOGOS[node.macroname]
        if self._leaf_specs.get_macro_spec(node.macroname) is None:
            return ""  # an unknown macro without arguments: its braced text, if any, follows it
        try:
            return self._leaf_text.node_to_text(node)
        except Exception:  # noqa: BLE001 - pylatexenc's text spec failed on odd arguments
            return ""

    def environment(self, node: LatexEnvironmentNode) -> str:
        name = node.environmentname
        if name in MATH_ENVIRONMENTS:
            source = self._math_source(node.latex_verbatim())
            if name in AS_BRACKET_MATH:
                inner = re.sub(r"^\\begin\s*\{[^}]*\}|\\end\s*\{[^}]*\}$", "", source.strip())
                source = "\\[" + inner.strip("\n") + "\n\\]" if "\n" in inner.strip() else f"\\[{inner.strip()}\\]"
            return LINE + self.protect(_dedent(source)) + LINE
        if name == "abstract":
            self.abstract.append(self.render_abstract(node.nodelist))
            return ""
        if name in FLOATS:
            return self.float_captions(node, FLOATS[name])
        if name in DROPPED_ENVIRONMENTS:
            return ""
        if name in LISTS:
            return self.list_items(node)
        if name in self.theorems:
            args = node.nodeargd.argnlist if node.nodeargd is not None else []
            label = self.theorems[name]
            if args and args[0] is not None:
                label += f" ({self.inline(args[0])})"
            style = "*" if name == "proof" else "**"
            return f"{PARAGRAPH}{style}{label}.{style} {self.render(node.nodelist)}{PARAGRAPH}"
        return self.render(node.nodelist)

    def render_abstract(self, nodes) -> str:
        self._in_abstract = True
        try:
            return self.render(nodes)
        finally:
            self._in_abstract = False

    def float_captions(self, node, kind: str) -> str:
        parts = []
        for inner in _walk(node.nodelist):
            if isinstance(inner, LatexMacroNode) and inner.macroname in ("caption", "captionof", "subcaption"):
                args = inner.nodeargd.argnlist if inner.nodeargd is not None else []
                last = next((arg for arg in reversed(args) if arg is not None), None)
                caption = self.inline(last).strip()
                if caption:
                    parts.append(f"{PARAGRAPH}{kind}: {caption}{PARAGRAPH}")
            elif isinstance(inner, LatexMacroNode) and inner.macroname == "cmverbatimblock":
                parts.append(self.macro(inner))
        return "".join(parts)

    def list_items(self, node) -> str:
        self._list_depth += 1
        indent = "  " * (self._list_depth - 1)
        out = []
        for child in node.nodelist:
            if isinstance(child, LatexMacroNode) and child.macroname == "item":
                args = child.nodeargd.argnlist if child.nodeargd is not None else []
                label = self.inline(args[0]) if args and args[0] is not None else ""
                out.append(f"{LINE}{indent}- " + (f"{label}: " if label else ""))
            else:
                out.append(self.node(child))
        self._list_depth -= 1
        return "".join(out) + LINE

    def verbatim(self, block: VerbatimBlock) -> str:
        if block.environment == "verb":
            return self.protect(f"`{block.content}`")
        content = block.content
        if block.environment == "Highlighting":  # pandoc's markup: \KeywordTok{def}, \{, \textbackslash{}
            for escaped, char in PANDOC_ESCAPES.items():
                content = content.replace(escaped, char)
            for _ in range(3):
                content = _TOK_MACRO.sub(r"\1", content)
            content = re.sub(r"\\([{}_$&%#])", r"\1", content).replace("\x05", "\\")
        language = re.search(r"language\s*=\s*\{?([\w+#-]+)|^\s*(?:\[[^\]]*\])?\s*\{([\w+#-]+)\}", block.options)
        tag = (language.group(1) or language.group(2)).lower() if language else ""
        return PARAGRAPH + self.protect(f"```{tag}\n{content.strip(chr(10))}\n```") + PARAGRAPH

    def inline(self, node) -> str:
        """A node's text on one line (headings, captions, titles)."""
        text = self.render([node]) if node is not None else ""
        return " ".join(re.sub(f"[{PARAGRAPH}{LINE}{FIRST_HEADING}]", " ", text).split())

    def author_names(self, node) -> list[str]:
        """`\\author{A \\and B}` -> ["A", "B"]: each part's first line, affiliations left out."""
        if node is None:
            return []
        nodes = node.nodelist if isinstance(node, LatexGroupNode) else [node]
        parts: list[list] = [[]]
        for child in nodes:
            if isinstance(child, LatexMacroNode) and child.macroname in ("and", "And", "AND"):
                parts.append([])
            elif not (isinstance(child, LatexMacroNode) and child.macroname in AUTHOR_NOISE) and not (
                    isinstance(child, LatexMathNode)):
                parts[-1].append(child)
        names = []
        for part in parts:
            text = re.sub(f"[{PARAGRAPH}{FIRST_HEADING}]", LINE, self.render(part))
            first = next((line for line in (" ".join(l.split()) for l in text.split(LINE)) if line), "")
            if first.strip(" ,"):
                names.append(first.strip(" ,"))
        return names

    def finish(self, text: str) -> str:
        """Markers and source line breaks -> final text; protected pieces put back."""
        text = re.sub(r"[ \t]*\n[ \t]*\n\s*", PARAGRAPH, text.replace(FIRST_HEADING, ""))
        text = text.replace("\n", " ").replace("\t", " ")
        text = re.sub(r" {2,}", " ", text)
        text = re.sub(r"\(\s*(?:e\.g\.|see|cf\.|i\.e\.)?[,;]?\s*\)|\[\s*\]", "", text)  # what removed citations leave
        text = re.sub(r" {2,}", " ", text)
        text = re.sub(r" +([.,;:!?)])", r"\1", text)
        text = re.sub(r"\( +", "(", text)
        text = re.sub(f"[ {LINE}{PARAGRAPH}]*[{LINE}{PARAGRAPH}][ {LINE}{PARAGRAPH}]*",
                      lambda m: "\n\n" if PARAGRAPH in m.group(0) else "\n", text)
        text = _PROTECTED.sub(lambda m: self.protected[int(m.group(1))], text)
        return text.strip()


def _arg_kinds(node) -> list[str]:
    spec = getattr(node.nodeargd, "argspec", "") or ""
    return [kind for kind in spec if kind in "{[*"][: len(node.nodeargd.argnlist)] if spec else ["{"] * len(
        node.nodeargd.argnlist)


def _walk(nodes):
    for node in nodes or ():
        yield node
        if isinstance(node, (LatexGroupNode, LatexEnvironmentNode)):
            yield from _walk(node.nodelist)
        elif isinstance(node, LatexMacroNode) and node.nodeargd is not None and node.macroname not in (
                "caption", "captionof", "subcaption"):
            yield from _walk([arg for arg in node.nodeargd.argnlist if arg is not None])


def _dedent(source: str) -> str:
    lines = [line.rstrip() for line in source.strip("\n").split("\n")]
    lines = [line for line in lines if line.strip()]
    margin = min((len(line) - len(line.lstrip()) for line in lines[1:]), default=0)
    return "\n".join([lines[0].strip()] + [line[margin:] for line in lines[1:]]) if lines else ""
