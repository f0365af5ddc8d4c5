"""The recipe: one YAML file that says what to build. Validated completely before any work.

Unknown keys, wrong types, options a reader does not know and paths that match nothing are refused
up front with the field path and a hint, e.g.
    sources[1].paths: source 'wiki': no files match 'dumps/*.xml.bz2'; check `paths` in the recipe
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from corpora import SOURCE_KINDS, Strict, reader_for
from pipelines.inputs import InputFile, NoInputsError, expand_paths
from pipelines.paths import resolve_path

SourceKind = Literal[SOURCE_KINDS]  # the registered readers' kinds (corpora.READER_MODULES)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class SourceConfig(Strict):
    name: str = Field(description="short name used in paths, stats and the mixture (letters, digits, _ -)")
    kind: SourceKind
    paths: list[str] = Field(min_length=1, description="files, directories, globs or fsspec URLs")
    options: dict[str, Any] = Field(default_factory=dict, description="the reader's options")

    @field_validator("name")
    @classmethod
    def _name_is_path_safe(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use letters, digits, '_' or '-' (it becomes a directory name)")
        return value

    @field_validator("paths", mode="before")
    @classmethod
    def _one_path_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class RunnerConfig(Strict):
    max_retries: int = Field(3, ge=0, description="Ray retries of a failed task")
    num_cpus: int | None = Field(None, ge=1, description="embedded Ray's CPUs (default: all)")
    batch_size: int = Field(1000, ge=1, description="documents per Arrow batch in a task")
    split_bytes: int = Field(
        256 << 20, ge=1 << 16, description="inputs larger than this become several tasks (byte "
        "ranges) where the format allows it: multistream .bz2 Wikipedia dumps")
    max_bad_inputs: int | float = Field(
        0.01, ge=0, description="input files of the wrong kind (not what the source's kind reads) "
        "skipped and counted per source before the build stops: a count (5), or a fraction of the "
        "source's files (0.01, the default: 1 in 100); 0 stops at the first. See pipelines/bad_inputs.py")

    dashboard: bool = Field(
        False, description="start Ray's dashboard with the embedded instance, listening on 127.0.0.1 "
        "only (it accepts job submissions); from another machine: ssh -L 8265:127.0.0.1:8265 host")
    max_doc_chars: int | None = Field(
        10_000_000, ge=1, description="documents longer than this (characters) are dropped in extract, "
        "counted `doc_too_large`; null: no limit. See pipelines/document_limits.py")
    extract_timeout_seconds: float | None = Field(
        60.0, gt=0, description="wall time a reader may take to produce one document; the document "
        "is abandoned and counted `error:ExtractTimeout`; null: no limit")

    @field_validator("max_bad_inputs", mode="before")
    @classmethod
    def _a_number(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("give a count of files (5) or a fraction of each source's files (0.01)")
        return value

    @field_validator("max_bad_inputs")
    @classmethod
    def _fraction_at_most_one(cls, value: int | float) -> int | float:
        if isinstance(value, float) and value > 1:
            raise ValueError("a fraction is at most 1.0; give a whole number for a count of files")
        return value


class TokenizeConfig(Strict):
    tokenizer: str | None = Field(None, description="path of a tokenizer.json to load")
    train: dict[str, Any] | None = Field(
        None, description="train a tokenizer instead: vocab_size, kind (bpe|unigram), sample_docs"
    )
    eos_token: str | None = Field(None, description="EOS token when the tokenizer's is not a common name")
    tiktoken_ranks: str | None = Field(
        None, description="tiktoken ranks file of the same GPT-2-style BPE (e.g. gpt2.tiktoken): "
        "verified against the tokenizer, then used to encode (~8x faster)")


class Recipe(Strict):
    run_dir: str = Field(description="output directory (local path or fsspec URL)")
    seed: int = 0
    sources: list[SourceConfig] = Field(min_length=1)
    runner: RunnerConfig = RunnerConfig()
    filter: dict[str, Any] | None = None
    tokenize: TokenizeConfig | None = None
    mix: dict[str, Any] | None = None

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        names = [s.name for s in sources]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique; repeated: {', '.join(duplicates)}")
        return sources


class RecipeError(ValueError):
    """Every problem in a recipe, each on its own line with its field path."""

    def __init__(self, path: str, problems: list[str]):
        self.problems = problems
        super().__init__(f"{path}: the recipe is not valid:\n" + "\n".join(f"  {p}" for p in problems))


def _loc(parts: tuple) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _format(error: ValidationError, prefix: tuple = ()) -> list[str]:
    problems = []
    for item in error.errors():
        where = _loc(prefix + tuple(item["loc"]))
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key; remove it or check its spelling"
        problems.append(f"{where}: {message}")
    return problems


def section_models() -> dict[str, type[BaseModel]]:
    """Recipe sections validated by their stage's own model (`config_model` in pipelines.stages),
    so each stage owns its options."""
    from pipelines.stages import STAGES

    return {stage.section: stage.config_model for stage in STAGES if stage.config_model is not None}


class ResolvedRecipe:
    """A valid recipe plus what was resolved from it: input files per source, typed sections."""

    def __init__(self, recipe: Recipe, base_dir: Path, inputs: dict[str, list[InputFile]],
                 sections: dict[str, BaseModel | None], reader_options: dict[str, BaseModel]):
        self.recipe = recipe
        self.base_dir = base_dir
        self.inputs = inputs
        self.sections = sections
        self.reader_options = reader_options

    @property
    def run_dir(self) -> str:
        return resolve_path(self.recipe.run_dir, self.base_dir)

    def resolve_path(self, value: str) -> Path:
        """A local path from the recipe: ~ and $VARS expanded, relative to the recipe's folder."""
        return Path(resolve_path(value, self.base_dir))

    def source(self, name: str) -> SourceConfig:
        return next(s for s in self.recipe.sources if s.name == name)

    def to_yaml(self) -> str:
        data = self.recipe.model_dump(mode="json")
        data["run_dir"] = self.run_dir
        for source in data["sources"]:
            source["options"] = self.reader_options[source["name"]].model_dump(mode="json")
            source["inputs"] = [f.path for f in self.inputs[source["name"]]]
        for key, model in self.sections.items():  # a stage's own section comes after the recipe's
            # only the keys the recipe set: a filter default written out would override the per-kind
            # defaults when this file is read back (LID and web rules turned on for code)
            data[key] = model.model_dump(mode="json", exclude_unset=True) if model is not None else None
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _unknown_source_names(sections: dict[str, BaseModel | None], names: list[str]) -> list[str]:
    """Per-source settings must name sources of this recipe (a typo would silently do nothing)."""
    keyed = []
    if sections.get("filter") is not None:
        keyed += [("filter.sources", n) for n in sections["filter"].sources]
    mix = sections.get("mix")
    if mix is not None:
        keyed += [("mix.weights", n) for n in (mix.weights or {})]
        keyed += [("mix.max_epochs", n) for n in mix.max_epochs]
    if sections.get("dedup") is not None:
        keyed += [("dedup.source_priority", n) for n in (sections["dedup"].source_priority or [])]
    return [f"{where}.{name}: no source named {name!r}; the sources are {', '.join(names)}"
            for where, name in keyed if name not in names]


def load_recipe(path: str | os.PathLike, *, run_dir: str | None = None) -> ResolvedRecipe:
    """Read, validate and resolve a recipe; raise RecipeError listing every problem found."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(str(path), ["file not found; pass the path of a recipe YAML file"])
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise RecipeError(str(path), [f"not valid YAML: {error}"]) from None
    if not isinstance(data, dict):
        raise RecipeError(str(path), ["the top level must be a mapping (run_dir:, sources:, ...)"])
    if run_dir is not None:
        data["run_dir"] = run_dir
    # A registered stage's section needs no field here: its stage's model validates it.
    stage_sections = {key: data.pop(key) for key in list(data)
                      if key in section_models() and key not in Recipe.model_fields}
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as error:
        raise RecipeError(str(path), _format(error)) from None

    problems: list[str] = []
    base_dir = path.resolve().parent
    inputs: dict[str, list[InputFile]] = {}
    reader_options: dict[str, BaseModel] = {}
    for i, source in enumerate(recipe.sources):
        try:
            reader_options[source.name] = reader_for(source.kind).Options.model_validate(source.options)
        except ValidationError as error:
            problems += _format(error, ("sources", i, "options"))
        try:
            inputs[source.name] = expand_paths(source.kind, source.paths, str(base_dir), source.name)
        except NoInputsError as error:
            problems.append(f"sources[{i}].paths: {error}")
    sections: dict[str, BaseModel | None] = {"tokenize": recipe.tokenize}
    for section, model in section_models().items():
        raw = getattr(recipe, section) if section in Recipe.model_fields else stage_sections.get(section)
        try:
            sections[section] = None if raw is None else model.model_validate(raw)
        except ValidationError as error:
            problems += _format(error, (section,))
    names = [s.name for s in recipe.sources]
    problems += _unknown_source_names(sections, names)
    if sections.get("filter") is not None and not problems:
        from pipelines.filters.config import english_rule_problems

        for source in recipe.sources:
            problems += english_rule_problems(sections["filter"], source.name, source.kind)
    if recipe.mix is not None and recipe.tokenize is None:
        problems.append("mix: needs a `tokenize:` section (the mixture is computed in tokens)")
    if recipe.tokenize is not None:
        tok = recipe.tokenize
        if (tok.tokenizer is None) == (tok.train is None):
            problems.append("tokenize: give exactly one of `tokenizer:` (a tokenizer.json path) or `train:`")
        elif tok.tokenizer is not None:
            tok_path = Path(resolve_path(tok.tokenizer, base_dir))
            if not tok_path.is_file():
                problems.append(f"tokenize.tokenizer: no file at {tok_path}; give a tokenizer.json path")
        if tok.tiktoken_ranks is not None:
            ranks = Path(resolve_path(tok.tiktoken_ranks, base_dir))
            if not ranks.is_file():
                problems.append(f"tokenize.tiktoken_ranks: no file at {ranks}; give a .tiktoken ranks path or remove it")
    if problems:
        raise RecipeError(str(path), problems)
    return ResolvedRecipe(recipe, base_dir, inputs, sections, reader_options)
