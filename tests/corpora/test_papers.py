"""Papers reader on the 32 real e-prints in ../shared/data/papers.

References independent of the reader: the corpus's own manifest.json (main file, language and
missing inputs recorded when the tarballs were packed), the raw bytes of the archives (gzip magic,
tar magic, SHA-256 of the .tex.gz copies), and facts read by eye from the papers' sources.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import re
import tarfile
from pathlib import Path

import pytest

from corpora.papers import Options, iter_documents
from corpora.schema import SkipCounter, make_doc_id

pytestmark = pytest.mark.shared_data

# Math and code are allowed to hold `\begin{` and `%`: cut them out before looking for leftovers.
_MATH_OR_CODE = re.compile(
    r"```.*?```|\$\$.*?\$\$|\$[^$]*\$|\\\[.*?\\\]"
    r"|\\begin\{(equation|align|alignat|gather|multline|flalign|eqnarray|array|cases|matrix|pmatrix|"
    r"bmatrix|split|aligned|subequations|dmath)(\*?)\}.*?\\end\{\1\2\}", re.DOTALL)


def read(path: Path) -> tuple[list[dict], SkipCounter]:
    skips = SkipCounter()
    docs = list(iter_documents(str(path), source="papers", file_key=path.name, options=Options(), skips=skips))
    return docs, skips


@pytest.fixture(scope="module")
def manifest(shared_data) -> list[dict]:
    return json.loads((shared_data / "papers" / "manifest.json").read_text())


@pytest.fixture(scope="module")
def documents(shared_data, manifest) -> dict[str, dict]:
    out = {}
    for entry in manifest:
        docs, skips = read(shared_data / "papers" / entry["file"])
        assert (len(docs), dict(skips)) == (1, {}), entry["file"]
        out[entry["file"]] = docs[0]
    return out


def test_every_paper_yields_one_document_with_the_manifests_main_file(documents, manifest):
    assert len(documents) == 32
    for entry in manifest:
        meta = documents[entry["file"]]["meta"]
        assert meta["main_file"] == entry["main_tex"], entry["file"]
        assert meta["language"] == entry["language"], entry["file"]
        assert meta["packing"] == "tar.gz"
        assert meta["main_file"] in meta["files_used"]


def test_missing_inputs_are_the_ones_the_manifest_names(documents, manifest):
    for entry in manifest:
        if entry["missing_inputs"]:
            assert set(entry["missing_inputs"]) <= set(documents[entry["file"]]["meta"]["missing_inputs"])
    # sympy's \input{authors} names a generated file that is not in the package
    assert documents["sympy__sympy-paper__sympy.tar.gz"]["meta"]["missing_inputs"] == ["authors"]


def test_files_used_follow_inputs_with_spaces_and_subfolders(documents, manifest):
    seymour = documents["Ivan-Sergeyev__seymour__seymour-matroids.tar.gz"]["meta"]
    assert "src/10 introduction.tex" in seymour["files_used"]
    by_file = {entry["file"]: entry for entry in manifest}
    for name in ("Ivan-Sergeyev__seymour__seymour-matroids.tar.gz", "teorth__equational_theories__equational-theories.tar.gz",
                 "tendermint__tendermint__tendermint-consensus.tar.gz", "sympy__sympy-paper__sympy.tar.gz"):
        tex_used = [f for f in documents[name]["meta"]["files_used"] if f.endswith(".tex")]
        assert len(tex_used) == by_file[name]["tex_files_reached_from_main"], name


def test_ids_are_stable_and_keyed_by_the_archive_name(documents):
    doc = documents["lh3__minimap2__minimap2.tar.gz"]
    assert doc["id"] == make_doc_id("papers", "lh3__minimap2__minimap2.tar.gz", 0)
    assert doc["id"] == "8ea44e4e4a64c8bfcf689916"
    assert doc["meta"]["eprint"] == "lh3__minimap2__minimap2"


def test_tex_gz_copies_are_plain_gzip_and_read_as_the_same_paper(shared_data, documents):
    copies = sorted((shared_data / "papers").glob("*.tex.gz"))
    assert len(copies) == 3
    for copy in copies:
        raw = copy.read_bytes()
        plain = gzip.decompress(raw)
        assert raw[:2] == b"\x1f\x8b" and plain[257:262] != b"ustar"  # gzip, and not of a tar
        docs, skips = read(copy)
        assert (len(docs), dict(skips)) == (1, {})
        meta = docs[0]["meta"]
        assert meta["packing"] == "gzip"
        tar_doc = documents[copy.name.replace(".tex.gz", ".tar.gz")]
        assert meta["main_file"] == tar_doc["meta"]["main_file"]  # from the gzip header's FNAME
        with tarfile.open(shared_data / "papers" / copy.name.replace(".tex.gz", ".tar.gz")) as tar:
            inside = tar.extractfile(meta["main_file"]).read()
        assert hashlib.sha256(inside).hexdigest() == hashlib.sha256(plain).hexdigest()
        assert docs[0]["text"] == tar_doc["text"]  # single-file papers: same text either way


# Five papers, facts checked by eye against their sources.
FACTS = {
    "lh3__minimap2__minimap2.tar.gz": {
        "title": "Minimap2: pairwise alignment for nucleotide sequences",
        "abstract_start": "**Motivation:** Recent advances in sequencing technologies promise ultra-long reads of $\\sim$100 kilo bases (kb)",
        "heading": "\n## Introduction\n",
        "present": ["3–4 times as fast as mainstream short-read mappers"],  # `3--4` -> en dash
        "absent": ["\\cite", "\\mycommfont"],
    },
    "tendermint__tendermint__tendermint-consensus.tar.gz": {
        "title": "The latest gossip on BFT consensus",
        "abstract_start": "This paper presents Tendermint, a new protocol for ordering events in a distributed network",
        "heading": "\n## Introduction\n",
        "present": ["\\mathsf{PROPOSAL}"],  # \newcommand\Proposal{\mathsf{PROPOSAL}}
        "absent": ["\\Proposal", "\\Prevote"],
    },
    "intsystems__2023-Project-124__diffusion-gan-ru.tar.gz": {
        "title": "Ускорение семплирования из диффузионных моделей с использованием состязательных сетей",
        "abstract_start": "В последние годы широкое распространение получили диффузионные генеративные модели",
        "heading": "\n## Введение\n",
        "present": ["\\operatorname*{\\arg\\!\\max}"],  # \DeclareMathOperator*{\argmax}{\arg\!\max}
        "absent": ["\\argmax"],
    },
    "Ivan-Sergeyev__seymour__seymour-matroids.tar.gz": {
        "title": "Composition Direction of Seymour's Theorem for Regular Matroids—Formally Verified",  # \EmDash
        "abstract_start": "Seymour's decomposition theorem is a hallmark result in matroid theory",
        "heading": "\n## Introduction\n",
        "present": ["whether the operation is valid—if the preconditions"],  # src/40 sum 1.tex, \EmDash
        "absent": ["\\EmDash"],
    },
    "dfm__celerite__celerite.tar.gz": {
        "title": "Fast and scalable Gaussian process modeling with applications to astronomical time series",
        "abstract_start": "The growing field of large-scale time domain astronomy requires methods for probabilistic",
        "heading": "\n## Introduction\n",
        "present": ["($N = 200$)"],  # \exampleindata from figures/examples-macros.tex
        "absent": ["\\exampleindata"],
    },
}


@pytest.mark.parametrize("name", sorted(FACTS))
def test_facts_read_by_eye(name, documents, shared_data):
    facts = FACTS[name]
    doc = documents[name]
    text = doc["text"]
    assert doc["meta"]["title"] == facts["title"]
    assert text.startswith(f"# {facts['title']}\n\n## Abstract\n\n{facts['abstract_start']}")
    assert facts["heading"] in text
    for expected in facts["present"]:
        assert expected in text
    for unexpected in facts["absent"]:
        assert unexpected not in text
    outside = _MATH_OR_CODE.sub(" ", text)
    assert "\\begin{" not in outside and "\\end{" not in outside
    with tarfile.open(shared_data / "papers" / name) as tar:
        source = tar.extractfile(doc["meta"]["main_file"]).read().decode("utf-8")
    comments = [line.strip().lstrip("%").strip() for line in source.splitlines() if line.strip().startswith("%")]
    comments = [c for c in comments if len(c) >= 20 and not c.startswith("\\")]
    for comment in comments:
        assert comment not in text


def test_no_comment_or_bibliography_survives_in_any_paper(documents, shared_data):
    for name, doc in documents.items():
        outside = _MATH_OR_CODE.sub(" ", doc["text"])
        assert "\\bibliography" not in outside and "\\cite" not in outside, name
        assert "\\label{" not in doc["text"], name
        with tarfile.open(shared_data / "papers" / name) as tar:
            sources = [tar.extractfile(f).read().decode("utf-8", "replace")
                       for f in doc["meta"]["files_used"] if f.endswith(".tex")]
        for source in sources:
            lines = source.splitlines()
            live = "\n".join(line for line in lines if not line.strip().startswith("%"))
            for line in lines:
                comment = line.strip().lstrip("%").strip()
                if line.strip().startswith("%") and len(comment) >= 25 and comment not in live:
                    assert comment not in doc["text"], (name, comment)


def test_russian_paper_language_is_declared_by_its_journal_package(documents):
    # main_Latypov.tex loads ./jmlda.sty, which does \RequirePackage[english,russian]{babel}
    meta = documents["intsystems__2023-Project-117__ccm-ode-rnn-ru.tar.gz"]["meta"]
    assert (meta["language"], meta["language_source"]) == ("ru", "declared")
    assert meta["title"] == "Детекция зависимостей во временных рядах"


def test_authors_as_written_without_affiliation_marks(documents):
    # read by eye from each main file's \author commands
    assert documents["lh3__minigraph__minigraph.tar.gz"]["meta"]["authors"] == ["Heng Li", "Xiaowen Feng", "Chong Chu"]
    assert documents["OliverObst__decorating__linear-rnn.tar.gz"]["meta"]["authors"] == [
        "Frieder Stolzenburg", "Sandra Litz", "Olivia Michael", "Oliver Obst"]
    assert documents["dfm__celerite__celerite.tar.gz"]["meta"]["authors"] == [
        "Daniel Foreman-Mackey, Eric Agol, Sivaram Ambikasaran, and Ruth Angus"]  # one \author, as written
    assert documents["lamalab-org__chembench-paper__chembench.tar.gz"]["meta"]["authors"][:2] == [
        "Adrian Mirza", "Nawaf Alampara"]
    assert documents["lh3__minimap2__minimap2.tar.gz"]["meta"]["documentclass"] == "bioinfo"
