"""tokenize: kept documents -> tokenize/<source>/part-<task>.parquet (doc_id, source, tokens, num_tokens).

One tokenizer per worker process (cached by sha256 in tokenization.tokenizer); the tokenizer was
chosen by the `tokenizer` stage on the driver and travels as a path in the run directory.
"""
from __future__ import annotations

import pyarrow.compute as pc

from pipelines.rundir import RunDir
from pipelines.stage import BuildContext, Stage, TaskSpec, downstream_tasks, part_path
from pipelines.stages.tokenizer import run_tokenizer
from tokenization.encode import encode_table


def tokenize_task(run_url: str, payload: dict) -> dict:
    run = RunDir(run_url)
    spec = run_tokenizer(run, payload["tokenizer"])
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


class TokenizeStage(Stage):
    name = "tokenize"
    reads = "dedup"
    section = "tokenize"
    worker = staticmethod(tokenize_task)

    def plan(self, ctx: BuildContext) -> list[TaskSpec]:
        return downstream_tasks(ctx.input_of(self), {"tokenizer": ctx.values["tokenizer"]})
