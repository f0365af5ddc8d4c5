"""The paper's own macros: collected from its flattened source, then expanded in place.

Hand-written, because pylatexenc parses macro *uses* but does not read `\\newcommand` definitions
or substitute `#1`. Supported definitions (each removed from the text once read):

    \\newcommand / \\renewcommand / \\providecommand / \\DeclareRobustCommand (starred too)
        {\\name} or \\name, optional [n], optional [default for #1], {body}
    \\def / \\gdef / \\edef / \\xdef  \\name#1#2{body}   (undelimited parameters only)
    \\let\\name\\other  or  \\let\\name=\\other
    \\DeclareMathOperator{\\name}{text}  -> \\operatorname{text} (starred: \\operatorname*)
    \\NewDocumentCommand / \\RenewDocumentCommand / \\DeclareDocumentCommand / \\ProvideDocumentCommand
        with an argument spec of `m`s, optionally after one leading `O{default}` or `o`

Anything else (a `\\def` with delimited parameters, xparse specs with `s`, `r`, `v`...) is counted
in `num_unsupported` and its uses left alone (the text walk then drops the bare macro and keeps its
braced arguments' text). Macros that the walk itself interprets (sectioning, `\\cite`, `\\label`,
`\\item`, ...) and `@`-names are never expanded, even when the paper redefines them.

Expansion is TeX's for these forms: a control word eats the blanks after it; arguments are a braced
group or a single token; `#n` is substituted; then the result is scanned again. A macro still
present after MAX_PASSES rescans, or text grown beyond MAX_GROWTH times, is a recursive macro: the
expansion goes back to the text before the pass that crossed the limit, the uses of the recursive
macros left in it are removed, their names are reported, and the paper is still read.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_PASSES = 24
MAX_GROWTH = 4  # expanded text longer than this times the source (plus 64 KB) means recursion
_DEFINER = re.compile(
    r"\\(newcommand|renewcommand|providecommand|DeclareRobustCommand|def|gdef|edef|xdef|let"
    r"|DeclareMathOperator|NewDocumentCommand|RenewDocumentCommand|DeclareDocumentCommand"
    r"|ProvideDocumentCommand)(?![A-Za-z@])(\*?)")
_CONTROL_SEQUENCE = re.compile(r"\\([A-Za-z@]+|.)")
# Macros the text walk interprets itself: a paper's redefinition is about their look, not meaning.
PROTECTED = frozenset("""
part chapter section subsection subsubsection paragraph subparagraph begin end item label ref eqref
cref Cref autoref pageref cite citep citet citealp citeauthor citeyear parencite textcite autocite
caption title author abstract maketitle input include footnote thanks bibliography
bibliographystyle printbibliography appendix documentclass usepackage newcommand renewcommand def
cmverbatimblock emph textbf textit url href includegraphics
""".split())


@dataclass(frozen=True, slots=True)
class Macro:
    name: str
    num_args: int
    default: str | None  # default of an optional first argument (None: no optional argument)
    body: str


@dataclass(slots=True)
class MacroTable:
    macros: dict[str, Macro] = field(default_factory=dict)
    num_unsupported: int = 0
    recursive: list[str] = field(default_factory=list)
    num_expansions: int = 0


def read_group(text: str, start: int) -> tuple[str, int] | None:
    """(inside, end) of the brace group opening at text[start] == '{' (escaped braces skipped)."""
    if start >= len(text) or text[start] != "{":
        return None
    depth = 0
    position = start
    while position < len(text):
        char = text[position]
        if char == "\\":
            position += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1:position], position + 1
        position += 1
    return None


def _skip_blanks(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\n":
        position += 1
    return position


def _read_bracket(text: str, position: int) -> tuple[str, int] | None:
    position = _skip_blanks(text, position)
    if position < len(text) and text[position] == "[":
        end = text.find("]", position)
        if end > 0:
            return text[position + 1:end], end + 1
    return None


def _read_name(text: str, position: int) -> tuple[str, int] | None:
    """`\\name` or `{\\name}` at position (after blanks)."""
    position = _skip_blanks(text, position)
    if text.startswith("{", position):
        group = read_group(text, position)
        if group is None:
            return None
        match = _CONTROL_SEQUENCE.fullmatch(group[0].strip())
        return (match.group(1), group[1]) if match else None
    match = _CONTROL_SEQUENCE.match(text, position)
    return (match.group(1), match.end()) if match else None


def collect_definitions(text: str, table: MacroTable) -> str:
    """Read every supported definition into `table` and return the text without them."""
    out: list[str] = []
    position = 0
    for match in _DEFINER.finditer(text):
        if match.start() < position:
            continue  # inside a definition already consumed
        parsed = _parse_definition(text, match)
        if parsed is None:
            continue
        macro, end = parsed
        out.append(text[position:match.start()])
        position = end
        if macro is None:
            table.num_unsupported += 1
        elif macro.name not in PROTECTED and "@" not in macro.name:
            if kind_is_provide(match.group(1)) and macro.name in table.macros:
                continue
            table.macros[macro.name] = macro
    out.append(text[position:])
    return "".join(out)


def kind_is_provide(definer: str) -> bool:
    return definer.startswith("Provide") or definer == "providecommand"


def _parse_definition(text: str, match: re.Match) -> tuple[Macro | None, int] | None:
    """(macro or None when unsupported, end of the definition) or None when it is not one."""
    definer, star = match.group(1), match.group(2)
    named = _read_name(text, match.end())
    if named is None:
        return None
    name, position = named
    if definer == "let":
        position = _skip_blanks(text, position)
        if text.startswith("=", position):
            position += 1
        target = _read_name(text, position)
        if target is None:
            return None
        return Macro(name, 0, None, "\\" + target[0]), target[1]
    if definer in ("def", "gdef", "edef", "xdef"):
        brace = text.find("{", position)
        if brace < 0:
            return None
        parameters = text[position:brace].strip()
        group = read_group(text, brace)
        if group is None:
            return None
        if not re.fullmatch(r"(?:#\d)*", parameters.replace(" ", "")):
            return None, group[1]  # delimited parameters: not a form this expander handles
        return Macro(name, parameters.count("#"), None, group[0]), group[1]
    if definer == "DeclareMathOperator":
        group = read_group(text, _skip_blanks(text, position))
        if group is None:
            return None
        return Macro(name, 0, None, f"\\operatorname{star}{{{group[0]}}}"), group[1]
    if definer.endswith("DocumentCommand"):
        spec = read_group(text, _skip_blanks(text, position))
        if spec is None:
            return None
        body = read_group(text, _skip_blanks(text, spec[1]))
        if body is None:
            return None
        return _document_command(name, spec[0], body[0]), body[1]
    num_args, default = 0, None  # \newcommand family
    bracket = _read_bracket(text, position)
    if bracket is not None:
        if not bracket[0].strip().isdigit():
            return None
        num_args, position = int(bracket[0]), bracket[1]
        bracket = _read_bracket(text, position)
        if bracket is not None:
            default, position = bracket
    body = read_group(text, _skip_blanks(text, position))
    if body is None:
        return None
    return Macro(name, num_args, default, body[0]), body[1]


def _document_command(name: str, spec: str, body: str) -> Macro | None:
    spec = spec.replace(" ", "")
    default = None
    optional = re.match(r"O\{([^{}]*)\}|o", spec)
    if optional:
        default = optional.group(1) if optional.group(1) is not None else ""
        spec = spec[optional.end():]
    if not re.fullmatch(r"m*", spec):
        return None
    return Macro(name, len(spec) + (optional is not None), default, body)


def _read_argument(text: str, position: int) -> tuple[str, int] | None:
    """A braced group or a single token after blanks (not past a blank line)."""
    start = position
    position = _skip_blanks(text, position)
    if text.count("\n", start, position) > 1 or position >= len(text):
        return None
    if text[position] == "{":
        return read_group(text, position)
    token = _CONTROL_SEQUENCE.match(text, position)
    if token:
        return token.group(0), token.end()
    if text[position] in "}":
        return None
    return text[position], position + 1


def expand(text: str, table: MacroTable) -> str:
    """Expand the table's macros in `text` until none is left (or recursion is detected)."""
    if not table.macros:
        return text
    names = sorted(table.macros, key=len, reverse=True)
    pattern = re.compile(r"\\(" + "|".join(re.escape(n) for n in names) + r")(?![A-Za-z@])")
    limit = MAX_GROWTH * len(text) + (1 << 16)
    for _ in range(MAX_PASSES):
        expanded, count = _expand_pass(text, pattern, table)
        if count == 0:
            return text
        if len(expanded) > limit:
            break  # keep the text before this pass
        text = expanded
        table.num_expansions += count
    table.recursive = sorted({m.group(1) for m in pattern.finditer(text)})
    recursive = re.compile(r"\\(" + "|".join(re.escape(n) for n in table.recursive) + r")(?![A-Za-z@])")
    return recursive.sub("", text)


def _expand_pass(text: str, pattern: re.Pattern, table: MacroTable) -> tuple[str, int]:
    out: list[str] = []
    position = 0
    count = 0
    for match in pattern.finditer(text):
        if match.start() < position:
            continue  # inside the arguments of the previous use
        macro = table.macros[match.group(1)]
        end = match.end()
        arguments: list[str] = []
        if macro.default is not None:
            bracket = _read_bracket(text, end)
            if bracket is not None:
                arguments.append(bracket[0])
                end = bracket[1]
            else:
                arguments.append(macro.default)
        complete = True
        while len(arguments) < macro.num_args:
            argument = _read_argument(text, end)
            if argument is None:
                complete = False
                break
            arguments.append(argument[0])
            end = argument[1]
        if not complete:
            continue
        body = _substitute(macro.body, arguments)
        if macro.num_args == 0:  # a control word eats the blanks after it (not a blank line)
            blank_end = end
            while blank_end < len(text) and text[blank_end] in " \t":
                blank_end += 1
            if blank_end < len(text) and text[blank_end] == "\n" and "\n" not in text[blank_end + 1:blank_end + 2]:
                blank_end += 1
            end = blank_end
        if body.endswith("\\xspace"):  # xspace: a space unless punctuation follows
            body = body[: -len("\\xspace")]
            if end < len(text) and text[end] not in ".,;:!?)'}]-/~\n":
                body += " "
        elif end < len(text) and text[end].isalpha() and re.search(r"\\[A-Za-z@]+$", body):
            body += " "  # `\R x` -> `\mathbb{R} x`: `\mathbb{R}x` is TeX's reading, `\alphax` is not
        out.append(text[position:match.start()])
        out.append(body)
        position = end
        count += 1
    out.append(text[position:])
    return "".join(out), count


def _substitute(body: str, arguments: list[str]) -> str:
    if not arguments:
        return body.replace("##", "#")

    def argument(match: re.Match) -> str:
        if match.group(0) == "##":
            return "#"
        index = int(match.group(1)) - 1
        return arguments[index] if index < len(arguments) else ""

    return re.sub(r"##|#(\d)", argument, body)
