"""The README's first command, `corpusmill demo`: a whole build on text that ships with Python."""
from __future__ import annotations

import json
import subprocess
import sys


def _demo(run: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", "demo", "--run", run],
                          capture_output=True, text=True, timeout=600)


def test_demo_builds_shards_from_a_file_url(tmp_path):
    done = _demo(f"file://{tmp_path}/demo")
    assert done.returncode == 0, done.stderr[-2000:]
    run = tmp_path / "demo"
    manifest = json.loads((run / "shards" / "manifest.json").read_text())
    assert set(manifest["splits"]) == {"train", "val"}
    totals = {split: sum(s["num_tokens"] for s in shards) for split, shards in manifest["splits"].items()}
    assert totals["train"] > 0 and totals["val"] > 0
    assert manifest["tokenizer"]["vocab_size"] == 4096  # trained on the sampled kept documents
    stats = json.loads((run / "run.json").read_text())["stages"]
    assert set(stats) == {"extract", "annotate", "filter", "tokenize", "mix"}
    sampled = sorted(p.name for p in (run / "tokenizer-sample").rglob("part-*.parquet"))
    assert len(sampled) == stats["filter"]["tasks_executed"]  # one sample part per kept part


def test_demo_refuses_a_remote_run_directory(tmp_path):
    done = _demo("s3://bucket/demo")
    assert done.returncode == 2
    assert "the demo builds in a local directory; give a path" in done.stderr
