"""Papers reader on e-prints built here: every packing, the main-file rule, inputs, macros, and the
bad e-prints (PDF-only, no \\documentclass, a binary .tex, latin-1, a recursive macro). No shared
data needed. Expected texts are written by hand."""
from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from corpora.papers import Options, iter_documents
from corpora.schema import SkipCounter
from pipelines.inputs import expand_paths

PAPER = r"""\documentclass[11pt]{article}
\usepackage[T1]{fontenc}
\newcommand{\method}{FastFit}
\newcommand{\vect}[1]{\mathbf{#1}}
\newcommand{\pair}[2][x]{(#1, #2)}
\def\half#1{\frac{#1}{2}}
\DeclareMathOperator{\Tr}{Tr}
\title{A Study of \method}
\author{Ada Lovelace\thanks{Analytical Engine Inc.} \and Alan Turing\\ Bletchley Park}
\begin{document}
\maketitle
\begin{abstract}
We present \method, a fitting method. % a comment to drop
\end{abstract}
Front matter before the first section is dropped.
\section{Introduction}\label{sec:intro}
Na\"ive methods cost 50\% more -- see Fig.~\ref{fig:a} and \citet{smith}, as shown before \cite{jones}.
% \input{never}
We minimise $\vect{x}^\top \vect{y}$ and $\Tr A$ with \pair{y} and \pair[z]{w}:
\begin{equation}\label{eq:1}
  \half{a} = b
\end{equation}
\begin{figure}[t]
  \centering\includegraphics{plot.pdf}
  \caption{Runtime of \method.}\label{fig:a}
\end{figure}
\begin{itemize}
  \item first
  \item second
\end{itemize}
\input{sections/method details}
\begin{verbatim}
x = 1 % not a comment
\end{verbatim}
\bibliographystyle{plain}
\bibliography{refs}
\end{document}
"""
METHOD = r"""\subsection{Details}
The \method{} runs in $O(n)$.
"""
EXPECTED = """# A Study of FastFit

## Abstract

We present FastFit, a fitting method.

## Introduction

Naïve methods cost 50% more – see Fig. [ref] and [citation], as shown before. We minimise $\\mathbf{x}^\\top \\mathbf{y}$ and $\\operatorname{Tr}A$ with (x, y) and (z, w):
\\[\\frac{a}{2} = b\\]

Figure: Runtime of FastFit.

- first
- second

### Details

The FastFit runs in $O(n)$.

```
x = 1 % not a comment
```"""


def tar_bytes(files: dict[str, bytes], compress: bool = True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if compress else "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def read(path: Path, **options) -> tuple[list[dict], SkipCounter]:
    skips = SkipCounter()
    docs = list(iter_documents(str(path), source="papers", file_key=path.name, options=Options(**options), skips=skips))
    return docs, skips


FILES = {"ms.tex": PAPER.encode(), "sections/method details.tex": METHOD.encode(), "plot.pdf": b"%PDF-1.4 ..."}


@pytest.mark.parametrize("packing", ["tar.gz", "tar", "wrapped", "directory"])
def test_every_packing_gives_the_same_text(tmp_path, packing):
    if packing == "directory":
        path = tmp_path / "2401.00001"
        for name, data in FILES.items():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            (path / name).write_bytes(data)
    else:
        files = {f"paper/{k}": v for k, v in FILES.items()} if packing == "wrapped" else FILES
        path = tmp_path / "2401.00001.gz"  # arXiv's name for both: the bytes tell
        path.write_bytes(tar_bytes(files, compress=packing != "tar"))
    docs, skips = read(path)
    assert dict(skips) == {}
    assert docs[0]["text"] == EXPECTED
    meta = docs[0]["meta"]
    assert meta["packing"] == {"wrapped": "tar.gz"}.get(packing, packing)
    assert meta["title"] == "A Study of FastFit"
    assert meta["authors"] == ["Ada Lovelace", "Alan Turing"]
    assert meta["main_file"] == "ms.tex" and meta["documentclass"] == "article"
    assert meta["files_used"] == ["ms.tex", "sections/method details.tex"]
    assert (meta["num_macros"], meta["language"], meta["eprint"]) == (5, "en", "2401.00001")


def test_bare_gzip_tex_is_told_from_tar_by_content(tmp_path):
    path = tmp_path / "2401.00002.gz"
    single = PAPER.replace(r"\input{sections/method details}", "").encode()
    path.write_bytes(gzip.compress(single))
    docs, skips = read(path)
    assert docs[0]["meta"]["packing"] == "gzip"
    assert docs[0]["meta"]["main_file"] == "2401.00002.tex"
    assert docs[0]["text"] == EXPECTED.replace("\n\n### Details\n\nThe FastFit runs in $O(n)$.", "")
    plain = tmp_path / "paper.tex"
    plain.write_bytes(single)
    assert read(plain)[0][0]["meta"]["packing"] == "tex"


def test_main_file_is_the_one_not_input_then_the_longest(tmp_path):
    letter = rb"\documentclass{letter}\begin{document}Dear editor, thanks.\end{document}"
    part = rb"\documentclass[ms]{subfiles}\begin{document}\section{Part}Part text.\end{document}"
    main = rb"\documentclass{article}\begin{document}\section{Main}\subfile{part}\end{document}"
    path = tmp_path / "p.tar.gz"
    path.write_bytes(tar_bytes({"cover.tex": letter, "part.tex": part + b" " * 500, "ms.tex": main}))
    docs, _ = read(path)
    assert docs[0]["meta"]["main_file"] == "ms.tex"
    assert docs[0]["text"] == "## Main\n\n## Part\n\nPart text."


def test_missing_inputs_and_cycles_are_counted_not_fatal(tmp_path):
    main = rb"\documentclass{article}\begin{document}\section{S}A \input{a} \include{gone} B\end{document}"
    path = tmp_path / "p.tar.gz"
    path.write_bytes(tar_bytes({"ms.tex": main, "a.tex": rb"in-a \input{b}", "b.tex": rb"in-b \input{a.tex}"}))
    docs, skips = read(path)
    assert dict(skips) == {}
    assert docs[0]["text"] == "## S\n\nA in-a in-b B"
    assert docs[0]["meta"]["missing_inputs"] == ["gone"]
    assert docs[0]["meta"]["num_input_cycles"] == 1


def test_recursive_macro_is_reported_and_the_paper_still_read(tmp_path):
    tex = rb"\documentclass{article}\newcommand{\loop}{x\loop}\begin{document}\section{S}Text \loop.\end{document}"
    path = tmp_path / "p.tex"
    path.write_bytes(tex)
    docs, skips = read(path)
    assert dict(skips) == {}
    assert docs[0]["meta"]["recursive_macros"] == ["loop"]
    assert docs[0]["text"].startswith("## S\n\nText xxxxxxxx")


def test_latin1_paper_is_decoded_by_its_inputenc(tmp_path):
    tex = "\\documentclass{article}\\usepackage[latin1]{inputenc}\\begin{document}\\section{S}Caf\u00e9 cr\u00e8me.\\end{document}"
    path = tmp_path / "p.tex"
    path.write_bytes(tex.encode("latin-1"))
    docs, _ = read(path)
    assert docs[0]["text"] == "## S\n\nCafé crème."
    assert docs[0]["meta"]["encodings"] == {"p.tex": "iso8859-1"}


@pytest.mark.parametrize("files, reason", [
    ({"paper.pdf": b"%PDF-1.5 binary"}, "papers_pdf_only"),
    ({"notes.txt": b"hello"}, "papers_no_tex"),
    ({"ms.tex": b"\\section{No class}Text"}, "papers_no_documentclass"),
    ({"ms.tex": b"\\documentclass{article}\\section{x}"}, "papers_no_begin_document"),
    ({"ms.tex": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"}, "papers_binary_tex"),
])
def test_bad_eprints_are_counted_reasons(tmp_path, files, reason):
    path = tmp_path / "bad.tar.gz"
    path.write_bytes(tar_bytes(files))
    docs, skips = read(path)
    assert (docs, dict(skips)) == ([], {reason: 1})


def test_pdf_served_as_an_eprint_and_a_corrupt_archive(tmp_path):
    pdf = tmp_path / "2401.00003"
    pdf.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj")
    assert dict(read(pdf)[1]) == {"papers_pdf_only": 1}
    broken = tmp_path / "2401.00004.gz"
    broken.write_bytes(tar_bytes(FILES)[:40])
    docs, skips = read(broken)
    assert docs == [] and sum(skips.values()) == 1


def test_directory_of_eprints_and_directory_that_is_a_paper(tmp_path):
    root = tmp_path / "eprints"
    (root / "unpacked" / "figs").mkdir(parents=True)
    (root / "unpacked" / "ms.tex").write_bytes(PAPER.encode())
    (root / "unpacked" / "figs" / "x.tex").write_bytes(b"% figure")
    (root / "a.tar.gz").write_bytes(tar_bytes(FILES))
    (root / "b.gz").write_bytes(gzip.compress(PAPER.encode()))
    (root / "README.md").write_text("not a paper")
    inputs = expand_paths("papers", [str(root)], str(tmp_path), "papers")
    assert [f.file_key for f in inputs] == ["eprints/a.tar.gz", "eprints/b.gz", "eprints/unpacked"]
    one = expand_paths("papers", [str(root / "unpacked")], str(tmp_path), "papers")
    assert [f.file_key for f in one] == ["unpacked"]


def test_acronyms_endinput_and_pandoc_highlighting(tmp_path):
    main = (rb"\documentclass{article}\newacronym{llm}{LLM}{large language model}"
            rb"\begin{document}\section{S}\gls{llm} and \glspl{llm}; \acrfull{llm}. Value: \input{v}."
            b"\n\\begin{Highlighting}[]\n\\NormalTok{x }\\OperatorTok{=}\\NormalTok{ }\\StringTok{\"a\\textbackslash{}n\"}"
            b"\n\\end{Highlighting}\n\\end{document}")
    path = tmp_path / "p.tar.gz"
    path.write_bytes(tar_bytes({"ms.tex": main, "v.tex": rb"42\endinput ignored"}))
    docs, _ = read(path)
    assert docs[0]["text"] == ("## S\n\nLLM and LLMs; large language model (LLM). Value: 42.\n\n"
                               '```\nx = "a\\n"\n```')


def test_iffalse_blocks_drop_with_their_nested_conditionals_but_not_iff():
    from corpora.papers_sources import drop_iffalse, strip_comments

    assert drop_iffalse(r"a \iffalse x \iff y \ifx\a\b z\fi w \fi b \ifthenelse{1}{2}{3}") == r"a  b \ifthenelse{1}{2}{3}"
    assert drop_iffalse(r"keep $p \iff q$ \iffalse gone \fi end") == r"keep $p \iff q$  end"
    assert strip_comments("50\\% done % note\n  next \\\\% also a comment\nlast") == "50\\% done next \\\\last"


def test_exploding_macro_and_absurd_nesting_are_bounded_and_counted(tmp_path):
    grow = tmp_path / "grow.tex"  # each expansion doubles the argument
    grow.write_bytes(rb"\documentclass{article}\newcommand{\a}[1]{\a{#1#1}}\begin{document}\section{S}x \a{y}\end{document}")
    docs, skips = read(grow)
    assert dict(skips) == {} and docs[0]["meta"]["recursive_macros"] == ["a"]
    text = docs[0]["text"]
    assert text.startswith("## S\n\nx yyyy") and set(text[9:]) == {"y"}
    assert 2 ** 14 <= len(text) - 9 <= 4 * len(grow.read_bytes()) + (1 << 16)  # stopped at the growth limit
    deep = tmp_path / "deep.tex"
    deep.write_bytes(rb"\documentclass{article}\begin{document}\section{S}" + b"{" * 3000 + b"x" + b"}" * 3000
                     + rb"\end{document}")
    assert read(deep) == ([], {"papers_nesting_too_deep": 1})
