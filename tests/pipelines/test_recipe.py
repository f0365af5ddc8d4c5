"""Recipe validation refuses bad recipes before any work, naming the field and the fix."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipelines.recipe import RecipeError, load_recipe


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    from pydoc_data.topics import topics  # real text shipped with Python

    folder = tmp_path / "docs"
    folder.mkdir()
    for i, name in enumerate(sorted(topics)[:6]):
        (folder / f"part-{i}.jsonl").write_text(json.dumps({"text": topics[name]}) + "\n")
    return folder


def _write(tmp_path: Path, recipe: dict) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def _recipe(inputs: Path, **extra) -> dict:
    return {"run_dir": "runs/x", "sources": [{"name": "docs", "kind": "jsonl", "paths": [str(inputs)]}], **extra}


def test_valid_recipe_resolves_inputs_and_run_dir(tmp_path, inputs):
    resolved = load_recipe(_write(tmp_path, _recipe(inputs)))
    files = resolved.inputs["docs"]
    assert [f.file_key for f in files] == [f"docs/part-{i}.jsonl" for i in range(6)]
    assert resolved.run_dir == str(tmp_path / "runs" / "x")  # relative to the recipe file
    assert resolved.reader_options["docs"].text_field == "text"
    dumped = yaml.safe_load(resolved.to_yaml())
    assert dumped["sources"][0]["inputs"] == [str(inputs / f"part-{i}.jsonl") for i in range(6)]


def test_relative_glob_is_resolved_against_the_recipe_directory(tmp_path, inputs):
    recipe = _recipe(inputs)
    recipe["sources"][0]["paths"] = "docs/part-[0-2].jsonl"
    resolved = load_recipe(_write(tmp_path, recipe))
    assert [f.file_key for f in resolved.inputs["docs"]] == ["part-0.jsonl", "part-1.jsonl", "part-2.jsonl"]


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda r: r.update(colour="blue"), "colour: unknown key; remove it or check its spelling"),
        (lambda r: r.update(seed="abc"), "seed: Input should be a valid integer"),
        (lambda r: r["sources"][0].update(kind="warc"), "sources[0].kind: Input should be 'commoncrawl'"),
        (lambda r: r["sources"][0].update(options={"txt_field": "body"}),
         "sources[0].options.txt_field: unknown key; remove it or check its spelling"),
        (lambda r: r["sources"][0].update(paths=["dumps/*.xml.bz2"]),
         "sources[0].paths: source 'docs': no files match 'dumps/*.xml.bz2'"),
        (lambda r: r["sources"][0].update(name="my docs"), "sources[0].name: Value error, use letters"),
        (lambda r: r["sources"].append(dict(r["sources"][0])), "sources: Value error, source names must be unique; repeated: docs"),
        (lambda r: r.update(runner={"max_retries": -1}), "runner.max_retries: Input should be greater than or equal to 0"),
        (lambda r: r.update(tokenize={}), "tokenize: give exactly one of `tokenizer:`"),
        (lambda r: r.update(filter={"sources": {"dcos": {}}}), "filter.sources.dcos: no source named 'dcos'; the sources are docs"),
        (lambda r: r.update(tokenize={"train": {"vocab_size": 500}}, mix={"weights": {"docs": 0.5, "web": 0.5}}),
         "mix.weights.web: no source named 'web'"),
    ],
)
def test_bad_recipes_are_refused_with_the_field_path(tmp_path, inputs, change, expected):
    recipe = _recipe(inputs)
    change(recipe)
    with pytest.raises(RecipeError) as error:
        load_recipe(_write(tmp_path, recipe))
    assert any(problem.startswith(expected) for problem in error.value.problems), error.value.problems


def test_every_problem_is_reported_at_once(tmp_path, inputs):
    recipe = _recipe(inputs)
    recipe["sources"][0]["options"] = {"txt_field": "body"}
    recipe["sources"].append({"name": "wiki", "kind": "wikipedia", "paths": ["nowhere/*.xml.bz2"]})
    with pytest.raises(RecipeError) as error:
        load_recipe(_write(tmp_path, recipe))
    assert len(error.value.problems) == 2


def test_cli_validate_exit_codes_and_messages(tmp_path, inputs):
    good = _write(tmp_path, _recipe(inputs))
    ok = subprocess.run([sys.executable, "-m", "pipelines.cli", "validate", str(good)],
                        capture_output=True, text=True)
    assert ok.returncode == 0
    assert "docs" in ok.stdout and "6 inputs" in ok.stdout
    bad_recipe = _recipe(inputs)
    bad_recipe["sources"][0]["paths"] = ["dumps/*.xml.bz2"]
    bad = subprocess.run([sys.executable, "-m", "pipelines.cli", "validate", str(_write(tmp_path, bad_recipe))],
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert "no files match 'dumps/*.xml.bz2'" in bad.stderr


@pytest.mark.parametrize("name", ["web-only.yaml", "full-mixture.yaml"])
def test_example_recipes_validate(name, shared_data):
    recipe = Path(__file__).resolve().parents[2] / "recipes" / name
    if shared_data.resolve() != (recipe.parents[2] / "shared" / "data").resolve():
        pytest.skip("the example recipes point at ../shared/data next to the repository")
    resolved = load_recipe(recipe)
    assert all(resolved.inputs[s.name] for s in resolved.recipe.sources)
    assert resolved.sections["mix"] is not None and resolved.sections["filter"] is not None


def test_a_directory_contributes_every_form_its_reader_reads(tmp_path):
    """Directory inputs: compressed and zipped books, upper-case suffixes; other files stay out."""
    from pipelines.inputs import expand_paths

    folder = tmp_path / "books"
    (folder / "sub").mkdir(parents=True)
    wanted = ["a.txt", "b.txt.gz", "c-8.zip", "D.TXT", "sub/e.txt.utf-8", "sub/f.txt.zst"]
    for name in wanted + ["pg1_metadata.yaml", "notes.md", "cover.jpg"]:
        (folder / name).write_bytes(b"x")
    files = expand_paths("books", [str(folder)], str(tmp_path), "books")
    assert sorted(f.file_key for f in files) == sorted(f"books/{name}" for name in wanted)
    web = tmp_path / "crawl"
    web.mkdir()
    for name in ["00000.warc.gz", "00001.WARC.GZ", "00002.warc.zst", "00003.wet.gz", "index.cdx.gz"]:
        (web / name).write_bytes(b"x")
    files = expand_paths("commoncrawl", [str(web)], str(tmp_path), "web")
    assert [f.file_key for f in files] == ["crawl/00000.warc.gz", "crawl/00001.WARC.GZ",
                                           "crawl/00002.warc.zst", "crawl/00003.wet.gz"]


def test_build_stops_on_an_input_error_with_the_readers_fix(tmp_path):
    """CCNet-style records keep their text in `raw_content`: the default text_field fits none of
    them, so the build stops naming the option (it does not finish with zero documents)."""
    from pydoc_data.topics import topics

    folder = tmp_path / "ccnet"
    folder.mkdir()
    (folder / "part.jsonl").write_text("".join(json.dumps({"raw_content": topics[name], "url": f"u{i}"}) + "\n"
                                               for i, name in enumerate(sorted(topics)[:5])))
    recipe = _write(tmp_path, {"run_dir": "runs/x", "sources": [{"name": "cc", "kind": "jsonl", "paths": [str(folder)]}]})
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "build", str(recipe), "--no-progress"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "build stopped: stage extract: too many inputs of the wrong kind" in done.stderr
    assert "source 'cc': 1 of 1 input files are not what its kind reads" in " ".join(done.stderr.split())
    assert "TextFieldError" in done.stderr and "raw_content" in done.stderr and "text_field" in done.stderr
    assert not (tmp_path / "runs" / "x" / "_done" / "extract").exists() or \
        os.listdir(tmp_path / "runs" / "x" / "_done" / "extract") == []


@pytest.mark.parametrize("filter_section, problem", [
    ({"defaults": {"lid": {"languages": ["de"]}}}, "keeps de: nearly every non-English document would be dropped"),
    ({"sources": {"docs": {"lid": {"languages": ["en", "fr"]}}}}, "keeps en, fr"),
    ({"defaults": {"lid": {"languages": None}}}, "keeps any language"),
    ({"defaults": {"lid": {"languages": ["de"]}, "gopher_quality": {"stop_words": ["der", "die", "und"]}}}, None),
    ({"defaults": {"lid": {"languages": ["de"]}, "gopher_quality": {"min_stop_words": None}}}, None),
    ({"defaults": {"lid": {"languages": ["de"]}, "gopher_quality": {"enabled": False}}}, None),
    ({"defaults": {"lid": {"languages": ["en"]}}}, None),
    ({"defaults": {"lid": {"enabled": False}}}, None),  # no language chosen: nothing to contradict
])
def test_english_stop_words_on_a_non_english_source_are_refused(tmp_path, inputs, filter_section, problem):
    path = _write(tmp_path, _recipe(inputs, filter=filter_section))
    if problem is None:
        assert load_recipe(path).sections["filter"] is not None
        return
    with pytest.raises(RecipeError) as error:
        load_recipe(path)
    assert error.value.problems == [
        "filter.sources.docs.gopher_quality: the stop-word rule counts English words "
        f"(the, be, to, of, and, that, have, with) but source 'docs' {problem.split(':')[0]}: nearly every "
        "non-English document would be dropped; set `stop_words` to that language's commonest words, "
        "or `min_stop_words: null`"]
