"""Code reader on repository layouts it has not seen: built in tmp_path from real stdlib files.

Every file is either a document or counted under one reason; the same tree read as a directory, a
.tar.gz and a .zip with a top-level folder gives the same texts.
"""
from __future__ import annotations

import io
import os
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from corpora.code import Options, iter_documents
from corpora.code_languages import language_from_shebang
from corpora.schema import SkipCounter

STDLIB = Path(sysconfig.get_paths()["stdlib"])


def read(path: Path, **options) -> tuple[dict[str, dict], dict]:
    skips = SkipCounter()
    docs = list(iter_documents(str(path), source="code", file_key="input", options=Options(**options), skips=skips))
    return {doc["meta"]["path"]: doc for doc in docs}, dict(skips)


def build_repo(root: Path) -> dict[str, tuple[str, str]]:
    """The tree; returns path -> (language, text) of what must be kept."""
    textwrap_source = (STDLIB / "textwrap.py").read_text(encoding="utf-8")
    shlex_source = (STDLIB / "shlex.py").read_text(encoding="utf-8")
    kept = {}
    (root / "bin").mkdir(parents=True)
    scripts = {
        "bin/wrap": ("Python", "#!/usr/bin/env python3.11\n" + textwrap_source),
        "bin/deploy": ("Shell", "#!/bin/bash -eu\nset -o pipefail\nfor f in *.txt; do\n  wc -l \"$f\"\ndone\n"),
        "bin/serve": ("JavaScript", "#!/usr/bin/env -S node --no-warnings\nconsole.log('up');\n"),
    }
    for name, (language, text) in scripts.items():
        (root / name).write_text(text)
        kept[name] = (language, text)
    (root / "AUTHORS").write_text("Ada Lovelace\nAlan Turing\n")  # no extension, no shebang
    (root / "win").mkdir()
    (root / "win/Setup.cs").write_bytes("// saved by Visual Studio\nclass Setup { }\n".encode("utf-16-le")
                                        .join([b"\xff\xfe", b""]))
    kept["win/Setup.cs"] = ("C#", "// saved by Visual Studio\nclass Setup { }\n")
    (root / "win/build.ps1").write_bytes(b"\xfe\xff" + "Write-Host 'build'\n".encode("utf-16-be"))
    kept["win/build.ps1"] = ("PowerShell", "Write-Host 'build'\n")
    (root / "legacy.py").write_bytes("# Auteur: Ren\xe9\nx = 1\n".encode("latin-1"))  # not UTF-8
    (root / "logo.js").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")  # binary, text name
    # One 120 kB line with ordinary spacing: the whitespace rule alone would keep it.
    (root / "bundle.js").write_text("var a = f(1, 2); " * 7_000)
    for vendored in ("node_modules/left-pad/index.js", "go/vendor/x/y.go", "lib/third_party/z.c"):
        (root / vendored).parent.mkdir(parents=True, exist_ok=True)
        (root / vendored).write_text("int x;\n")
    (root / "analysis.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n')
    (root / "src").mkdir()
    (root / "src/shlex.py").write_text(shlex_source)
    kept["src/shlex.py"] = ("Python", shlex_source)
    # .gitignore is not applied (documented): an ignored file is read like any other.
    (root / "src/.gitignore").write_text("generated_*.py\n")
    (root / "src/generated_table.py").write_text("TABLE = [1, 2, 3]\n")
    kept["src/generated_table.py"] = ("Python", "TABLE = [1, 2, 3]\n")
    return kept


EXPECTED_SKIPS = {"code_unknown_language": 2,  # AUTHORS and src/.gitignore
                  "code_not_utf8": 1, "code_binary": 1, "code_minified": 1, "code_vendored": 3,
                  "code_language_excluded": 1}  # the notebook: not among the default languages


def test_directory_with_scripts_utf16_binary_minified_vendored_and_links(tmp_path):
    root = tmp_path / "repo"
    kept = build_repo(root)
    os.symlink("..", root / "src/loop")  # a directory loop
    os.symlink("/etc", root / "etc_dir")  # a directory outside
    os.symlink("/etc/hostname", root / "host.py")  # a file outside
    os.symlink("shlex.py", root / "src/alias.py")  # a duplicate inside
    os.symlink("missing.py", root / "src/dangling.py")  # a dangling link
    docs, skips = read(root)
    assert {path: (doc["meta"]["language"], doc["text"]) for path, doc in docs.items()} == kept
    assert skips == {**EXPECTED_SKIPS, "code_link": 3, "code_unsafe_path": 2}
    assert docs["win/Setup.cs"]["meta"]["size"] == len(kept["win/Setup.cs"][1].encode("utf-8"))


def test_notebooks_are_read_when_asked_for(tmp_path):
    root = tmp_path / "repo"
    build_repo(root)
    docs, skips = read(root, languages=("Jupyter Notebook",))
    assert list(docs) == ["analysis.ipynb"]
    assert docs["analysis.ipynb"]["text"].startswith('{"cells": []')
    assert skips["code_language_excluded"] == 10  # the 10 files of other languages (read before decoding)


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_archives_with_a_top_level_folder_read_like_the_directory(tmp_path, kind):
    root = tmp_path / "repo"
    kept = build_repo(root)
    archive = tmp_path / f"repo-2.0.{kind}"
    files = sorted(p for p in root.rglob("*") if p.is_file())
    if kind == "tar.gz":
        with tarfile.open(archive, "w:gz") as tar:
            for path in files:
                tar.add(path, arcname=f"repo-2.0/{path.relative_to(root).as_posix()}")
    else:
        with zipfile.ZipFile(archive, "w") as handle:
            for path in files:
                handle.write(path, f"repo-2.0/{path.relative_to(root).as_posix()}")
    docs, skips = read(archive)
    assert {path: (doc["meta"]["language"], doc["text"]) for path, doc in docs.items()} == {
        f"repo-2.0/{path}": value for path, value in kept.items()}
    assert {doc["meta"]["repo"] for doc in docs.values()} == {"repo-2.0"}
    assert skips == EXPECTED_SKIPS


def test_jsonl_records_of_extensionless_scripts(tmp_path):
    import json

    lines = [{"path": "tools/release", "content": "#!/usr/bin/env ruby\nputs 'release'\n", "repo": "r"},
             {"path": "tools/notes", "content": "just notes\n", "repo": "r"}]
    path = tmp_path / "files.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    docs, skips = read(path)
    assert {p: doc["meta"]["language"] for p, doc in docs.items()} == {"tools/release": "Ruby"}
    assert skips == {"code_unknown_language": 1}


@pytest.mark.parametrize("head, language", [
    (b"#!/usr/bin/env python3\n", "Python"), (b"#!/usr/bin/python2.7\n", "Python"),
    (b"#! /bin/sh\n", "Shell"), (b"#!/bin/bash -e\r\n", "Shell"), (b"#!/usr/bin/env -S node --x\n", "JavaScript"),
    (b"#!/usr/bin/env FOO=1 perl -w\n", "Perl"), (b"#!/usr/local/bin/Rscript\n", "R"),
    (b"#!/usr/bin/env tclsh\n", None), (b"# not a shebang\n", None), (b"", None),
])
def test_language_from_shebang(head, language):
    assert language_from_shebang(head + b"rest of the file\n") == language


def test_zip_and_tar_entries_keep_their_bytes(tmp_path):
    # The same UTF-16 file inside a zip decodes like on disk.
    data = "Write-Host 'x'\n".encode("utf-16")
    archive = tmp_path / "w.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("w/build.ps1", data)
    docs, skips = read(archive)
    assert {p: d["text"] for p, d in docs.items()} == {"w/build.ps1": "Write-Host 'x'\n"} and skips == {}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("w/run")
        payload = b"#!/bin/sh\necho ok\n"
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    (tmp_path / "w.tar").write_bytes(buffer.getvalue())
    docs, skips = read(tmp_path / "w.tar")
    assert {p: d["meta"]["language"] for p, d in docs.items()} == {"w/run": "Shell"} and skips == {}


@pytest.mark.parametrize("lines, longest_allowed, expected", [
    (["a" * 100], 100, False), (["a" * 101], 100, True), (["x", "a" * 101, "y"], 100, True),
    (["a" * 60, "b" * 60, "c" * 60], 100, False), (["a" * 99] * 50 + ["b" * 150], 100, True), ([""], 100, False),
])
def test_has_line_longer_than(lines, longest_allowed, expected):
    from corpora.code import has_line_longer_than

    assert has_line_longer_than("\n".join(lines), longest_allowed) is expected
