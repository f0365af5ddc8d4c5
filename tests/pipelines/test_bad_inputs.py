"""`runner.max_bad_inputs`: files that are not what their source's kind reads are skipped and listed
under the limit, and stop the build above it, naming the files and the setting.

Real WARCs from ../shared/data plus a real book's text saved under a `.warc.gz` name; the
documents that come through are compared with a build that never saw the bad file."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from pipelines.bad_inputs import TooManyBadInputs, allowed_bad_inputs
from pipelines.build import build
from pipelines.recipe import RecipeError, load_recipe

GOOD_WARCS = ["resiliparse_cc-sample_warcfile.warc.gz", "dolma_sample-0000.warc.gz", "cc-whirlwind.warc.gz"]


@pytest.fixture(scope="module")
def web_inputs(shared_data, tmp_path_factory) -> tuple[Path, Path]:
    """(a folder of 3 real WARCs + 1 plain-text file named .warc.gz, a folder of the 3 WARCs only)."""
    root = tmp_path_factory.mktemp("bad-inputs")
    # Same folder name: document ids hash the path relative to the input folder's parent.
    mixed, clean = root / "mixed" / "web", root / "clean" / "web"
    for folder in (mixed, clean):
        folder.mkdir(parents=True)
        for name in GOOD_WARCS:
            found = next((shared_data / "web").rglob(name))
            shutil.copyfile(found, folder / name)
    book = next((shared_data / "books" / "gitenberg").glob("*.txt"))
    (mixed / "b-notes.warc.gz").write_bytes(book.read_bytes()[:20_000])  # text, not a WARC
    return mixed, clean


def _recipe(tmp_path: Path, name: str, inputs: Path, max_bad_inputs) -> Path:
    recipe = {"run_dir": str(tmp_path / name), "runner": {"num_cpus": 2, "max_bad_inputs": max_bad_inputs},
              "sources": [{"name": "web", "kind": "commoncrawl", "paths": [str(inputs)]}]}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def _documents(run_dir: Path) -> pa.Table:
    table = pa.concat_tables([pq.read_table(p) for p in sorted((run_dir / "extract" / "web").glob("*.parquet"))])
    return table.sort_by("id")


def test_a_bad_file_within_the_limit_is_skipped_and_listed(ray_cluster, web_inputs, tmp_path):
    mixed, clean = web_inputs
    build(load_recipe(_recipe(tmp_path, "mixed", mixed, 1)), show_progress=False)
    build(load_recipe(_recipe(tmp_path, "clean", clean, 0)), show_progress=False)

    stats = json.loads((tmp_path / "mixed" / "_stats" / "extract.json").read_text())["web"]
    assert stats["num_bad_inputs"] == 1
    [bad] = stats["bad_inputs"]
    assert bad["path"] == str(mixed / "b-notes.warc.gz")
    assert bad["reason"].startswith("InputError: ") and "no WARC or ARC record found" in bad["reason"]
    assert stats["num_tasks"] == 4

    kept, reference = _documents(tmp_path / "mixed"), _documents(tmp_path / "clean")
    assert kept.num_rows == reference.num_rows > 0
    assert kept.equals(reference)  # every document of the good files, byte for byte
    assert json.loads((tmp_path / "clean" / "_stats" / "extract.json").read_text())["web"].get("num_bad_inputs") is None


def test_above_the_limit_the_build_stops_naming_the_files_and_the_setting(ray_cluster, web_inputs, tmp_path):
    mixed, _ = web_inputs
    with pytest.raises(TooManyBadInputs) as stopped:
        build(load_recipe(_recipe(tmp_path, "strict", mixed, 0)), show_progress=False)
    message = str(stopped.value)
    assert "source 'web': 1 of 4 input files are not what its kind reads" in message
    assert "runner.max_bad_inputs = 0 allows 0" in message
    assert f"{mixed / 'b-notes.warc.gz'}: InputError: " in message
    done = sorted(p.name for p in (tmp_path / "strict" / "_done" / "extract").iterdir())
    assert done == ["web.00001", "web.00002", "web.00003"]  # web.00000, the bad file, is read again next time


def test_the_default_fraction_stops_a_small_source_at_its_first_bad_file(ray_cluster, web_inputs, tmp_path):
    mixed, _ = web_inputs
    path = tmp_path / "default.yaml"
    path.write_text(yaml.safe_dump({"run_dir": str(tmp_path / "default"),
                                    "sources": [{"name": "web", "kind": "commoncrawl", "paths": [str(mixed)]}]}))
    resolved = load_recipe(path)
    assert resolved.recipe.runner.max_bad_inputs == 0.01
    with pytest.raises(TooManyBadInputs, match=r"runner.max_bad_inputs = 0.01 allows 0"):
        build(resolved, show_progress=False)


@pytest.mark.parametrize("setting, num_inputs, allowed", [
    (0.01, 4, 0), (0.01, 99, 0), (0.01, 100, 1), (0.01, 90_000, 900), (0.25, 4, 1), (1.0, 7, 7),
    (0, 90_000, 0), (5, 3, 5),
])
def test_allowed_bad_inputs(setting, num_inputs, allowed):
    assert allowed_bad_inputs(setting, num_inputs) == allowed


@pytest.mark.parametrize("value, problem", [(1.5, "a fraction is at most 1.0"),
                                            (-1, "greater than or equal to 0"),
                                            ("many", "give a count of files"), (True, "give a count of files")])
def test_the_setting_is_validated(tmp_path, value, problem):
    data = tmp_path / "a.jsonl"
    data.write_text('{"text": "x"}\n')
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"run_dir": str(tmp_path / "run"), "runner": {"max_bad_inputs": value},
                                    "sources": [{"name": "a", "kind": "jsonl", "paths": [str(data)]}]}))
    with pytest.raises(RecipeError, match=r"runner\.max_bad_inputs: .*" + problem):
        load_recipe(path)
