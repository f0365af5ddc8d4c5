"""Code reader on repository layouts it has not seen: built in tmp_path from real stdlib files.

Every file is either a document or counted under one reason; the same tree read as a directory, a
.tar.gz and a .zip with a top-level folder gives the same texts. The .gitignore tests take their
expected sets from the real `git` CLI on the same tree (and from a hand-derived list, so that
they still check something where git is absent), including a real package's tree from the shared
code corpus.
"""
from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
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
    # .gitignore is applied (respect_gitignore=True): the ignored file is counted, not read.
    (root / "src/.gitignore").write_text("generated_*.py\n")
    (root / "src/generated_table.py").write_text("TABLE = [1, 2, 3]\n")
    return kept


EXPECTED_SKIPS = {"code_unknown_language": 2,  # AUTHORS and src/.gitignore
                  "code_not_utf8": 1, "code_binary": 1, "code_minified": 1, "code_vendored": 3,
                  "code_gitignored": 1,  # src/generated_table.py
                  "code_empty": 1}  # the notebook: no code cell, so no script


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


def test_notebooks_as_raw_json_and_gitignore_off(tmp_path):
    root = tmp_path / "repo"
    kept = build_repo(root)
    docs, skips = read(root, notebooks="raw", respect_gitignore=False)
    notebook = (root / "analysis.ipynb").read_text()
    assert {path: (doc["meta"]["language"], doc["text"]) for path, doc in docs.items()} == {
        **kept, "analysis.ipynb": ("Jupyter Notebook", notebook),
        "src/generated_table.py": ("Python", "TABLE = [1, 2, 3]\n")}
    assert skips == {reason: count for reason, count in EXPECTED_SKIPS.items()
                     if reason not in ("code_gitignored", "code_empty")}
    with pytest.raises(ValueError, match="set `notebooks: raw` for the JSON text"):
        Options(languages=("Python", "Jupyter Notebook"))


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


# ----------------------------------------------------------------------------- .gitignore

GIT = shutil.which("git")
NO_GIT = "the git CLI is not installed here: the comparison with git's own answer is skipped"

# One file per line; every one is valid Python unless its name says otherwise.
IGNORE_TREE_FILES = """app.py build/out.py build/keep.py src/build/gen.py src/pkg/mod.py
src/pkg/mod_test.py src/pkg/data/big.py src/pkg/deep/data/x.py logs/a.py src/logs/b.py docs/a.py
docs/keep/b.py docs/keep/sub/c.py docs/other/d.py only/a.py only/b.txt.py only/sub/c.py
only/sub/d.cfg tmp.py sub/tmp.py x/y/z/w.py x/q.py local_secret.py anchored.py sub/anchored.py
venv/lib/site.py a/b/c.py a/other.py a/b/keepme.py #hash.py notes/readme.py notes/draft.py
crlf/a.py crlf/b.py""".split()
IGNORE_FILES = {
    ".gitignore": "# comment\nbuild/\n!build/keep.py\n/anchored.py\n**/data/\nlogs\ndocs/*\n"
                  "!docs/keep/\n*_test.py\n/tmp.py\nx/**/w.py\nvenv\na/b/*\n!a/b/keepme.py\n\\#hash.py\n",
    "src/.gitignore": "!mod_test.py\n/build\n",  # re-includes a file, anchors to src/
    "only/.gitignore": "*\n!*/\n!*.py\n!.gitignore\n",  # the whitelist idiom
    "notes/.gitignore": "draft.py\n",
    "crlf/.gitignore": "a.py\r\n",
}
EXCLUDE_LINES = "local_secret.py\nnotes/readme.py\n"
# Derived by hand from gitignore(5), and checked against git below where git is installed.
IGNORE_TREE_KEPT = {"a/b/keepme.py", "a/other.py", "app.py", "docs/keep/b.py", "docs/keep/sub/c.py",
                    "only/a.py", "only/b.txt.py", "only/sub/c.py", "src/pkg/mod.py",
                    "src/pkg/mod_test.py", "sub/anchored.py", "sub/tmp.py", "x/q.py", "crlf/b.py"}
IGNORE_TREE_FOLDERS = {"build", "docs/other", "logs", "src/build", "src/logs", "src/pkg/data",
                       "src/pkg/deep/data", "venv"}
IGNORE_TREE_IGNORED_FILES = {"a/b/c.py", "anchored.py", "docs/a.py", "local_secret.py",
                             "notes/draft.py", "notes/readme.py", "only/sub/d.cfg", "tmp.py",
                             "x/y/z/w.py", "#hash.py", "crlf/a.py"}


def build_ignore_tree(root: Path, *, exclude: bool = True) -> None:
    for name in IGNORE_TREE_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(f"x = {len(name)}\n")
    for name, rules in IGNORE_FILES.items():
        (root / name).write_bytes(rules.encode())
    if exclude:
        (root / ".git/info").mkdir(parents=True, exist_ok=True)
        (root / ".git/info/exclude").write_text("# git ls-files --exclude-standard reads me\n" + EXCLUDE_LINES)


def git_view(root: Path) -> tuple[set[str], set[str], set[str]]:
    """(files git would add, topmost ignored folders, ignored files outside them), from git."""
    def git(*args: str, stdin: str | None = None) -> list[str]:
        done = subprocess.run([GIT, "-C", str(root), *args], input=stdin, capture_output=True,
                              text=True, check=False)
        assert done.returncode in (0, 1), done.stderr  # check-ignore: 1 = nothing ignored
        return done.stdout.splitlines()

    if not (root / ".git/HEAD").exists():
        info_exclude = (root / ".git/info/exclude").read_bytes() if (root / ".git/info/exclude").exists() else None
        git("init", "-q")
        if info_exclude is not None:
            (root / ".git/info/exclude").write_bytes(info_exclude)
    tracked = set(git("ls-files", "--others", "--exclude-standard"))  # what `git add -A` adds
    ignored = set(git("ls-files", "--others", "--ignored", "--exclude-standard"))
    folders = sorted(str(p.relative_to(root)) for p in root.rglob("*")
                     if p.is_dir() and ".git" not in p.relative_to(root).parts)
    ignored_folders = set(git("check-ignore", "--stdin", stdin="\n".join(folders) + "\n"))
    topmost = {f for f in ignored_folders if not any(f.startswith(o + "/") for o in ignored_folders)}
    loose = {f for f in ignored if not any(f.startswith(o + "/") for o in topmost)}
    return tracked, topmost, loose


def test_gitignore_rules_match_git_on_a_tricky_tree(tmp_path):
    root = tmp_path / "repo"
    build_ignore_tree(root)
    docs, skips = read(root)
    assert set(docs) == IGNORE_TREE_KEPT
    assert skips["code_gitignored_directory"] == len(IGNORE_TREE_FOLDERS) == 8
    assert skips["code_gitignored"] == len(IGNORE_TREE_IGNORED_FILES) == 11
    assert skips["code_unknown_language"] == 5  # the five .gitignore files
    if GIT is None:
        pytest.skip(NO_GIT)
    tracked, topmost, loose = git_view(root)
    assert {p for p in tracked if p.endswith(".py")} == IGNORE_TREE_KEPT
    assert topmost == IGNORE_TREE_FOLDERS and loose == IGNORE_TREE_IGNORED_FILES


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_gitignore_in_archives_with_a_top_level_folder(tmp_path, kind):
    root = tmp_path / "repo"
    build_ignore_tree(root)
    archive = tmp_path / f"repo-1.0.{kind}"
    files = sorted(p for p in root.rglob("*") if p.is_file())
    names = [(path, f"repo-1.0/{path.relative_to(root).as_posix()}") for path in files]
    if kind == "tar.gz":
        with tarfile.open(archive, "w:gz") as tar:
            for path, name in names:
                tar.add(path, arcname=name)
    else:
        with zipfile.ZipFile(archive, "w") as handle:
            for path, name in names:
                handle.write(path, name)
    docs, skips = read(archive)
    assert set(docs) == {f"repo-1.0/{p}" for p in IGNORE_TREE_KEPT}
    dir_docs, dir_skips = read(root)
    assert skips == dir_skips  # folders counted once, as in the directory walk
    assert [doc["text"] for doc in docs.values()] == [dir_docs[p[len("repo-1.0/"):]]["text"] for p in docs]
    everything, _ = read(archive, respect_gitignore=False)
    assert len(everything) == len([n for n in IGNORE_TREE_FILES if n.endswith(".py")]) == 33


def test_gitignore_ignored_folders_are_not_walked(tmp_path):
    root = tmp_path / "repo"
    (root / "node_modules/pkg").mkdir(parents=True)
    (root / "node_modules/pkg/index.js").write_text("module.exports = 1;\n")
    (root / "out").mkdir()
    os.symlink("..", root / "out/loop")  # would be counted as a link if the folder were walked
    os.symlink("app.py", root / "alias.py")  # an ignored link: counted as ignored, not as a link
    (root / "app.py").write_text("print('hi')\n")
    (root / ".gitignore").write_text("node_modules/\nout/\nalias.py\n")
    docs, skips = read(root)
    assert list(docs) == ["app.py"]
    assert skips == {"code_gitignored_directory": 2, "code_gitignored": 1, "code_unknown_language": 1}


def test_gitignore_on_a_real_package_tree(tmp_path, shared_data):
    """click 8.5.1 from the shared corpus (MANIFEST.md section 4: 74 Python files), written out
    as a checkout with a .gitignore at its root and one in tests/."""
    root = tmp_path / "click"
    with gzip.open(shared_data / "code/code_corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
        rows = [row for row in map(json.loads, handle) if row["package"] == "click"]
    assert len(rows) == 74
    for row in rows:
        path = root / row["path"].removeprefix("click-8.5.1/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(row["content"], encoding="utf-8")
    (root / ".gitignore").write_text("/docs/\ntests/typing/\n_*.py\n!__init__.py\n!/src/click/_compat.py\n")
    (root / "tests/.gitignore").write_text("test_utils/\n!test_basic.py\ntest_*.py\n!test_options.py\n")
    docs, skips = read(root)
    paths = {row["path"].removeprefix("click-8.5.1/") for row in rows}
    # By hand: docs/, tests/typing/ and tests/test_utils/ are pruned; `_*.py` drops the private
    # modules but _compat.py; in tests/ (and its subfolders), `test_*.py` comes after
    # `!test_basic.py`, so only the later `!test_options.py` re-includes.
    hand = {p for p in paths if not p.startswith(("docs/", "tests/typing/", "tests/test_utils/"))
            and not (p.rsplit("/", 1)[-1].startswith("_") and p.rsplit("/", 1)[-1] != "__init__.py"
                     and p != "src/click/_compat.py")
            and not (p.startswith("tests/") and p.rsplit("/", 1)[-1].startswith("test_")
                     and p != "tests/test_options.py")}
    assert set(docs) == hand
    # src/click: 17 - 4 private modules; tests/: conftest.py and test_options.py of its 22
    assert len(hand) == 13 + 2 == 15 and skips["code_gitignored_directory"] == 3
    # the files in pruned folders (docs: 1, tests/typing: 12, tests/test_utils: 13) are not counted
    assert skips["code_gitignored"] == 74 - 15 - 1 - 12 - 13 == 33
    if GIT is None:
        pytest.skip(NO_GIT)
    tracked, topmost, loose = git_view(root)
    assert {p for p in tracked if p.endswith(".py")} == set(docs)
    assert topmost == {"docs", "tests/typing", "tests/test_utils"}
    assert len(loose) == skips["code_gitignored"]


def test_gitignore_on_a_remote_tree_listed_flat():
    """A non-local fsspec tree is listed, not walked: same rules, same counts as a directory."""
    import fsspec

    fs = fsspec.filesystem("memory")
    files = {"/gi-remote/a.py": "x = 1\n", "/gi-remote/build/b.py": "y = 2\n",
             "/gi-remote/build/c.py": "y = 3\n", "/gi-remote/s/t.py": "z = 1\n",
             "/gi-remote/s/.gitignore": "t.py\n", "/gi-remote/.gitignore": "build/\n"}
    for path, text in files.items():
        fs.pipe(path, text.encode())
    try:
        docs, skips = read("memory://gi-remote")
    finally:
        fs.rm("/gi-remote", recursive=True)
    assert list(docs) == ["a.py"]
    assert skips == {"code_gitignored_directory": 1, "code_gitignored": 1, "code_unknown_language": 2}
