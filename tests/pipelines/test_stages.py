"""The stage protocol: build walks STAGES; each stage reads the stage it names, and a disabled stage
stands aside for its own input (no Ray needed: this is the driver-side wiring)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipelines.build import stage_inputs
from pipelines.recipe import load_recipe
from pipelines.stage import Stage
from pipelines.stages import STAGES, STAGES_BY_NAME


def _resolved(tmp_path: Path, **sections):
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": "one document"}) + "\n")
    recipe = {"run_dir": "run", "sources": [{"name": "docs", "kind": "jsonl", "paths": ["a.jsonl"]}], **sections}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    (tmp_path / "tok.json").write_text("{}")
    return load_recipe(tmp_path / "recipe.yaml")


def test_the_stages_in_build_order_each_after_the_stage_it_reads():
    assert [s.name for s in STAGES] == ["extract", "annotate", "filter", "dedup", "tokenizer", "tokenize", "mix"]
    assert {s.name: s.reads for s in STAGES} == {
        "extract": None, "annotate": "extract", "filter": "annotate", "dedup": "filter", "tokenizer": "dedup",
        "tokenize": "dedup", "mix": "tokenize"}
    assert STAGES_BY_NAME["mix"] is STAGES[-1]


def test_every_stage_reads_the_named_stage_when_all_are_enabled(tmp_path):
    resolved = _resolved(tmp_path, filter={}, tokenize={"tokenizer": "tok.json"}, mix={"natural": True})
    assert stage_inputs(resolved) == {"extract": None, "annotate": "extract", "filter": "annotate",
                                      "dedup": "filter", "tokenizer": "dedup", "tokenize": "dedup",
                                      "mix": "tokenize"}


def test_a_disabled_stage_stands_aside_for_its_own_input(tmp_path):
    resolved = _resolved(tmp_path, tokenize={"tokenizer": "tok.json"})  # no filter: section; dedup on by default
    assert stage_inputs(resolved) == {"extract": None, "dedup": "extract", "tokenizer": "dedup", "tokenize": "dedup"}
    assert stage_inputs(_resolved(tmp_path)) == {"extract": None, "dedup": "extract"}
    resolved = _resolved(tmp_path, tokenize={"tokenizer": "tok.json"}, dedup=False)
    assert stage_inputs(resolved) == {"extract": None, "tokenizer": "extract", "tokenize": "extract"}


def test_a_stage_listed_before_its_input_is_refused(tmp_path):
    class Early(Stage):
        name = "early"
        reads = "filter"

    with pytest.raises(ValueError, match="stage early reads 'filter', which is not listed before it"):
        stage_inputs(_resolved(tmp_path), (STAGES[0], Early(), *STAGES[1:]))


def test_recipe_sections_are_validated_by_the_stages_models(tmp_path):
    resolved = _resolved(tmp_path, filter={"rejects_sample_rate": 0.5}, tokenize={"tokenizer": "tok.json"},
                         mix={"natural": True, "val_fraction": 0.1})
    assert type(resolved.sections["filter"]) is STAGES_BY_NAME["filter"].config_model
    assert type(resolved.sections["mix"]) is STAGES_BY_NAME["mix"].config_model
    assert resolved.sections["filter"].rejects_sample_rate == 0.5


def test_a_stage_section_needs_no_field_in_the_recipe_model(tmp_path, monkeypatch):
    """A new stage brings its section with it: validated by its config_model, refused when wrong."""
    import pipelines.recipe as recipe_module
    from corpora import Strict

    class ToyConfig(Strict):
        threshold: float = 0.5

    class Toy(Stage):
        name = "toy"
        reads = "extract"
        section = "toy"
        config_model = ToyConfig

    monkeypatch.setattr(recipe_module, "section_models", lambda: {"toy": ToyConfig})
    resolved = _resolved(tmp_path, toy={"threshold": 0.9})
    assert resolved.sections["toy"] == ToyConfig(threshold=0.9)
    assert yaml.safe_load(resolved.to_yaml())["toy"] == {"threshold": 0.9}
    assert stage_inputs(resolved, (STAGES[0], Toy())) == {"extract": None, "toy": "extract"}
    with pytest.raises(Exception, match="toy.thresh: unknown key"):
        _resolved(tmp_path, toy={"thresh": 0.9})
