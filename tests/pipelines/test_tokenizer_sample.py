"""The tokenizer's training sample, drawn in parallel: the k documents with the smallest seeded
hash of their id, whatever the split into parts (real Ray, real text)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import xxhash

from pipelines.rundir import RunDir
from pipelines.stage import StageResult, TaskSpec, part_path
from pipelines.stages.tokenizer_sample import (MAX_KEY, SAMPLE_STAGE, collect_sample, key_threshold, sample_task,
                                               sample_tasks)


def documents() -> list[tuple[str, str]]:
    from pydoc_data.topics import topics  # real text shipped with Python

    names = sorted(topics)
    return [(f"docs/{i:04d}", topics[names[i % len(names)]] + f" ({i})") for i in range(300)]


def previous_stage(run: RunDir, docs: list[tuple[str, str]], num_parts: int) -> StageResult:
    """A finished `filter` stage whose parts hold `docs`, split into `num_parts` tasks."""
    tasks, stats = [], []
    for index, chunk in enumerate(np.array_split(np.arange(len(docs)), num_parts)):
        task_id = f"docs.{index:05d}"
        rows = [docs[i] for i in chunk]
        run.write_parquet(part_path("filter", "docs", task_id),
                          pa.table({"id": [r[0] for r in rows], "text": [r[1] for r in rows]}))
        tasks.append(TaskSpec(task_id, {"source": "docs", "split": num_parts, "part": index}))
        stats.append({"source": "docs", "num_docs_out": len(rows)})
    return StageResult("filter", len(tasks), 0, stats, 0.0, tasks)


def draw_sample(runner, run: RunDir, previous: StageResult, sample_docs: int, seed: int) -> list[str]:
    """The tokenizer stage's sample phase (tasks planned, run on Ray), then its driver-side collection."""
    sampled = runner.execute_stage(run.url, SAMPLE_STAGE, sample_tasks(previous, sample_docs, seed), sample_task)
    return collect_sample(run, sampled, sample_docs)


def test_the_sample_is_the_bottom_k_of_the_seeded_hash_whatever_the_split(ray_cluster, tmp_path):
    docs = documents()
    expected_ids = sorted((xxhash.xxh64_intdigest(doc_id.encode(), seed=7), doc_id) for doc_id, _ in docs)[:50]
    text_of = dict(docs)
    expected = [text_of[doc_id] for _, doc_id in expected_ids]  # computed without corpusmill
    for num_parts in (1, 3, 7):
        run = RunDir(str(tmp_path / f"run{num_parts}"))
        assert draw_sample(ray_cluster, run, previous_stage(run, docs, num_parts), 50, seed=7) == expected
    other_seed = draw_sample(ray_cluster, run, previous_stage(run, docs, 7), 50, seed=8)
    assert len(other_seed) == 50 and other_seed != expected


def test_asking_for_more_than_there_is_gives_every_document_once(ray_cluster, tmp_path):
    docs = documents()[:40]
    run = RunDir(str(tmp_path / "run"))
    sample = draw_sample(ray_cluster, run, previous_stage(run, docs, 2), 1000, seed=1)
    assert sorted(sample) == sorted(text for _, text in docs)


def test_the_threshold_keeps_a_margin_above_k():
    assert key_threshold(100, 50) == MAX_KEY  # fewer documents than wanted: take all
    assert key_threshold(100, 1_000_000) == int((100 + 60 + 10) / 1_000_000 * 2.0**64)
