"""A huge multistream dump becomes several extract tasks whose parts hold exactly its documents."""
from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import yaml

from corpora import SkipCounter
from corpora.wikipedia import Options, iter_documents
from pipelines.build import build
from pipelines.stages.extract import extract_tasks
from pipelines.recipe import load_recipe


@pytest.mark.slow
def test_byte_range_tasks_cover_the_dump_exactly_once(hywiki_multistream, tmp_path, ray_cluster):
    size = hywiki_multistream.stat().st_size
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({
        "run_dir": str(tmp_path / "run"),
        "sources": [{"name": "wiki", "kind": "wikipedia", "paths": [str(hywiki_multistream)]}],
        "runner": {"split_bytes": size // 5 + 1},
    }))
    resolved = load_recipe(recipe)
    tasks = extract_tasks(resolved)
    assert [t.task_id for t in tasks] == [f"wiki.00000-r{i:04d}" for i in range(5)]
    ranges = [t.payload["byte_range"] for t in tasks]
    assert ranges[0][0] == 0 and ranges[-1][1] == size
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))

    build(resolved, show_progress=False)
    parts = sorted((tmp_path / "run" / "extract" / "wiki").glob("part-*.parquet"))
    assert len(parts) == 5
    built = [row for part in parts for row in pq.read_table(part, columns=["id", "text"]).to_pylist()]

    skips = SkipCounter()
    whole = [{"id": d["id"], "text": d["text"]} for d in iter_documents(
        str(hywiki_multistream), source="wiki", file_key=tasks[0].payload["file_key"], options=Options(), skips=skips)]
    assert built == whole
    stats = json.loads((tmp_path / "run" / "_stats" / "extract.json").read_text())["wiki"]
    assert stats["num_docs_out"] == len(whole) == 278
    assert stats["reasons"] == dict(sorted(skips.items()))
