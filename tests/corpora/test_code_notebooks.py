"""Jupyter notebooks in the code reader: nbformat 4 and 3 notebooks built in tmp_path, read as
scripts (code cells, markdown as comments in the kernel's language), as raw JSON, or skipped.

The expected scripts are written out by hand from the conversion's rules (jupytext's "light"
format as StarCoder used it, minus the metadata header; see corpora/code_notebooks.py)."""
from __future__ import annotations

import base64
import json
import zipfile
from pathlib import Path

import pytest

from corpora.code import Options, iter_documents
from corpora.code_notebooks import notebook_language, notebook_to_script, parse_notebook
from corpora.schema import SkipCounter


def read(path: Path, **options) -> tuple[dict[str, dict], dict]:
    skips = SkipCounter()
    docs = iter_documents(str(path), source="code", file_key="input", options=Options(**options), skips=skips)
    return {doc["meta"]["path"]: doc for doc in docs}, dict(skips)


def cell(kind: str, source, **extra) -> dict:
    out = {"cell_type": kind, "metadata": {}, "source": source, **extra}
    if kind == "code":
        out.setdefault("outputs", [])
        out.setdefault("execution_count", None)
    return out


def nbformat4(cells: list[dict], kernel: str | None = "python", info: str | None = "python") -> dict:
    metadata = {}
    if kernel is not None:
        metadata["kernelspec"] = {"display_name": kernel, "language": kernel, "name": kernel.lower()}
    if info is not None:
        metadata["language_info"] = {"name": info}
    return {"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}


PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8).decode()

PYTHON_NOTEBOOK = nbformat4([
    cell("markdown", ["# Loading the data\n", "\n", "We read *two* files.\n"]),
    cell("code", ["%matplotlib inline\n", "import json\n", "\n", "!pip install foo\n", "rows = []"],
         outputs=[{"output_type": "display_data", "data": {"image/png": PNG}, "metadata": {}}]),
    cell("code", "\n\n"),  # empty: dropped
    cell("raw", ".. note:: for nbconvert\n"),
    cell("code", 'SQL = """\n%s and\n!important\n"""\nfor row in rows:\n    %time print(row)\n',
         outputs=[{"output_type": "stream", "name": "stdout", "text": ["1\n", "2\n"]}]),
    cell("markdown", "Done.  "),
])
PYTHON_SCRIPT = (
    "# # Loading the data\n"
    "#\n"
    "# We read *two* files.\n"
    "\n"
    "# %matplotlib inline\n"
    "import json\n"
    "\n"
    "# !pip install foo\n"
    "rows = []\n"
    "\n"
    "# .. note:: for nbconvert\n"
    "\n"
    'SQL = """\n%s and\n!important\n"""\n'  # inside a string: not magics
    "for row in rows:\n"
    "    # %time print(row)\n"
    "\n"
    "# Done.\n"
)

NBFORMAT3 = {
    "metadata": {"name": "old"},
    "nbformat": 3, "nbformat_minor": 0,
    "worksheets": [{"cells": [
        {"cell_type": "heading", "level": 2, "metadata": {}, "source": ["Fit a\n", "model"]},
        {"cell_type": "code", "collapsed": False, "input": ["x <- c(1, 2)\n", "mean(x)"],
         "language": "r", "metadata": {}, "outputs": [{"output_type": "pyout", "text": ["1.5"]}]},
        {"cell_type": "markdown", "metadata": {}, "source": "The mean."},
    ]}, {"cells": [{"cell_type": "code", "input": "print(x)\n", "language": "r", "outputs": []}]}],
}
NBFORMAT3_SCRIPT = "# ## Fit a model\n\nx <- c(1, 2)\nmean(x)\n\n# The mean.\n\nprint(x)\n"


def write(root: Path, name: str, notebook) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(notebook if isinstance(notebook, str) else json.dumps(notebook, indent=1))
    return path


def test_python_notebook_becomes_its_code_cells_with_markdown_as_comments(tmp_path):
    write(tmp_path / "repo", "analysis.ipynb", PYTHON_NOTEBOOK)
    docs, skips = read(tmp_path / "repo")
    assert skips == {}
    assert docs["analysis.ipynb"]["text"] == PYTHON_SCRIPT
    assert docs["analysis.ipynb"]["meta"]["language"] == "Python"
    assert docs["analysis.ipynb"]["meta"]["size"] == len(PYTHON_SCRIPT.encode())
    assert PNG not in docs["analysis.ipynb"]["text"]


def test_nbformat3_worksheets_heading_cells_and_cell_language(tmp_path):
    write(tmp_path / "repo", "r/old.ipynb", NBFORMAT3)
    docs, skips = read(tmp_path / "repo")
    assert skips == {}
    assert (docs["r/old.ipynb"]["meta"]["language"], docs["r/old.ipynb"]["text"]) == ("R", NBFORMAT3_SCRIPT)


@pytest.mark.parametrize("kernel, info, language, script", [
    ("C++17", "c++", "C++", "// Vectors\n\n#include <vector>\nstd::vector<int> v{1, 2};\n"),
    ("julia", "julia", "Julia", "# Vectors\n\nv = [1, 2]\n"),
    ("R", "R", "R", "# Vectors\n\nv <- c(1, 2)\n"),
    (None, "haskell", "Haskell", "-- Vectors\n\nlet v = [1, 2]\n"),
    ("ocaml", None, "OCaml", "(* Vectors *)\n\nlet v = [1; 2]\n"),
    (None, None, "Python", "# Vectors\n\nv = [1, 2]\n"),  # no kernel named: IPython's default
    ("python3", "python", "Python", "# Vectors\n\nv = [1, 2]\n"),
])
def test_kernel_language_names_the_comment_syntax(tmp_path, kernel, info, language, script):
    code = script.split("\n\n", 1)[1]
    notebook = nbformat4([cell("markdown", "Vectors"), cell("code", code)], kernel=kernel, info=info)
    write(tmp_path / "repo", "v.ipynb", notebook)
    docs, skips = read(tmp_path / "repo")
    assert skips == {}
    assert (docs["v.ipynb"]["meta"]["language"], docs["v.ipynb"]["text"]) == (language, script)
    assert notebook_language(parse_notebook(json.dumps(notebook))) == language


def test_broken_empty_unknown_and_excluded_notebooks_are_counted(tmp_path):
    root = tmp_path / "repo"
    write(root, "cut.ipynb", json.dumps(PYTHON_NOTEBOOK)[:300])  # truncated JSON
    write(root, "list.ipynb", "[1, 2]")
    write(root, "nocells.ipynb", {"metadata": {}, "nbformat": 4})
    write(root, "badsource.ipynb", nbformat4([cell("code", 42)]))
    write(root, "prose.ipynb", nbformat4([cell("markdown", "Only words."), cell("code", "  \n")]))
    write(root, "matlab.ipynb", nbformat4([cell("code", "x = 1;")], kernel="matlab", info="matlab"))
    write(root, "scala.ipynb", nbformat4([cell("code", "val x = 1")], kernel="scala", info="scala"))
    (root / "zero.ipynb").write_bytes(b"")
    (root / "latin1.ipynb").write_bytes('{"cells": [], "x": "caf\xe9"}'.encode("latin-1"))
    docs, skips = read(root, languages=("Python", "R"))
    assert docs == {}
    assert skips == {"code_bad_notebook": 4, "code_empty": 2, "code_unknown_language": 1,
                     "code_language_excluded": 1, "code_not_utf8": 1}


def test_skip_raw_and_size_options(tmp_path):
    root = tmp_path / "repo"
    path = write(root, "analysis.ipynb", PYTHON_NOTEBOOK)
    docs, skips = read(root, notebooks="skip")
    assert docs == {} and skips == {"code_notebook_skipped": 1}
    docs, skips = read(root, notebooks="raw")
    assert skips == {}
    assert docs["analysis.ipynb"]["text"] == path.read_text()
    assert docs["analysis.ipynb"]["meta"]["language"] == "Jupyter Notebook"
    docs, skips = read(root, notebooks="raw", languages=("R",))  # the kernel's language decides
    assert docs == {} and skips == {"code_language_excluded": 1}
    # A notebook over max_file_bytes (its plot) whose script fits is read...
    big = nbformat4([cell("code", "plot()", outputs=[{"output_type": "display_data",
                                                        "data": {"image/png": PNG * 40}}])])
    write(root, "analysis.ipynb", big)
    assert (root / "analysis.ipynb").stat().st_size > 20_000
    docs, skips = read(root, max_file_bytes=20_000)
    assert docs["analysis.ipynb"]["text"] == "plot()\n" and skips == {}
    # ... but not one over max_notebook_bytes, nor a script over max_file_bytes.
    assert read(root, max_notebook_bytes=20_000) == ({}, {"code_too_large": 1})
    write(root, "analysis.ipynb", nbformat4([cell("code", "x = 1\n" * 5000)]))
    assert read(root, max_file_bytes=20_000) == ({}, {"code_too_large": 1})


def test_notebooks_in_a_zip_and_in_jsonl_records(tmp_path):
    archive = tmp_path / "nb.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("nb/analysis.ipynb", json.dumps(PYTHON_NOTEBOOK))
        handle.writestr("nb/old.ipynb", json.dumps(NBFORMAT3))
    docs, skips = read(archive)
    assert {p: d["text"] for p, d in docs.items()} == {"nb/analysis.ipynb": PYTHON_SCRIPT,
                                                       "nb/old.ipynb": NBFORMAT3_SCRIPT}
    assert skips == {}
    # The Stack's jupyter-notebook files are JSONL records whose content is the notebook JSON.
    records = [{"path": "a.ipynb", "repo": "r", "content": json.dumps(PYTHON_NOTEBOOK)},
               {"path": "b.ipynb", "repo": "r", "content": "{not json"},
               {"path": "c.ipynb", "repo": "r", "content": json.dumps(NBFORMAT3)}]
    jsonl = tmp_path / "notebooks.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records))
    docs, skips = read(jsonl)
    assert {p: (d["meta"]["language"], d["text"]) for p, d in docs.items()} == {
        "a.ipynb": ("Python", PYTHON_SCRIPT), "c.ipynb": ("R", NBFORMAT3_SCRIPT)}
    assert docs["a.ipynb"]["meta"]["size"] == len(PYTHON_SCRIPT.encode())
    assert skips == {"code_bad_notebook": 1}
    docs, skips = read(jsonl, notebooks="raw")
    assert docs["a.ipynb"]["text"] == records[0]["content"] and skips == {"code_bad_notebook": 1}


def test_notebook_to_script_keeps_code_lines_exactly():
    notebook = nbformat4([cell("code", ["def f():  \n", "\treturn 1\r\n"]), cell("markdown", ["a\n", "  \n", "b"])])
    assert notebook_to_script(notebook, "Python") == "def f():  \n\treturn 1\n\n# a\n#\n# b\n"
    assert notebook_to_script(nbformat4([cell("markdown", "x")]), "Python") == ""
