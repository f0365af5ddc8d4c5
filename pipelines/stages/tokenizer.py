"""tokenizer: the build's tokenizer at RUN/tokenizer/tokenizer.json, chosen once on the driver.

Given (`tokenize.tokenizer`): copied there. Trained (`tokenize.train`): on a seeded sample of the
kept documents drawn in parallel by the `tokenizer-sample` phase (with `sample_docs`), or on every
kept document streamed part by part. A trained tokenizer is reused while its settings, seed and
input parts (by fingerprint) are unchanged; then the sample phase does not run at all.

A two-phase stage: phase `tokenizer-sample` (workers), then the training in `finish` (driver). Its
output travels to the `tokenize` and `mix` stages as `ctx.values["tokenizer"]` (its path inside the
run directory, its sha256, the EOS token, the tiktoken ranks file, and whether tiktoken runs with
ranks derived from the merges, decided here by `choose_fast_path` on a sample of the documents).
The path is relative to the run directory and its content is in the sha256, so task fingerprints
do not change when a finished run directory is moved (`run_tokenizer` resolves it on a worker).
"""
from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

from pipelines.rundir import RunDir
from pipelines.stage import BuildContext, Phase, Stage, StageResult, part_path
from pipelines.stages.tokenizer_sample import SAMPLE_STAGE, collect_sample, sample_task, sample_tasks
from tokenization.tokenizer import tokenizer_spec, with_fast_path
from tokenization.tokenizer_training import train_tokenizer

TOKENIZER_REL = "tokenizer/tokenizer.json"
FAST_PATH_REL = "tokenizer/fast-path.json"
VERIFY_DOCS_PER_SOURCE = 64
VERIFY_CHARS_PER_SOURCE = 2_000_000


def run_tokenizer(run: RunDir, settings: dict):
    """The TokenizerSpec of a payload's tokenizer settings, whose `path` is relative to the run
    directory: a local file in a local run, a URL in a remote one (each worker then fetches it once
    into its cache, checked against the sha256)."""
    location = run.path(settings["path"])
    return tokenizer_spec({**settings, "path": location if run.is_local else run.fs.unstrip_protocol(location)})


def choose_fast_path(run, settings: dict, previous: StageResult, console=None) -> dict:
    """`settings` with `derive_tiktoken` on when tiktoken, with ranks derived from the tokenizer's
    merges, gives tokenizers' ids on a sample of this build's documents (up to 64 spread over the
    first part of each source, 2M characters at most per source), else off, with the reason printed
    and kept in tokenizer/fast-path.json. Decided once on the driver, so every task of the build
    encodes with the same back end."""
    spec = run_tokenizer(run, settings)
    if spec.tiktoken_ranks is not None:
        return settings
    texts, seen = [], set()
    for task in previous.tasks:
        if task.payload["source"] in seen:
            continue
        seen.add(task.payload["source"])
        column = run.read_parquet(part_path(previous.stage, task.payload["source"], task.task_id),
                                  columns=["text"]).column("text")
        budget = VERIFY_CHARS_PER_SOURCE
        step = max(1, len(column) // VERIFY_DOCS_PER_SOURCE)
        for text in column.take(list(range(0, len(column), step))).to_pylist():
            if budget > 0:
                texts.append(text)
                budget -= len(text)
    chosen, reason = with_fast_path(spec, texts)
    run.write_json(FAST_PATH_REL, {"backend": "tiktoken (derived ranks)" if chosen.derive_tiktoken else "tokenizers",
                                   "num_docs_verified": len(texts), "reason": reason})
    if reason is not None and console is not None:
        console.print(f"[yellow]tokenize: encoding with tokenizers, not tiktoken: {reason}[/yellow]")
    return {**settings, "derive_tiktoken": chosen.derive_tiktoken}


class TokenizerStage(Stage):
    name = "tokenizer"
    reads = "dedup"
    section = "tokenize"

    def _config(self, ctx: BuildContext):
        """The `tokenize:` section with its paths resolved against the recipe's folder."""
        tok = ctx.config(self)
        for key in ("tokenizer", "tiktoken_ranks"):
            if getattr(tok, key) is not None:
                tok = tok.model_copy(update={key: str(ctx.resolved.resolve_path(getattr(tok, key)))})
        return tok

    def _train_state(self, ctx: BuildContext) -> str:
        """What a trained tokenizer depends on; stored beside it to know when it can be reused."""
        parts = {t.task_id: t.fingerprint for t in ctx.input_of(self).tasks}
        return json.dumps({"settings": dict(self._config(ctx).train), "parts": parts,
                           "seed": ctx.resolved.recipe.seed}, sort_keys=True)

    def _up_to_date(self, ctx: BuildContext) -> bool:
        settings_rel = str(Path(TOKENIZER_REL).with_name("train-settings.json"))
        return (ctx.run.exists(TOKENIZER_REL) and ctx.run.exists(settings_rel)
                and ctx.run.read_text(settings_rel) == self._train_state(ctx))

    def phases(self, ctx: BuildContext) -> list[Phase]:
        tok = self._config(ctx)
        if tok.tokenizer is not None or tok.train.get("sample_docs") is None or self._up_to_date(ctx):
            return []
        sample_docs, seed = int(tok.train["sample_docs"]), ctx.resolved.recipe.seed
        return [Phase(SAMPLE_STAGE, lambda c: sample_tasks(c.input_of(self), sample_docs, seed), sample_task)]

    def finish(self, ctx: BuildContext) -> None:
        tok = self._config(ctx)
        self._prepare(ctx, tok)
        run = ctx.run
        settings = {"path": TOKENIZER_REL, "sha256": hashlib.sha256(run.fs.cat_file(run.path(TOKENIZER_REL))).hexdigest(),
                    "eos_token": tok.eos_token, "tiktoken_ranks": tok.tiktoken_ranks}
        ctx.values["tokenizer"] = choose_fast_path(run, settings, ctx.input_of(self), ctx.console)

    def _prepare(self, ctx: BuildContext, tok) -> None:
        """Put the build's tokenizer at RUN/tokenizer/tokenizer.json (through fsspec)."""
        run = ctx.run
        if tok.tokenizer is not None:
            wanted = Path(tok.tokenizer).read_bytes()
            if not run.exists(TOKENIZER_REL) or run.fs.cat_file(run.path(TOKENIZER_REL)) != wanted:
                run.write_bytes(TOKENIZER_REL, wanted)
            return
        if self._up_to_date(ctx):
            return
        settings = dict(tok.train)
        sample_docs = settings.pop("sample_docs", None)
        previous: StageResult = ctx.input_of(self)
        if sample_docs is not None:
            texts = collect_sample(run, ctx.results[SAMPLE_STAGE], int(sample_docs))
        else:  # every kept document, streamed part by part
            paths = [part_path(previous.stage, t.payload["source"], t.task_id) for t in previous.tasks]
            texts = (text for path in paths
                     for text in run.read_parquet(path, columns=["text"]).column("text").to_pylist())
        with tempfile.TemporaryDirectory(prefix="corpusmill-tokenizer-") as scratch:
            out = Path(scratch) / "tokenizer.json"  # trained locally, then written into the run
            train_tokenizer(texts, vocab_size=int(settings.pop("vocab_size", 32_000)), out_path=out,
                            kind=settings.pop("kind", "bpe"), seed=ctx.resolved.recipe.seed, **settings)
            run.write_bytes(TOKENIZER_REL, out.read_bytes())
            run.write_bytes(TOKENIZER_REL + ".sha256", out.with_name(out.name + ".sha256").read_bytes())
        run.write_bytes(str(Path(TOKENIZER_REL).with_name("train-settings.json")),
                        self._train_state(ctx).encode())
