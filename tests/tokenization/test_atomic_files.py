"""One atomic write for every writer, and one temporary-name style the stale cleanup knows."""
from __future__ import annotations

import re

import pytest

from pipelines.build import remove_stale_temporaries
from pipelines.rundir import RunDir
from tokenization.atomic_files import atomic_path, temp_name, write_bytes_atomic


def test_a_failed_write_leaves_neither_the_file_nor_its_temporary(tmp_path):
    target = tmp_path / "sub" / "tokenizer.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed")
    assert list(tmp_path.rglob("*")) == [tmp_path / "sub"]
    write_bytes_atomic(target, b"{}")
    assert target.read_bytes() == b"{}" and sorted(p.name for p in target.parent.iterdir()) == ["tokenizer.json"]


def test_the_build_removes_what_a_killed_writer_of_any_kind_left(tmp_path):
    assert re.fullmatch(r".*/tokenizer\.json\.tmp-[0-9a-f]{8}", temp_name(str(tmp_path / "tokenizer.json")))
    run = RunDir(str(tmp_path / "run"))
    left = [tmp_path / "run" / "tokenizer" / "tokenizer.json", tmp_path / "run" / "shards" / "train-00000.arrow",
            tmp_path / "run" / "shards" / "manifest.json"]
    for path in left:  # what a SIGKILL inside `atomic_path` leaves: the temporary, never the file
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temp_name(str(path)), "wb") as half:
            half.write(b"half")
    (tmp_path / "run" / "shards" / "kept.arrow").write_bytes(b"done")
    remove_stale_temporaries(run)
    assert [p.name for p in sorted((tmp_path / "run").rglob("*")) if p.is_file()] == ["kept.arrow"]
