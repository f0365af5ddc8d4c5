"""Jupyter notebooks -> scripts in the kernel's language (the "jupyter-scripts" form).

StarCoder's training data turned each notebook into a script with jupytext's default "light"
format: code cells in order, separated by a blank line; markdown cells kept as line comments of
the kernel's language; outputs (and their base64 images) dropped; IPython magics (`%matplotlib
inline`, `!pip install x`) commented out so that the script stays valid Python. This module does
the same conversion without jupytext (checked against jupytext 1.x on the test notebooks: same
cell text), with deliberate differences that all drop notebook bookkeeping: no YAML header of
notebook metadata (it would repeat in every document), no `# +`/`# -` markers around cells with
blank lines and no `# + active=""` before raw cells (they only serve the way back to a notebook),
no empty cells, and no trailing blanks on comment lines. Raw cells (text meant for nbconvert)
are kept as comments, like markdown.

Both on-disk formats are read: nbformat 4 (`cells`, `source` as a string or a list of lines) and
nbformat 3 and older (`worksheets[*].cells`, code in `input`, `heading` cells with a `level`,
which become markdown `#` headings as nbformat's own upgrade does).

The kernel's language comes from `metadata.kernelspec.language`, then `metadata.language_info.
name`, then (nbformat 3) `metadata.language` or the first code cell's `language`; a notebook that
names none is Python (IPython's default). A language outside NOTEBOOK_LANGUAGES gives None.
"""
from __future__ import annotations

import json
import re

NOTEBOOK_LANGUAGE = "Jupyter Notebook"

# Kernel language names (lower case, version digits dropped) -> corpora.code_languages names.
NOTEBOOK_LANGUAGES = {
    "python": "Python", "ipython": "Python", "pyspark": "Python", "cython": "Cython",
    "r": "R", "julia": "Julia", "scala": "Scala", "java": "Java", "kotlin": "Kotlin",
    "groovy": "Groovy", "c": "C", "c++": "C++", "cpp": "C++", "xcpp": "C++", "c#": "C#",
    "csharp": "C#", "f#": "F#", "fsharp": "F#", "javascript": "JavaScript", "node": "JavaScript",
    "nodejs": "JavaScript", "typescript": "TypeScript", "go": "Go", "golang": "Go", "rust": "Rust",
    "swift": "Swift", "bash": "Shell", "sh": "Shell", "shell": "Shell", "zsh": "Shell",
    "powershell": "PowerShell", "pwsh": "PowerShell", "ruby": "Ruby", "perl": "Perl", "php": "PHP",
    "lua": "Lua", "haskell": "Haskell", "ocaml": "OCaml", "clojure": "Clojure", "scheme": "Scheme",
    "racket": "Racket", "common-lisp": "Common Lisp", "common lisp": "Common Lisp",
    "lisp": "Common Lisp", "elixir": "Elixir", "erlang": "Erlang", "sql": "SQL", "dart": "Dart",
    "nim": "Nim", "zig": "Zig", "fortran": "Fortran",
}

# Line comment of each language above (prefix, suffix); "#" for the rest.
_COMMENTS = {
    **dict.fromkeys(("C", "C++", "C#", "F#", "Java", "Kotlin", "Scala", "Groovy", "JavaScript",
                     "TypeScript", "Go", "Rust", "Swift", "Dart", "Zig", "PHP"), ("//", "")),
    **dict.fromkeys(("Haskell", "Lua", "SQL"), ("--", "")),
    **dict.fromkeys(("Clojure", "Scheme", "Racket", "Common Lisp"), (";;", "")),
    "Erlang": ("%", ""),
    "Fortran": ("!", ""),
    "OCaml": ("(*", " *)"),
}
_VERSION_SUFFIX = re.compile(r"[\s\d._-]+$")
# IPython line/cell magics and shell escapes: not Python syntax, so commented out like jupytext.
_IPYTHON_MAGIC = re.compile(r"^(\s*)(?=%%?[A-Za-z]|!)")
_TRIPLE_QUOTES = re.compile(r"\"\"\"|'''")


class BadNotebook(ValueError):
    """Not a notebook: broken JSON, or JSON without a list of cells."""


def parse_notebook(text: str) -> dict:
    try:
        notebook = json.loads(text)
    except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        raise BadNotebook(f"not JSON: {error}") from None
    if not isinstance(notebook, dict):
        raise BadNotebook("not a JSON object")
    if not isinstance(notebook.get("metadata", {}), dict):
        raise BadNotebook("metadata is not an object")
    notebook_cells(notebook)  # validates the cells once, here
    return notebook


def _source(value) -> str:
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return "".join(value)
    if isinstance(value, str):
        return value
    raise BadNotebook("cell source is neither a string nor a list of strings")


def notebook_cells(notebook: dict) -> list[tuple[str, str]]:
    """(cell_type, source) in order: "code", "markdown" or "raw" (headings become markdown)."""
    if "worksheets" in notebook:  # nbformat 1-3
        worksheets = notebook["worksheets"]
        if not isinstance(worksheets, list) or not all(
            isinstance(sheet, dict) and isinstance(sheet.get("cells", []), list)
            for sheet in worksheets
        ):
            raise BadNotebook("worksheets is not a list of objects with cells")
        cells = [cell for sheet in worksheets for cell in sheet.get("cells", [])]
    else:
        cells = notebook.get("cells")
        if not isinstance(cells, list):
            raise BadNotebook("no list of cells (nor nbformat 3 worksheets)")
    out = []
    for cell in cells:
        if not isinstance(cell, dict):
            raise BadNotebook("a cell is not an object")
        kind = cell.get("cell_type")
        if kind == "code":
            out.append(("code", _source(cell.get("source", cell.get("input", "")))))
        elif kind == "heading":
            level = cell.get("level", 1)
            level = level if isinstance(level, int) and 1 <= level <= 6 else 1
            title = " ".join(_source(cell.get("source", "")).split())
            out.append(("markdown", "#" * level + " " + title))
        elif kind in ("markdown", "raw"):
            out.append((kind, _source(cell.get("source", ""))))
        # other cell types (none in any nbformat) carry nothing to read
    return out


def _declared_language(notebook: dict) -> str | None:
    metadata = notebook.get("metadata") or {}
    candidates = [
        (metadata.get("kernelspec") or {}).get("language")
        if isinstance(metadata.get("kernelspec"), dict) else None,
        (metadata.get("language_info") or {}).get("name")
        if isinstance(metadata.get("language_info"), dict) else None,
        metadata.get("language"),
    ]
    for sheet in notebook.get("worksheets") or []:  # nbformat 3: each code cell names it
        candidates += [cell.get("language") for cell in sheet.get("cells", [])
                       if isinstance(cell, dict) and cell.get("cell_type") == "code"][:1]
    return next((name for name in candidates if isinstance(name, str) and name.strip()), None)


def notebook_language(notebook: dict) -> str | None:
    """The kernel's language as a corpora.code_languages name; None when not a known one."""
    declared = _declared_language(notebook)
    if declared is None:
        return "Python"
    name = declared.strip().lower()
    return NOTEBOOK_LANGUAGES.get(name) or NOTEBOOK_LANGUAGES.get(_VERSION_SUFFIX.sub("", name))


def _trim_blank_lines(source: str) -> list[str]:
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _comment_magics(lines: list[str]) -> list[str]:
    """`%time f()` -> `# %time f()`, `!ls` -> `# !ls`, except inside a triple-quoted string
    (where `%s` is a format, not a magic; the quote count is a heuristic, as in jupytext)."""
    out, quote = [], None
    for line in lines:
        if quote is None and _IPYTHON_MAGIC.match(line):
            line = _IPYTHON_MAGIC.sub(r"\1# ", line, count=1)
        for found in _TRIPLE_QUOTES.findall(line):
            quote = found if quote is None else (None if found == quote else quote)
        out.append(line)
    return out


def notebook_to_script(notebook: dict, language: str) -> str:
    """The script form (see the module docstring); "" when no code cell holds any code."""
    prefix, suffix = _COMMENTS.get(language, ("#", ""))
    blocks, has_code = [], False
    for kind, source in notebook_cells(notebook):
        lines = _trim_blank_lines(source)
        if not lines:
            continue
        if kind == "code":
            block = "\n".join(_comment_magics(lines) if language == "Python" else lines)
            has_code = True
        else:
            block = "\n".join(f"{prefix} {line.rstrip()}{suffix}" if line.strip() else prefix
                              for line in lines)
        blocks.append(block)
    return "\n\n".join(blocks) + "\n" if has_code else ""
