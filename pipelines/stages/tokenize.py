"""tokenize: kept documents -> tokenize/<source>/part-<task>.parquet (doc_id, source, tokens, num_tokens).

One tokenizer per worker process (cached by sha256 in tokenization.tokenizer); the tokenizer is
chosen once per build on the driver (loaded, or trained on a seeded sample) and travels as a path.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.compute as pc

from pipelines.rundir import RunDir
from pipelines.runner import Runner
from pipelines.stages.extract import part_path
from pipelines.stages.tokenizer_sample import draw_sample
from tokenization.encode import encode_table
from tokenization.tokenizer import load_tokenizer, train_tokenizer

TOKENIZER_REL = "tokenizer/tokenizer.json"


def tokenizer_spec(settings: dict):
    """The build's tokenizer from its payload settings (cached per worker process)."""
    return load_tokenizer(settings["path"], eos_token=settings.get("eos_token"),
                          tiktoken_ranks=settings.get("tiktoken_ranks"))


def tokenize_task(run_url: str, payload: dict) -> dict:
    run = RunDir(run_url)
    spec = tokenizer_spec(payload["tokenizer"])
    table = run.read_parquet(payload["input"], columns=["id", "source", "text"])
    tokens = encode_table(table, spec)
    run.write_parquet(part_path("tokenize", payload["source"], payload["task_id"]), tokens)
    return {
        "source": payload["source"],
        "num_docs_in": table.num_rows,
        "num_docs_out": tokens.num_rows,
        "num_chars_in": pc.sum(pc.utf8_length(table["text"])).as_py() or 0,
        "num_tokens_out": pc.sum(tokens["num_tokens"]).as_py() or 0,
    }


def prepare_tokenizer(run: RunDir, tokenize_config, previous, seed: int, runner=None) -> Path:
    """Put the build's tokenizer at RUN/tokenizer/tokenizer.json: copy the given one, or train one
    on the kept documents of `previous` (a StageResult), all of them or, with `sample_docs`, a
    seeded sample drawn in parallel on `runner` (pipelines.stages.tokenizer_sample). A trained
    tokenizer is reused while its settings, seed and input parts (by fingerprint) are unchanged."""
    target = Path(run.local_path(TOKENIZER_REL))
    target.parent.mkdir(parents=True, exist_ok=True)
    if tokenize_config.tokenizer is not None:
        source = Path(tokenize_config.tokenizer)
        if not target.is_file() or target.read_bytes() != source.read_bytes():
            tmp = target.with_name(target.name + ".tmp")
            shutil.copyfile(source, tmp)
            tmp.replace(target)
        return target
    settings = dict(tokenize_config.train)
    settings_file = target.with_name("train-settings.json")
    parts = {t.task_id: t.fingerprint for t in previous.tasks}
    wanted = json.dumps({"settings": settings, "parts": parts, "seed": seed}, sort_keys=True)
    if target.is_file() and settings_file.is_file() and settings_file.read_text() == wanted:
        return target

    sample_docs = settings.pop("sample_docs", None)
    if sample_docs is not None:
        texts = draw_sample(runner, run, previous, int(sample_docs), seed)
    else:  # every kept document, streamed part by part
        paths = [part_path(previous.stage, t.payload["source"], t.task_id) for t in previous.tasks]
        texts = (text for path in paths for text in run.read_parquet(path, columns=["text"]).column("text").to_pylist())
    train_tokenizer(texts, vocab_size=int(settings.pop("vocab_size", 32_000)), out_path=target,
                    kind=settings.pop("kind", "bpe"), seed=seed, **settings)
    settings_file.write_text(wanted)
    return target


def train_tokenizer_from_recipe(recipe_path: str, *, out: str | None = None, run_dir: str | None = None,
                                address: str | None = None) -> Path:
    """`corpusmill tokenizer train`: run the recipe through filtering (resumably), then train the
    tokenizer its `tokenize.train` section describes on a seeded sample of the kept documents."""
    from pipelines.build import build
    from pipelines.recipe import load_recipe

    resolved = load_recipe(recipe_path, run_dir=run_dir)
    tok = resolved.recipe.tokenize
    if tok is None or tok.train is None:
        raise ValueError(f"{recipe_path}: `tokenize.train` is not set; add e.g. "
                         "`tokenize: {train: {vocab_size: 32000, kind: bpe, sample_docs: 100000}}`")
    last = "filter" if resolved.sections.get("filter") is not None else "extract"
    result = build(resolved, address=address, until=last)
    run = RunDir(resolved.run_dir)
    config = resolved.recipe.runner
    with Runner(address=address, num_cpus=config.num_cpus, max_retries=config.max_retries) as runner:
        path = prepare_tokenizer(run, tok, result.stages[-1], resolved.recipe.seed, runner)
    if out is not None:
        shutil.copyfile(path, out)
        return Path(out)
    return path
