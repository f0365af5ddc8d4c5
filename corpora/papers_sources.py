"""A paper's TeX files -> its main file, flattened: verbatim set aside, comments gone, inputs spliced.

Main-file rule (documented in corpora/papers.py): among the `.tex` files that have both an
uncommented `\\documentclass` (or LaTeX 2.09's `\\documentstyle`) and `\\begin{document}`, drop
those another candidate pulls in with `\\input`/`\\include`/`\\subfile` (a subfiles project's
parts); of the rest take the one whose flattened text is longest (a paper beats its cover letter,
rebuttal and supplement because it pulls in its sections), ties broken by the shorter path, then
by name.

Flattening, per file, in this order (each step needs the one before):
1. verbatim-like environments (`verbatim`, `Verbatim`, `lstlisting`, `minted`, pandoc's
   `Highlighting`) and `\\verb|..|`/`\\lstinline|..|` are cut out and replaced by a placeholder
   macro (`\\cmverbatimblock{N}`), so a `%` or `\\input` inside code is left alone; a
   `comment` environment is dropped;
2. comments are removed the way TeX reads them: an unescaped `%` to the end of the line, the line
   break and the next line's leading blanks; `\\iffalse ... \\fi` (nesting counted) is dropped;
3. `\\input{x}`, `\\input x`, `\\include{x}`, `\\subfile{x}`, `\\import{dir}{x}`, `\\subimport{dir}{x}`
   are replaced by the file's flattened text, looked up relative to the main file's folder, then
   the including file's, then the root; `x`, then `x.tex` (names with spaces and quotes work). A
   file that includes itself through any chain is a cycle, a name found nowhere is missing: both
   are counted and left out, never fatal. An included file with its own `\\begin{document}`
   (subfiles, standalone) contributes only its body.
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from corpora.papers_bundle import decode_tex, is_binary

TEX_SUFFIXES = (".tex", ".ltx", ".latex")
MAX_INPUT_DEPTH = 32
VERBATIM_ENVIRONMENTS = ("verbatim*", "verbatim", "Verbatim*", "Verbatim", "BVerbatim", "LVerbatim",
                         "lstlisting", "minted", "Highlighting", "spverbatim", "CodeInput", "CodeOutput",
                         "Sinput", "Soutput", "Scode", "comment")
# Code environments a paper defines itself: \newminted{lean}{..} (-> leancode), \newminted[name]{..},
# \lstnewenvironment{name}, \DefineVerbatimEnvironment{name}, \newtcblisting{name}, and a
# \newenvironment{name} whose opening starts a verbatim one (\VerbatimEnvironment, \begin{minted}).
_CODE_ENVIRONMENT_DEFINITIONS = re.compile(
    rb"\\newminted\s*(?:\[([A-Za-z*]+)\])?\s*\{([A-Za-z0-9]+)\}"
    rb"|\\(?:lstnewenvironment|DefineVerbatimEnvironment|newtcblisting)\s*\{([A-Za-z*]+)\}"
    rb"|\\(?:re)?newenvironment\s*\{([A-Za-z*]+)\}(?:\s*\[[^\]]*\])*\s*\{\s*(?:\\VerbatimEnvironment|\\begin\s*\{(?:minted|Verbatim|lstlisting)\})")
_INLINE_VERBATIM = re.compile(r"\\(verb\*?|lstinline)(?![A-Za-z@])(?:\[[^\]\n]*\])?\s*([^\sA-Za-z{])")
_INLINE_BRACED = re.compile(r"\\(lstinline|mintinline\s*\{[^{}]*\})\s*\{([^{}\n]*)\}")
_COMMENT = re.compile(r"(?<!\\)((?:\\\\)*)%[^\n]*(?:\n[ \t]*)?")
_IF_TOKEN = re.compile(r"\\(iffalse|if(?!f(?![A-Za-z@])|thenelse)[A-Za-z@]*|fi)(?![A-Za-z@])")  # not \iff, \ifthenelse
_INPUT = re.compile(
    r"\\(input|include|subfile|subfileinclude|import|subimport|inputfrom|subinputfrom|includefrom|subincludefrom|variable)"
    r"(?![A-Za-z@])\*?[ \t]*(?:\{([^{}]*)\}(?:[ \t]*\{([^{}]*)\})?|([^\s{}\\%]+))")
_DOCUMENTCLASS = re.compile(r"\\document(?:class|style)\s*(?:\[[^\]]*\])?\s*\{([^{}]*)\}")
_BEGIN_DOCUMENT = re.compile(r"\\begin\s*\{document\}")
_END_DOCUMENT = re.compile(r"\\end\s*\{document\}")
_ENDINPUT = re.compile(r"\\endinput(?![A-Za-z@])")


@dataclass(slots=True)
class VerbatimBlock:
    environment: str  # "verbatim", "lstlisting", "minted", "Highlighting", "verb" (inline)...
    options: str  # `[language=Python]` or minted's `{python}`, as written
    content: str


@dataclass(slots=True)
class Flattened:
    """The main file with its inputs spliced in, and what it took."""

    text: str
    main_file: str
    files_used: list[str]
    blocks: list[VerbatimBlock]
    missing_inputs: list[str] = field(default_factory=list)
    num_input_cycles: int = 0
    num_binary_inputs: int = 0
    encodings: dict[str, str] = field(default_factory=dict)  # file -> codec, for files not UTF-8


class SourceSet:
    """A paper's decoded TeX files, each cleaned (steps 1-2) once, on first use."""

    def __init__(self, files: dict[str, bytes]):
        self.raw = files
        self.blocks: list[VerbatimBlock] = []
        self._clean: dict[str, str | None] = {}
        self.encodings: dict[str, str] = {}
        self.code_environments = code_environments(files)

    def tex_names(self) -> list[str]:
        return sorted(name for name in self.raw if name.lower().endswith(TEX_SUFFIXES))

    def clean(self, name: str) -> str | None:
        """The file's text after verbatim extraction and comment removal; None for a binary."""
        if name not in self._clean:
            data = self.raw[name]
            if is_binary(data):
                self._clean[name] = None
            else:
                text, codec = decode_tex(data)
                if codec not in ("utf-8", "ascii"):
                    self.encodings[name] = codec
                text = text.replace("\r\n", "\n").replace("\r", "\n")
                self._clean[name] = strip_comments(extract_verbatim(text, self.blocks, self.code_environments))
        return self._clean[name]


def code_environments(files: dict[str, bytes]) -> tuple[str, ...]:
    """The verbatim-like environments of a paper: the standard ones and those it defines."""
    found: dict[str, None] = dict.fromkeys(VERBATIM_ENVIRONMENTS)
    for name, data in sorted(files.items()):
        if name.lower().endswith((*TEX_SUFFIXES, ".sty", ".cls")):
            for match in _CODE_ENVIRONMENT_DEFINITIONS.finditer(data):
                named, language, other, wrapped = match.groups()
                environment = named or (language + b"code" if language else None) or other or wrapped
                found[environment.decode("ascii")] = None
    return tuple(found)


def _begin_pattern(environments: tuple[str, ...]) -> re.Pattern:
    names = sorted(environments, key=len, reverse=True)  # `verbatim*` before `verbatim`
    return re.compile(r"\\begin\s*\{(" + "|".join(re.escape(e) for e in names) + r")\}")


def extract_verbatim(text: str, blocks: list[VerbatimBlock],
                     environments: tuple[str, ...] = VERBATIM_ENVIRONMENTS) -> str:
    """Replace verbatim-like environments and inline `\\verb` by `\\cmverbatimblock{N}` (N indexes
    `blocks`); drop `comment` environments. A `\\begin` behind a `%` on its line is left alone."""
    begin_pattern = _begin_pattern(environments)
    out: list[str] = []
    position = 0
    while True:
        match = begin_pattern.search(text, position)
        if match is None:
            break
        if _in_comment(text, match.start()):
            out.append(text[position:match.end()])
            position = match.end()
            continue
        environment = match.group(1)
        end = re.compile(r"\\end\s*\{" + re.escape(environment) + r"\}").search(text, match.end())
        body_end = end.start() if end else len(text)
        body = text[match.end():body_end]
        out.append(_extract_inline(text[position:match.start()], blocks))
        if environment != "comment":
            options, body = _split_options(environment, body)
            blocks.append(VerbatimBlock(environment, options, body.strip("\n")))
            out.append(f"\\cmverbatimblock{{{len(blocks) - 1}}}")
        position = end.end() if end else len(text)
    out.append(_extract_inline(text[position:], blocks))
    return "".join(out)


def _split_options(environment: str, body: str) -> tuple[str, str]:
    """`[language=Python]` of lstlisting, `[opts]{python}` of minted: kept apart from the code."""
    match = re.match(r"(\s*\[[^\]\n]*\])?" + (r"(\s*\{[^{}\n]*\})" if environment == "minted" else ""), body)
    if match and match.end():
        return match.group(0).strip(), body[match.end():]
    return "", body


def _extract_inline(text: str, blocks: list[VerbatimBlock]) -> str:
    def braced(match: re.Match) -> str:
        blocks.append(VerbatimBlock("verb", "", match.group(2)))
        return f"\\cmverbatimblock{{{len(blocks) - 1}}}"

    text = _INLINE_BRACED.sub(braced, text)
    out: list[str] = []
    position = 0
    for match in _INLINE_VERBATIM.finditer(text):
        if match.start() < position or _in_comment(text, match.start()):
            continue
        close = text.find(match.group(2), match.end())
        if close < 0 or "\n" in text[match.end():close]:
            continue
        out.append(text[position:match.start()])
        blocks.append(VerbatimBlock("verb", "", text[match.end():close]))
        out.append(f"\\cmverbatimblock{{{len(blocks) - 1}}}")
        position = close + 1
    out.append(text[position:])
    return "".join(out)


def _in_comment(text: str, position: int) -> bool:
    line_start = text.rfind("\n", 0, position) + 1
    return _COMMENT.search(text[line_start:position]) is not None


def strip_comments(text: str) -> str:
    """TeX's reading of `%`: the rest of the line, its line break and the next line's leading
    blanks vanish (`\\%` and `\\\\%` handled); then `\\iffalse ... \\fi` blocks are dropped."""
    return drop_iffalse(_COMMENT.sub(r"\1", text))


def drop_iffalse(text: str) -> str:
    out: list[str] = []
    position = 0
    depth = 0
    for match in _IF_TOKEN.finditer(text):
        name = match.group(1)
        if depth == 0:
            if name == "iffalse":
                out.append(text[position:match.start()])
                depth = 1
        elif name == "fi":
            depth -= 1
            if depth == 0:
                position = match.end()
        elif name.startswith("if"):
            depth += 1
    if depth == 0:  # an unclosed \iffalse swallows the rest, as in TeX
        out.append(text[position:])
    return "".join(out)


def documentclass(text: str) -> str | None:
    match = _DOCUMENTCLASS.search(text)
    return match.group(1).strip() if match else None


def find_main_file(sources: SourceSet) -> tuple[str | None, str]:
    """(main file or None, reason when None: `papers_no_tex`, `papers_binary_tex`,
    `papers_no_documentclass`, `papers_no_begin_document`)."""
    names = sources.tex_names()
    if not names:
        return None, "papers_no_tex"
    texts = {name: sources.clean(name) for name in names}
    readable = {name: text for name, text in texts.items() if text is not None}
    if not readable:
        return None, "papers_binary_tex"
    with_class = [name for name, text in readable.items() if documentclass(text)]
    if not with_class:
        return None, "papers_no_documentclass"
    candidates = [name for name in with_class if _BEGIN_DOCUMENT.search(readable[name])]
    if not candidates:
        return None, "papers_no_begin_document"
    if len(candidates) == 1:
        return candidates[0], ""
    included = set()
    for name in candidates:
        for target in _input_targets(readable[name]):
            found = _lookup(target, posixpath.dirname(name), posixpath.dirname(name), sources.raw)
            if found and found != name:
                included.add(found)
    roots = [name for name in candidates if name not in included] or candidates
    sizes = {name: len(flatten(sources, name).text) for name in roots}
    return min(roots, key=lambda name: (-sizes[name], name.count("/"), name)), ""


def _input_targets(text: str) -> list[str]:
    return [_target(match) for match in _INPUT.finditer(text)]


def _target(match: re.Match) -> str:
    command, first, second, bare = match.groups()
    if command.endswith("import") or command.endswith("from"):
        return posixpath.join((first or "").strip(), (second or "").strip())
    return (first if first is not None else bare).strip().strip('"')


def _lookup(target: str, main_dir: str, including_dir: str, files: dict[str, bytes]) -> str | None:
    target = target.replace("\\", "/").strip().strip('"').strip()
    if not target:
        return None
    for base in dict.fromkeys((main_dir, including_dir, "")):
        for candidate in (target, f"{target}.tex"):
            path = posixpath.normpath(posixpath.join(base, candidate))
            if path in files:
                return path
    return None


def flatten(sources: SourceSet, main_file: str) -> Flattened:
    """The main file with every input spliced in recursively (see the module's docstring)."""
    result = Flattened("", main_file, [], sources.blocks)
    main_dir = posixpath.dirname(main_file)
    used: dict[str, None] = {}

    def splice(name: str, stack: tuple[str, ...]) -> str:
        used[name] = None
        text = sources.clean(name)
        if text is None:
            result.num_binary_inputs += 1
            return ""
        text = _ENDINPUT.split(text, maxsplit=1)[0]  # TeX reads no further
        if stack:  # an included file that is a document of its own gives its body
            begin = _BEGIN_DOCUMENT.search(text)
            if begin:
                end = _END_DOCUMENT.search(text, begin.end())
                text = text[begin.end(): end.start() if end else len(text)]

        def replace(match: re.Match) -> str:
            target = _target(match)
            if "#" in target:
                return match.group(0)  # inside a macro definition: expanded later, if at all
            found = _lookup(target, main_dir, posixpath.dirname(name), sources.raw)
            if found is None:
                result.missing_inputs.append(target)
                return ""
            if found in stack or found == name or len(stack) >= MAX_INPUT_DEPTH:
                result.num_input_cycles += 1
                return ""
            body = splice(found, (*stack, name))
            if match.group(1).startswith(("include", "subinclude")):
                return f"\n\n{body}\n\n"
            return body.rstrip("\n")

        return _INPUT.sub(replace, text)

    result.text = splice(main_file, ())
    result.files_used = list(used)
    result.encodings = {name: codec for name, codec in sources.encodings.items() if name in used}
    return result
