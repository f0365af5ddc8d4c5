"""Which files of a source tree are training code: language by extension or file name, the
path and content rules that skip vendored, generated, minified and binary files (the tree's own
`.gitignore` rules are in corpora/code_gitignore.py).

The rules are deliberately conservative: a file is skipped only on a clear signal (a vendoring
directory, a generator's header in the first lines, a `.min.` name or minifier-shaped content),
because a false positive silently loses good code while a false negative is one more document
for the later quality filters.
"""
from __future__ import annotations

import posixpath
import re

# ----------------------------------------------------------------------------- languages

_EXTENSIONS = {
    "Python": ".py .pyi .pyw",
    "Cython": ".pyx .pxd",
    "C": ".c .h",
    "C++": ".cc .cpp .cxx .c++ .hh .hpp .hxx .h++ .ipp .tcc .inl",
    "CUDA": ".cu .cuh",
    "C#": ".cs",
    "Objective-C": ".m",
    "Objective-C++": ".mm",
    "Java": ".java",
    "Kotlin": ".kt .kts",
    "Scala": ".scala .sc",
    "Groovy": ".groovy .gradle",
    "Clojure": ".clj .cljs .cljc",
    "JavaScript": ".js .mjs .cjs .jsx",
    "TypeScript": ".ts .mts .cts .tsx",
    "Vue": ".vue",
    "Svelte": ".svelte",
    "Go": ".go",
    "Rust": ".rs",
    "Zig": ".zig",
    "Nim": ".nim",
    "Swift": ".swift",
    "Dart": ".dart",
    "Shell": ".sh .bash .zsh .ksh",
    "Fish": ".fish",
    "PowerShell": ".ps1 .psm1 .psd1",
    "Batchfile": ".bat .cmd",
    "Ruby": ".rb .rake .gemspec",
    "PHP": ".php",
    "Perl": ".pl .pm .t",
    "Lua": ".lua",
    "R": ".r",
    "Julia": ".jl",
    "Haskell": ".hs .lhs",
    "OCaml": ".ml .mli",
    "F#": ".fs .fsi .fsx",
    "Elm": ".elm",
    "Erlang": ".erl .hrl",
    "Elixir": ".ex .exs",
    "Common Lisp": ".lisp .lsp",
    "Scheme": ".scm .ss",
    "Racket": ".rkt",
    "Emacs Lisp": ".el",
    "Fortran": ".f .f77 .f90 .f95 .f03 .f08 .for",
    "Pascal": ".pas",
    "Ada": ".adb .ads",
    "COBOL": ".cob .cbl",
    "Assembly": ".s .asm",
    "Verilog": ".sv .svh",
    "VHDL": ".vhd .vhdl",
    "SQL": ".sql",
    "Solidity": ".sol",
    "Protocol Buffer": ".proto",
    "Starlark": ".bzl .star",
    "CMake": ".cmake",
    "Makefile": ".mk .mak",
    "Dockerfile": ".dockerfile",
    "Nix": ".nix",
    "HCL": ".tf .hcl",
    "GLSL": ".glsl .vert .frag",
    "Jupyter Notebook": ".ipynb",
    # Known, but not programming languages: outside the default allow-list.
    "HTML": ".html .htm .xhtml",
    "CSS": ".css .scss .sass .less",
    "Markdown": ".md .markdown",
    "reStructuredText": ".rst",
    "JSON": ".json",
    "YAML": ".yaml .yml",
    "TOML": ".toml",
    "XML": ".xml .xsd .xsl",
    "Text": ".txt",
    "INI": ".ini .cfg",
}

LANGUAGE_BY_EXTENSION: dict[str, str] = {
    extension: language
    for language, extensions in _EXTENSIONS.items()
    for extension in extensions.split()
}

LANGUAGE_BY_FILENAME: dict[str, str] = {
    "makefile": "Makefile",
    "gnumakefile": "Makefile",
    "dockerfile": "Dockerfile",
    "containerfile": "Dockerfile",
    "cmakelists.txt": "CMake",
    "rakefile": "Ruby",
    "gemfile": "Ruby",
    "vagrantfile": "Ruby",
    "podfile": "Ruby",
    "jenkinsfile": "Groovy",
    "build": "Starlark",
    "build.bazel": "Starlark",
    "workspace": "Starlark",
    "sconstruct": "Python",
    "sconscript": "Python",
    ".bashrc": "Shell",
    ".bash_profile": "Shell",
    ".zshrc": "Shell",
    ".profile": "Shell",
}

NON_PROGRAMMING_LANGUAGES = frozenset(
    {"HTML", "CSS", "Markdown", "reStructuredText", "JSON", "YAML", "TOML", "XML", "Text", "INI",
     "Jupyter Notebook"}  # notebooks are JSON: they need their own extraction of the cells
)

DEFAULT_LANGUAGES: tuple[str, ...] = tuple(
    sorted(
        language
        for language in {*LANGUAGE_BY_EXTENSION.values(), *LANGUAGE_BY_FILENAME.values()}
        if language not in NON_PROGRAMMING_LANGUAGES
    )
)
KNOWN_LANGUAGES = frozenset({*LANGUAGE_BY_EXTENSION.values(), *LANGUAGE_BY_FILENAME.values()})


def detect_language(path: str) -> str | None:
    """Language of a file from its name: exact file names first (Makefile, Dockerfile...), then
    the extension, case-insensitive except `.C` (C++, where `.c` is C).

    Ambiguous extensions take the common reading: `.h` is C, `.m` Objective-C, `.pl` Perl.
    """
    name = path.rsplit("/", 1)[-1]
    lowered = name.lower()
    if lowered in LANGUAGE_BY_FILENAME:
        return LANGUAGE_BY_FILENAME[lowered]
    if lowered.startswith("dockerfile.") or lowered.endswith(".dockerfile"):
        return "Dockerfile"
    suffix = posixpath.splitext(lowered)[1]
    if not suffix:
        return None
    if name.endswith(".C"):
        return "C++"
    return LANGUAGE_BY_EXTENSION.get(suffix)


# Interpreters named on a `#!` line -> language, for scripts without an extension (`bin/deploy`).
INTERPRETER_LANGUAGES = {
    "python": "Python", "pypy": "Python", "sh": "Shell", "bash": "Shell", "zsh": "Shell",
    "ksh": "Shell", "dash": "Shell", "ash": "Shell", "node": "JavaScript", "nodejs": "JavaScript",
    "deno": "TypeScript", "ts-node": "TypeScript", "perl": "Perl", "ruby": "Ruby", "php": "PHP",
    "rscript": "R", "lua": "Lua", "luajit": "Lua", "fish": "Fish", "julia": "Julia",
    "groovy": "Groovy", "scala": "Scala", "elixir": "Elixir", "escript": "Erlang",
    "racket": "Racket", "guile": "Scheme", "sbcl": "Common Lisp", "pwsh": "PowerShell",
    "runghc": "Haskell", "runhaskell": "Haskell", "ocaml": "OCaml", "kotlin": "Kotlin",
}
_SHEBANG = re.compile(rb"^#![ \t]*(\S+)[ \t]*([^\r\n]*)")


def language_from_shebang(head: bytes) -> str | None:
    """Language of a script from its first line: `#!/usr/bin/env python3`, `#!/bin/bash -e`,
    `#!/usr/bin/env -S node --flag` (an interpreter's version digits are dropped)."""
    match = _SHEBANG.match(head[:256])
    if not match:
        return None
    program = match.group(1).decode("latin-1").rsplit("/", 1)[-1]
    if program == "env":  # the interpreter is the first argument that is not an option
        program = next((arg for arg in match.group(2).decode("latin-1").split()
                        if not arg.startswith("-") and "=" not in arg), "")
    program = re.sub(r"[\d.]+$", "", program.lower())
    return INTERPRETER_LANGUAGES.get(program)


def may_have_shebang(path: str) -> bool:
    """A file name with no extension and no known name (`bin/deploy`, `scripts/run`)."""
    name = path.rsplit("/", 1)[-1]
    return "." not in name.lstrip(".") and name.lower() not in LANGUAGE_BY_FILENAME


# ----------------------------------------------------------------------------- path rules

VENDORED_DIRECTORIES = frozenset(
    {
        "node_modules", "bower_components", "jspm_packages", "vendor", "third_party",
        "third-party", "thirdparty", "3rdparty", "site-packages", "dist-packages",
        ".venv", ".tox", ".eggs",
    }
)
VCS_DIRECTORIES = frozenset({".git", ".hg", ".svn", ".bzr", "cvs"})

# Build artifacts: what an interpreter or compiler wrote next to the sources. They are not code of
# an unknown language (a stdlib tree holds more .pyc files than .py files), so they get their own
# reason and are never read.
BUILD_ARTIFACT_DIRECTORIES = frozenset({"__pycache__"})
BUILD_ARTIFACT_SUFFIXES = (".pyc", ".pyo", ".class", ".o", ".obj", ".so", ".dylib", ".dll", ".a",
                           ".lib", ".elc", ".beam", ".wasm")

GENERATED_FILENAMES = frozenset(
    {
        "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml",
        "cargo.lock", "poetry.lock", "pipfile.lock", "pdm.lock", "uv.lock", "gemfile.lock",
        "composer.lock", "go.sum", "flake.lock", "mix.lock", "pubspec.lock", "podfile.lock",
    }
)
GENERATED_NAME_PATTERN = re.compile(
    r"(_pb2\.pyi?|_pb2_grpc\.py|\.pb\.(go|cc|h|c)|_pb\.(js|d\.ts)|\.pb\.gw\.go|_grpc\.pb\.go"
    r"|\.designer\.cs|\.g\.dart|\.freezed\.dart|_generated\.\w+|\.generated\.\w+)$",
    re.IGNORECASE,
)
MINIFIED_NAME_PATTERN = re.compile(r"[.-]min\.(js|mjs|cjs|css)$|\.bundle\.min\.", re.IGNORECASE)


def path_skip_reason(path: str) -> str | None:
    """Reason code for a file that the path alone rules out, else None."""
    parts = [part for part in path.lower().split("/") if part]
    directories = parts[:-1]
    if any(part in VCS_DIRECTORIES for part in directories):
        return "code_vcs"
    if any(part in VENDORED_DIRECTORIES for part in directories):
        return "code_vendored"
    if not parts:
        return "code_unknown_language"
    name = parts[-1]
    if any(part in BUILD_ARTIFACT_DIRECTORIES for part in directories) or name.endswith(BUILD_ARTIFACT_SUFFIXES):
        return "code_build_artifact"
    if name in GENERATED_FILENAMES or GENERATED_NAME_PATTERN.search(name):
        return "code_generated"
    return None


def is_minified_name(path: str) -> bool:
    return MINIFIED_NAME_PATTERN.search(path.rsplit("/", 1)[-1]) is not None


# ----------------------------------------------------------------------------- content rules

GENERATED_HEADER_LINES = 5
"""Generators put their marker at the very top; looking further finds prose such as Sphinx's
"...present in this\\n# autogenerated file." at line 10 of a hand-edited conf.py."""

_COMMENT_LEADER = re.compile(r"^[\s#/*;!'\"<>{}()%-]*")
_GENERATED_AT_LINE_START = re.compile(
    r"(auto[- ]?generated|automatically generated|generated (automatically|by|from|with|using)"
    r"|code generated|this (file|code) (is|was|has been) (auto[- ]?|automatically )?generated)",
    re.IGNORECASE,
)
_GENERATED_ANYWHERE = re.compile(
    r"\b(the following|this) (file|code|source) (is|was|has been) "
    r"(auto[- ]?|automatically )?generated\b",
    re.IGNORECASE,
)


_TRAILING_CLOSER = re.compile(r"(\"\"\"|\'\'\'|\*/|-->|\s)+$")
_CODING_OR_SHEBANG = re.compile(r"^(#!|.*-\*-.*coding[:=])")


def _continues_a_sentence(previous_line: str) -> bool:
    """Whether a line is the continuation of the comment sentence on the line before it (so a
    marker-looking start, "# generated with Python 2 loadable...", is mid-sentence prose)."""
    if _CODING_OR_SHEBANG.match(previous_line):
        return False
    body = _TRAILING_CLOSER.sub("", _COMMENT_LEADER.sub("", previous_line, count=1))
    return bool(body) and body[-1] not in ".!:;"


def has_generated_header(text: str) -> bool:
    """A generator's marker in the first lines: `DO NOT EDIT` (upper case, the Go and protobuf
    convention) opening a comment or next to "generated"; `@generated`; "this file was
    generated"; or a comment that starts with "Auto generated by", "Generated by", "Code
    generated"... . A sentence that merely contains "generated by" ("AST nodes generated by
    the parser") or wraps onto a line starting with it (CPython's _compat_pickle.py:
    "...pickle streams\n# generated with Python 2") is not."""
    head = text[:4000].split("\n", GENERATED_HEADER_LINES)[:GENERATED_HEADER_LINES]
    previous = ""
    for line in head:
        if "@generated" in line or _GENERATED_ANYWHERE.search(line):
            return True
        body = _COMMENT_LEADER.sub("", line, count=1)
        if "DO NOT EDIT" in line and (
            body.startswith("DO NOT EDIT") or "generat" in line.lower()
        ):  # not pip's vendored tomli_w: `__version__ = "1.2.0"  # DO NOT EDIT THIS LINE...`
            return True
        if _GENERATED_AT_LINE_START.match(body) and not _continues_a_sentence(previous):
            return True
        previous = line
    return False


def is_minified_text(text: str, *, min_avg_line_chars: int, max_whitespace_fraction: float) -> bool:
    """Minifier output: long lines with almost no whitespace. A one-line re-export list (zod's
    689-char `export { ... } from`) has long lines but normal spacing and is kept; a data table
    with 80-char lines (brotli's dictionary) has little whitespace but short lines and is kept."""
    sample = text[:100_000]  # bounded cost on large files; minifier output is uniform
    num_lines = sample.count("\n") + (0 if sample.endswith("\n") else 1)
    if len(sample) / max(num_lines, 1) <= min_avg_line_chars:
        return False
    whitespace = len(sample) - len("".join(sample.split()))
    return whitespace / max(len(sample), 1) < max_whitespace_fraction
