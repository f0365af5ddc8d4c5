"""tokenizer-sample: the documents a tokenizer is trained on, drawn in parallel, never by reading the
whole corpus on the driver.

The sample is the `k` kept documents with the smallest key xxh64(doc id, seed) ("bottom-k"): a
uniform sample without replacement that depends only on the seed and the documents, not on how
they are split into parts or tasks. Each task keeps the documents of its part whose key is below a
threshold set for about k + 6 sqrt(k) + 10 documents in all (the expected count, from the previous
stage's document counts, plus margin), and writes their keys and texts to
`tokenizer-sample/<source>/part-<task>.parquet`; the driver then reads only those and takes the k
smallest keys (`collect_sample`). Fewer than k selected (a six-sigma shortfall) keeps what there is, with a warning.
"""
from __future__ import annotations

import logging
import math

import numpy as np
import pyarrow as pa
import xxhash

from pipelines.rundir import RunDir
from pipelines.stage import StageResult, TaskSpec, part_path

logger = logging.getLogger(__name__)

SAMPLE_STAGE = "tokenizer-sample"
MAX_KEY = (1 << 64) - 1
SAMPLE_SCHEMA = pa.schema([("key", pa.uint64()), ("id", pa.string()), ("text", pa.string())])


def sample_keys(doc_ids: list[str], seed: int) -> np.ndarray:
    """(n,) uint64: each document's sampling key."""
    return np.fromiter((xxhash.xxh64_intdigest(doc_id.encode(), seed=seed) for doc_id in doc_ids),
                       dtype=np.uint64, count=len(doc_ids))


def key_threshold(sample_docs: int, num_docs: int) -> int:
    """Keys <= this are selected: about sample_docs + 6 sqrt(sample_docs) + 10 of num_docs."""
    wanted = sample_docs + 6 * math.sqrt(sample_docs) + 10
    if num_docs <= wanted:
        return MAX_KEY
    return min(MAX_KEY, int(wanted / num_docs * 2.0**64))


def sample_task(run_url: str, payload: dict) -> dict:
    run = RunDir(run_url)
    ids = run.read_parquet(payload["input"], columns=["id"]).column("id").to_pylist()
    keys = sample_keys(ids, payload["seed"])
    chosen = np.flatnonzero(keys <= np.uint64(payload["threshold"]))
    texts = []
    if chosen.size:  # the text column is read only when some document is chosen
        texts = run.read_parquet(payload["input"], columns=["text"]).column("text").take(chosen).to_pylist()
    table = pa.table({"key": pa.array(keys[chosen], pa.uint64()), "id": [ids[i] for i in chosen],
                      "text": pa.array(texts, pa.string())}, schema=SAMPLE_SCHEMA)
    run.write_parquet(part_path(SAMPLE_STAGE, payload["source"], payload["task_id"]), table)
    return {"source": payload["source"], "num_docs_in": len(ids), "num_docs_out": int(chosen.size)}


def sample_tasks(previous: StageResult, sample_docs: int, seed: int) -> list[TaskSpec]:
    """One task per part of `previous`, each keeping its documents whose key is below the threshold."""
    num_docs = sum(int(s.get("num_docs_out", 0)) for s in previous.stats)
    threshold = key_threshold(sample_docs, num_docs)
    return [TaskSpec(spec.task_id, {
        "task_id": spec.task_id, "source": spec.payload["source"],
        "input": part_path(previous.stage, spec.payload["source"], spec.task_id),
        "upstream": spec.fingerprint, "seed": seed, "threshold": threshold,
    }) for spec in previous.tasks]


def collect_sample(run: RunDir, sampled: StageResult, sample_docs: int) -> list[str]:
    """Driver side, after the sample phase: the texts of the `sample_docs` smallest keys, in key order."""
    tables = [run.read_parquet(part_path(SAMPLE_STAGE, t.payload["source"], t.task_id)) for t in sampled.tasks]
    sample = pa.concat_tables(tables) if tables else SAMPLE_SCHEMA.empty_table()
    keys, ids = sample.column("key").to_pylist(), sample.column("id").to_pylist()
    order = sorted(range(sample.num_rows), key=lambda i: (keys[i], ids[i]))[:sample_docs]
    num_docs = sum(int(s.get("num_docs_in", 0)) for s in sampled.stats)
    if len(order) < min(sample_docs, num_docs):
        logger.warning("tokenizer sample: %d documents drawn of the %d asked for", len(order), sample_docs)
    texts = sample.column("text").to_pylist()
    return [texts[i] for i in order]
