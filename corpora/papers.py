"""Scientific papers from LaTeX sources (arXiv e-prints) -> one document per paper.

Inputs (local paths or fsspec URLs), told apart by content, not name (corpora.papers_bundle):
a gzipped or plain tar (files at the root or under one folder), a bare gzipped `.tex` (arXiv's
form for single-file papers, under the same `.gz` name), a plain `.tex`, a directory that is one
paper (it holds a `.tex` file directly). A directory of e-prints is expanded into its papers by
pipelines/inputs.py (each archive, `.tex`, or sub-directory holding a `.tex` file).

Main file: the `.tex` with `\\documentclass` and `\\begin{document}`; of several, the one no other
candidate `\\input`s, then the one whose flattened text is longest, then the shortest path, then by
name (corpora.papers_sources). Its `\\input`/`\\include`/`\\subfile`/`\\import` are spliced in
recursively; missing files and cycles are counted in meta, never fatal.

Text (RedPajama's arXiv cleaning is the floor: comments dropped, the paper's own macros expanded,
bibliography dropped, nothing before the first section heading but the abstract):

    # <title>

    ## Abstract

    <abstract>

    ## <first section> ...

with math kept as LaTeX source, floats reduced to their captions, citations/references/labels
removed or replaced by short placeholders, TeX's special characters made into characters
(corpora.papers_text); the paper's macros, including ones with arguments, expanded
(corpora.papers_macros). A paper without any section heading keeps its whole body.

A paper that yields nothing is counted by one reason: papers_too_large (over
`max_unpacked_bytes`), papers_pdf_only, papers_no_tex, papers_binary_tex (every .tex is binary),
papers_no_documentclass, papers_no_begin_document, papers_nesting_too_deep (groups nested beyond
Python's recursion limit), papers_empty (no text left), or
`error:bad_archive` (a corrupt archive with nothing usable; damage after a usable main file is
noted in meta `damage`).

meta: title, authors (as written, affiliations left out), main_file, documentclass, files_used,
language (ISO 639-1: the main language babel/polyglossia declares in the preamble or in the
paper's own class/package file; else "en", LaTeX's default, with language_source "latex_default"
instead of "declared"), packing,
eprint (the input's name without suffixes), num_macros (definitions read), num_macro_uses
(expansions), and, when non-zero or present: missing_inputs, num_input_cycles,
num_unsupported_macros, recursive_macros, encodings (files not in UTF-8 -> codec), damage.
"""
from __future__ import annotations

import posixpath
import re
from typing import Iterator

from pydantic import Field

from corpora.papers_bundle import paper_name, read_bundle
from corpora.papers_macros import MacroTable, collect_definitions, expand
from corpora.papers_sources import SourceSet, documentclass, find_main_file, flatten
from corpora.papers_text import PaperRenderer
from corpora.papers_vocabulary import FIRST_HEADING
from corpora.schema import SkipCounter, Strict, make_doc_id

_BEGIN_DOCUMENT = re.compile(r"\\begin\s*\{document\}")
_END_DOCUMENT = re.compile(r"\\end\s*\{document\}")
_NEWTHEOREM = re.compile(r"\\newtheorem\*?\s*\{([^{}]+)\}\s*(?:\[[^\]]*\])?\s*\{([^{}]+)\}")
_NEWACRONYM = re.compile(r"\\newacronym\s*(?:\[[^\]]*\])?\s*\{([^{}]+)\}\s*\{([^{}]*)\}\s*\{((?:[^{}]|\{[^{}]*\})*)\}")
_ACRO = re.compile(r"\\acro\s*\{([^{}]+)\}\s*(?:\[([^\]]*)\])?\s*\{((?:[^{}]|\{[^{}]*\})*)\}")
_BABEL = re.compile(r"\\(?:usepackage|RequirePackage)\s*\[([^\]]*)\]\s*\{babel\}")
_POLYGLOSSIA = re.compile(r"\\set(?:main|default)language\s*(?:\[[^\]]*\])?\s*\{(\w+)\}")
LANGUAGE_CODES = {
    "english": "en", "american": "en", "british": "en", "USenglish": "en", "UKenglish": "en",
    "russian": "ru", "ukrainian": "uk", "german": "de", "ngerman": "de", "austrian": "de",
    "french": "fr", "francais": "fr", "spanish": "es", "portuguese": "pt", "brazil": "pt",
    "brazilian": "pt", "italian": "it", "polish": "pl", "dutch": "nl", "czech": "cs", "turkish": "tr",
    "greek": "el", "swedish": "sv", "finnish": "fi", "danish": "da", "norsk": "no", "hungarian": "hu",
    "romanian": "ro", "catalan": "ca", "croatian": "hr", "serbian": "sr", "bulgarian": "bg",
    "vietnamese": "vi", "chinese": "zh", "japanese": "ja", "korean": "ko", "persian": "fa",
    "arabic": "ar", "hebrew": "he", "latin": "la", "indonesian": "id",
}


class Options(Strict):
    max_unpacked_bytes: int = Field(
        256 << 20, ge=1, description="largest e-print (after decompression) read; larger ones are counted")
    keep_abstract: bool = Field(True, description="write the title and the abstract above the body")
    citation_placeholder: str = Field(
        "[citation]", description="stands for a citation that is part of a sentence (\\citet); "
        "parenthetical ones (\\cite, \\citep) are removed")
    ref_placeholder: str = Field("[ref]", description="stands for \\ref, \\eqref, \\cref, ...")


def directory_inputs(fs, directory: str, suffixes: tuple[str, ...]) -> list[str]:
    """The papers a folder holds (pipelines/inputs.py asks): a folder holding a `.tex` file
    directly is one paper (an unpacked e-print); other folders contribute their e-prints
    (archives, `.gz`, `.tex`) and the unpacked papers below them."""
    files = sorted(fs.find(directory))
    paper_dirs = {posixpath.dirname(path) for path in files if path.lower().endswith(".tex")}

    def outermost_paper_dir(path: str) -> str | None:
        top, parent = None, posixpath.dirname(path)
        while len(parent) >= len(directory):
            if parent in paper_dirs:
                top = parent
            if parent == directory:
                break
            parent = posixpath.dirname(parent)
        return top

    found: dict[str, None] = {}
    for path in files:
        paper = outermost_paper_dir(path)
        if paper is not None:
            found[paper] = None
        elif path.lower().endswith(suffixes):
            found[path] = None
    return list(found)


def iter_documents(path: str, *, source: str, file_key: str, options: Options, skips: SkipCounter) -> Iterator[dict]:
    document = paper_document(path, source=source, file_key=file_key, options=options, skips=skips)
    if document is not None:
        yield document


def paper_document(path: str, *, source: str, file_key: str, options: Options, skips: SkipCounter) -> dict | None:
    bundle = read_bundle(path, options.max_unpacked_bytes)
    if bundle.packing == "too_large":
        skips.skip("papers_too_large")
        return None
    if bundle.packing == "pdf" or (bundle.files and all(n.lower().endswith(".pdf") for n in bundle.files)):
        skips.skip("papers_pdf_only")
        return None
    sources = SourceSet(bundle.files)
    main_file, reason = find_main_file(sources)
    if main_file is None:
        skips.skip("error:bad_archive" if bundle.damage and reason == "papers_no_tex" else reason)
        return None
    flat = flatten(sources, main_file)
    macros = MacroTable()
    text = expand(collect_definitions(flat.text, macros), macros)
    begin = _BEGIN_DOCUMENT.search(text)
    end = _END_DOCUMENT.search(text, begin.end()) if begin else None
    preamble = text[: begin.start()] if begin else ""
    body = text[begin.end(): end.start() if end else len(text)] if begin else text
    renderer = PaperRenderer(flat.blocks, dict(_NEWTHEOREM.findall(preamble + body)),
                             citation_placeholder=options.citation_placeholder,
                             ref_placeholder=options.ref_placeholder, acronyms=acronyms(text))
    try:
        renderer.render(renderer.parse(preamble))  # only for its \title, \author, \abstract
        renderer.num_headings = 0  # a heading inside the abstract is not the body's first
        body_text = renderer.render(renderer.parse(body))
    except RecursionError:  # groups nested thousands deep: pylatexenc's parser recurses per level
        skips.skip("papers_nesting_too_deep")
        return None
    if FIRST_HEADING in body_text:  # RedPajama: nothing before the first section heading
        body_text = body_text[body_text.index(FIRST_HEADING) + 1:]
    parts = []
    if options.keep_abstract:
        if renderer.title:
            parts.append(f"# {renderer.title}")
        abstract = renderer.finish("\n\n".join(renderer.abstract))
        if abstract:
            parts.append(f"## Abstract\n\n{abstract}")
    parts.append(renderer.finish(body_text))
    document_text = "\n\n".join(part for part in parts if part.strip())
    if not document_text.strip():
        skips.skip("papers_empty")
        return None
    meta = {
        "title": renderer.title,
        "authors": renderer.authors,
        "main_file": main_file,
        "documentclass": documentclass(sources.clean(main_file) or ""),
        "files_used": flat.files_used,
        "packing": bundle.packing,
        "eprint": paper_name(file_key),
        "num_macros": len(macros.macros),
        "num_macro_uses": macros.num_expansions,
    }
    language = declared_language(preamble) or _language_of_local_packages(preamble, sources)
    meta["language"] = language or "en"
    meta["language_source"] = "declared" if language else "latex_default"
    extras = {"missing_inputs": flat.missing_inputs, "num_input_cycles": flat.num_input_cycles,
              "num_unsupported_macros": macros.num_unsupported, "recursive_macros": macros.recursive,
              "encodings": flat.encodings, "damage": bundle.damage,
              "num_binary_inputs": flat.num_binary_inputs}
    meta.update({key: value for key, value in extras.items() if value})
    return {"id": make_doc_id(source, file_key, 0), "text": document_text, "path": file_key, "meta": meta}


def acronyms(text: str) -> dict[str, tuple[str, str]]:
    """key -> (short, long) from glossaries' \\newacronym{key}{SHORT}{long} and acronym's
    \\acro{key}[SHORT]{long} (SHORT defaults to the key)."""
    found = {key.strip(): (short.strip(), long.strip()) for key, short, long in _NEWACRONYM.findall(text)}
    for key, short, long in _ACRO.findall(text):
        found.setdefault(key.strip(), ((short or key).strip(), long.strip()))
    return found


def _language_of_local_packages(preamble: str, sources: SourceSet) -> str | None:
    """A language set by the paper's own class or package file (a journal class that loads babel)."""
    names = set(re.findall(r"\\(?:documentclass|usepackage|RequirePackage)\s*(?:\[[^\]]*\])?\s*\{([^{}]+)\}", preamble))
    wanted = {posixpath.basename(part.strip()) for name in names for part in name.split(",")}
    for path, data in sorted(sources.raw.items()):
        stem, suffix = posixpath.splitext(posixpath.basename(path))
        if suffix in (".cls", ".sty") and stem in wanted:
            language = declared_language(data.decode("utf-8", errors="replace"))
            if language:
                return language
    return None


def declared_language(preamble: str) -> str | None:
    """The main language babel (its last option, or `main=`) or polyglossia declares, as ISO 639-1."""
    polyglossia = _POLYGLOSSIA.search(preamble)
    if polyglossia:
        return LANGUAGE_CODES.get(polyglossia.group(1))
    babel = _BABEL.search(preamble)
    if not babel:
        return None
    options = [option.strip() for option in babel.group(1).split(",") if option.strip()]
    main = [option.split("=", 1)[1].strip() for option in options if option.startswith("main=")]
    names = main or [option for option in options if option in LANGUAGE_CODES]
    return LANGUAGE_CODES.get(names[-1]) if names else None
