"""One list of the file suffixes each reader takes from a directory (corpora.DIRECTORY_SUFFIXES):
the inputs a recipe's directory contributes are the files its reader reads."""
from __future__ import annotations

import io
import tarfile

from corpora import SkipCounter, reader_for
from pipelines.inputs import expand_paths


def _tar(path, mode: str, name: str, text: str) -> None:
    data = text.encode()
    with tarfile.open(path, mode) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def test_a_directory_of_txz_and_tar_gz_code_archives_yields_both(tmp_path):
    folder = tmp_path / "archives"
    folder.mkdir()
    _tar(folder / "a.txz", "w:xz", "a/main.py", "def a():\n    return 1\n")
    _tar(folder / "b.tar.gz", "w:gz", "b/lib.py", "def b():\n    return 2\n")
    inputs = expand_paths("code", [str(folder)], str(tmp_path), "code")
    assert [f.file_key for f in inputs] == ["archives/a.txz", "archives/b.tar.gz"]
    reader = reader_for("code")
    texts = [doc["text"] for f in inputs
             for doc in reader.iter_documents(f.path, source="code", file_key=f.file_key,
                                              options=reader.Options(), skips=SkipCounter())]
    assert texts == ["def a():\n    return 1\n", "def b():\n    return 2\n"]


def test_a_repository_tree_with_package_json_is_one_tree_not_json_inputs(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "package.json").write_text('{"name": "x"}')
    (repo / "index.js").write_text("module.exports = 1;\n")
    assert [f.file_key for f in expand_paths("code", [str(repo)], str(tmp_path), "code")] == ["repo"]
