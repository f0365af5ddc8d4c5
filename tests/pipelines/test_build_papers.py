"""A build through the real pipeline (embedded Ray) with a `papers` source: the shared directory of
e-prints (32 `.tar.gz` + 3 bare `.tex.gz` copies) plus two bad e-prints made here, through
extract, filter (the papers defaults), tokenize with GPT-2, and a one-source mixture."""
from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from pipelines.build import build
from pipelines.recipe import load_recipe
from tokenization.manifest import load_manifest
from tokenization.shards import ShardReader

GPT2 = "tokenizers/whisper-gpt2/gpt2-from-whisper-tiktoken.tokenizer.json"
NUM_PAPERS = 32 + 3  # MANIFEST.md: 32 e-prints, and 3 of them again as bare gzipped .tex


def _bad_eprints(folder: Path) -> Path:
    folder.mkdir()
    (folder / "2401.99998.gz").write_bytes(gzip.compress(b"%PDF-1.4\n%binary"))  # PDF-only submission
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = b"\\section{Notes}Just notes, no class."
        info = tarfile.TarInfo("notes.tex")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    (folder / "2401.99999.tar.gz").write_bytes(buffer.getvalue())
    return folder


@pytest.fixture(scope="module")
def built(shared_data, tmp_path_factory, ray_cluster):
    folder = tmp_path_factory.mktemp("papers")
    recipe = {
        "run_dir": str(folder / "run"),
        "seed": 3,
        "sources": [{"name": "papers", "kind": "papers",
                     "paths": [str(shared_data / "papers"), str(_bad_eprints(folder / "bad"))]}],
        "filter": {"defaults": {"lid": {"model_path": str(shared_data / "models/langid/lid.176.ftz")}}},
        "tokenize": {"tokenizer": str(shared_data / GPT2),
                     "tiktoken_ranks": str(shared_data / "tokenizers/whisper-gpt2/gpt2.tiktoken")},
        "mix": {"weights": {"papers": 1.0}, "val_fraction": 0.0, "shard_tokens": 5_000_000},
    }
    recipe_path = folder / "recipe.yaml"
    recipe_path.write_text(yaml.safe_dump(recipe))
    return folder / "run", build(load_recipe(recipe_path), show_progress=False)


@pytest.mark.slow
def test_papers_build_counts(built):
    run, result = built
    executed = {r.stage: r.num_executed for r in result.stages}
    assert executed["extract"] == NUM_PAPERS + 2  # one task per e-print; licences and manifests are not inputs
    extract = json.loads((run / "_stats/extract.json").read_text())["papers"]
    assert extract["num_docs_out"] == NUM_PAPERS
    assert extract["reasons"] == {"papers_pdf_only": 1, "papers_no_documentclass": 1}
    filtered = json.loads((run / "_stats/filter.json").read_text())["papers"]
    assert filtered["num_docs_in"] == NUM_PAPERS
    assert filtered["num_docs_out"] + sum(filtered["reasons"].values()) == NUM_PAPERS
    assert filtered["reasons"] == {}  # every paper is in its declared language and long enough
    kept = pq.read_table(run / "filter" / "papers", columns=["text", "meta", "pii_num_replaced"])
    assert kept.num_rows == NUM_PAPERS
    # minimap2 (and its like) print contact e-mails: PII scrubbing replaced them
    minimap2 = [t for t in kept["text"].to_pylist() if t.startswith("# Minimap2: pairwise alignment")]
    assert len(minimap2) == 1 and "hengli@broadinstitute.org" not in minimap2[0]
    assert sum(kept["pii_num_replaced"].to_pylist()) > 0


@pytest.mark.slow
def test_papers_reach_the_shards(built):
    run, _ = built
    # MANIFEST.md: the 3 bare .tex.gz files are duplicates of the main file in their .tar.gz: dedup
    # (on by default) removes them as exact duplicates, so the shards hold the 32 papers once each.
    dedup = json.loads((run / "_stats/dedup.json").read_text())["papers"]
    assert dedup["reasons"] == {"exact_duplicate": 3}
    removed = pq.read_table(run / "dedup" / "rejects" / "exact_duplicate", columns=["path"])["path"].to_pylist()
    assert sorted(Path(p).name for p in removed) == [
        "dfm__araa-gps__gp-review.tex.gz", "digama0__mm0__metamath-c-separation-logic.tex.gz",
        "intsystems__2023-Project-124__diffusion-gan-ru.tex.gz"]
    manifest = load_manifest(run)
    shards = manifest.splits["train"]
    assert sum(info.num_docs for info in shards) == NUM_PAPERS - 3
    total = sum(info.tokens_per_source["papers"] for info in shards)
    assert total == sum(ShardReader(manifest.directory / info.path).num_tokens for info in shards)
