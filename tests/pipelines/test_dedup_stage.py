"""The dedup stage on Ray, end to end through `build`: cross-source duplicates, the keep rule, the
on-disk contract, determinism, and a build killed inside the dedup phases resuming to the same bytes.

Core tests use real text that ships with Python (the reference manual's topic pages); the book test
reads a real Gutenberg book from the shared data."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from pydoc_data.topics import topics

from pipelines.build import build
from pipelines.recipe import load_recipe

# Distinct real texts: the manual's topic pages cut into pieces of 200 words.
_WORDS = " ".join(topics[name] for name in sorted(topics)).split()
LONG_TOPICS = [" ".join(_WORDS[i:i + 200]) for i in range(0, len(_WORDS) - 200, 200)]


def _write_jsonl(path: Path, texts: list[str]) -> None:
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))


def _recipe(tmp_path: Path, sources: list[dict], **extra) -> Path:
    recipe = {"run_dir": str(tmp_path / "run"), "sources": sources, "runner": {"num_cpus": 2}, **extra}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def _read_dir(root: Path, pattern: str) -> pa.Table | None:
    tables = [pq.read_table(p) for p in sorted(root.glob(pattern))]
    return pa.concat_tables(tables, promote_options="default") if tables else None


def test_cross_source_duplicates_keep_rule_and_contract(tmp_path, ray_cluster):
    manual = LONG_TOPICS[:30]
    copied = manual[3]
    near = "Home | About | Contact\n\n" + manual[4] + "\n\nCopyright 2024 Example Site. All rights reserved."
    _write_jsonl(tmp_path / "manual.jsonl", manual)
    _write_jsonl(tmp_path / "web.jsonl", [copied.upper(), near, manual[4], LONG_TOPICS[40], LONG_TOPICS[41]])
    recipe = _recipe(tmp_path, [{"name": "manual", "kind": "jsonl", "paths": [str(tmp_path / "manual.jsonl")]},
                                {"name": "web", "kind": "jsonl", "paths": [str(tmp_path / "web.jsonl")]}],
                     dedup={"num_partitions": 3})
    result = build(load_recipe(recipe), show_progress=False)
    run = tmp_path / "run"
    phases = [s.stage for s in result.stages]
    assert phases[:5] == ["extract", "dedup.signature", "dedup.candidates",  # verification is on by default
                          "dedup.verify_send", "dedup.verify_check"]
    assert phases[-3:] == ["dedup.route", "dedup.clusters", "dedup"]
    assert phases[5:-3] == [f"dedup.round-{i:04d}" for i in range(len(phases) - 8)] and len(phases) > 9
    assert sorted(p.name for p in (run / "dedup" / "manual").iterdir()) == ["part-manual.00000.parquet"]
    kept_manual = pq.read_table(run / "dedup/manual/part-manual.00000.parquet")
    kept_web = pq.read_table(run / "dedup/web/part-web.00000.parquet")
    extract_manual = pq.read_table(run / "extract/manual/part-manual.00000.parquet")
    extract_web = pq.read_table(run / "extract/web/part-web.00000.parquet")
    manual_ids, web_ids = extract_manual.column("id").to_pylist(), extract_web.column("id").to_pylist()
    # The manual (first source: highest priority) keeps all 30; web keeps its 2 unrelated pages.
    assert kept_manual.column("id").to_pylist() == manual_ids
    assert kept_web.column("id").to_pylist() == web_ids[3:]
    exact = pq.read_table(run / "dedup/rejects/exact_duplicate/part-web.00000.parquet").to_pylist()
    near_rows = pq.read_table(run / "dedup/rejects/near_duplicate/part-web.00000.parquet").to_pylist()
    # web[0] is manual[3] upper-cased: an exact duplicate (normalized); web[2] is manual[4] verbatim.
    assert sorted((r["id"], r["dedup_kept_id"], r["dedup_cluster_size"]) for r in exact) == sorted(
        [(web_ids[0], manual_ids[3], 2), (web_ids[2], manual_ids[4], 3)])
    # web[1] wraps manual[4] in a header and footer: near duplicate of the same cluster of 3.
    assert [(r["id"], r["dedup_kept_id"], r["dedup_cluster_size"], r["drop_reason"]) for r in near_rows] == [
        (web_ids[1], manual_ids[4], 3, "near_duplicate")]
    sizes = dict(zip(kept_manual.column("id").to_pylist(), kept_manual.column("dedup_cluster_size").to_pylist()))
    assert sizes[manual_ids[3]] == 2 and sizes[manual_ids[4]] == 3
    assert sum(1 for s in sizes.values() if s == 1) == 28
    assert kept_manual.column("dedup_cluster_id").to_pylist() == manual_ids  # a kept document names itself
    stats = json.loads((run / "_stats/dedup.json").read_text())
    assert stats["web"]["reasons"] == {"exact_duplicate": 2, "near_duplicate": 1}
    assert stats["web"]["num_docs_in"] == 5 and stats["web"]["num_docs_out"] == 2
    assert sorted(p.name for p in (run / "_done").iterdir())[:3] == ["dedup", "dedup.candidates", "dedup.clusters"]
    # A rerun does nothing: every phase's markers are valid.
    again = build(load_recipe(recipe), show_progress=False)
    assert again.num_executed == 0


def test_source_priority_and_dedup_off(tmp_path, ray_cluster):
    text = LONG_TOPICS[5]
    _write_jsonl(tmp_path / "a.jsonl", [text])
    _write_jsonl(tmp_path / "b.jsonl", [text + " And one more sentence at the end."])
    sources = [{"name": "a", "kind": "jsonl", "paths": [str(tmp_path / "a.jsonl")]},
               {"name": "b", "kind": "jsonl", "paths": [str(tmp_path / "b.jsonl")]}]
    # Same priority for both would keep b (longer); putting a first keeps a.
    build(load_recipe(_recipe(tmp_path, sources, dedup={"source_priority": ["a"]})), show_progress=False)
    assert pq.read_table(tmp_path / "run/dedup/a/part-a.00000.parquet").num_rows == 1
    assert pq.read_table(tmp_path / "run/dedup/b/part-b.00000.parquet").num_rows == 0
    build(load_recipe(_recipe(tmp_path, sources, dedup={"source_priority": ["b", "a"]})), show_progress=False)
    assert pq.read_table(tmp_path / "run/dedup/a/part-a.00000.parquet").num_rows == 0
    assert pq.read_table(tmp_path / "run/dedup/b/part-b.00000.parquet").num_rows == 1
    off = build(load_recipe(_recipe(tmp_path, sources, dedup=False), run_dir=str(tmp_path / "off")), show_progress=False)
    assert [s.stage for s in off.stages] == ["extract"]  # nothing between extract and the end
    assert not (tmp_path / "off/dedup").exists()


def test_book_in_another_source_is_caught_and_one_copy_kept(tmp_path, ray_cluster, shared_data):
    book = shared_data / "books/gitenberg/pg972_972.txt"
    from corpora import SkipCounter, reader_for

    reader = reader_for("books")
    body = next(iter(reader.iter_documents(str(book), source="x", file_key="x", options=reader.Options(),
                                            skips=SkipCounter())))["text"]
    # The same book as a web crawl would hold it: site chrome around it, wrapped at 70 columns.
    words = body.split()
    wrapped = "\n".join(" ".join(words[i:i + 11]) for i in range(0, len(words), 11))
    _write_jsonl(tmp_path / "web.jsonl", ["Read free books online | Library\n" + wrapped + "\nShare this page",
                                          LONG_TOPICS[0]])
    recipe = _recipe(tmp_path, [{"name": "books", "kind": "books", "paths": [str(book)]},
                                {"name": "web", "kind": "jsonl", "paths": [str(tmp_path / "web.jsonl")]}])
    build(load_recipe(recipe), show_progress=False)
    run = tmp_path / "run"
    books_kept = _read_dir(run, "dedup/books/*.parquet")
    web_kept = _read_dir(run, "dedup/web/*.parquet")
    removed = _read_dir(run, "dedup/rejects/*/*.parquet")
    assert books_kept.num_rows == 1 and web_kept.num_rows == 1
    assert web_kept.column("text").to_pylist() == [LONG_TOPICS[0]]
    assert removed.num_rows == 1
    assert removed.column("source").to_pylist() == ["web"]
    assert removed.column("dedup_kept_id").to_pylist() == books_kept.column("id").to_pylist()
    assert books_kept.column("dedup_cluster_size").to_pylist() == [2]


def _build_cli(recipe: Path, **popen):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    command = [sys.executable, "-m", "pipelines.cli", "build", str(recipe), "--no-progress"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **popen)


def _outputs(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*"))
            if p.is_file() and not str(p.relative_to(run)).startswith(  # report/ holds timings and paths
                ("_stats", "run.json", "recipe.resolved", "report/"))}


@pytest.mark.slow
def test_two_runs_agree_and_a_kill_inside_dedup_resumes_to_the_same_bytes(tmp_path):
    texts = []
    for i, text in enumerate(LONG_TOPICS[:120]):
        texts.append(text)
        if i % 4 == 0:
            texts.append(text.replace(" the ", " THE ").replace(".", " ."))
        if i % 5 == 0:
            texts.append(text[: int(len(text) * 0.93)])
    for part in range(4):
        _write_jsonl(tmp_path / f"in-{part}.jsonl", texts[part::4])
    runs = {}
    for name in ("first", "second", "killed"):
        recipe = {"run_dir": str(tmp_path / name), "runner": {"num_cpus": 2}, "dedup": {"num_partitions": 8},
                  "sources": [{"name": "docs", "kind": "jsonl", "paths": [str(tmp_path / "in-*.jsonl")]}]}
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(recipe))
        runs[name] = tmp_path / f"{name}.yaml"
    for name in ("first", "second"):
        assert _build_cli(runs[name]).wait(timeout=300) == 0
    first, second = _outputs(tmp_path / "first"), _outputs(tmp_path / "second")
    assert {k for k in first if k.startswith("dedup/rejects/")}  # there are duplicates to remove
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []

    process = _build_cli(runs["killed"], start_new_session=True)
    markers = tmp_path / "killed/_done/dedup.round-0000"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (markers.is_dir() and len(os.listdir(markers)) >= 3):
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert markers.is_dir() and not (tmp_path / "killed/_done/dedup").exists()  # killed inside the phases
    assert _build_cli(runs["killed"]).wait(timeout=300) == 0
    killed = _outputs(tmp_path / "killed")
    assert killed.keys() == first.keys()
    assert [k for k in first if first[k] != killed[k]] == []


def test_exact_jaccard_verification_drops_candidates_below_its_threshold(tmp_path, ray_cluster):
    """The wrapped copy is an LSH candidate of its original (Jaccard about 0.9 of 5-gram sets): kept
    apart by verification at 0.99, joined at 0.5; the exact copy goes either way."""
    from pipelines.dedup.jaccard import jaccard, shingle_set
    from pipelines.dedup.shingles import shingle_hashes

    original = LONG_TOPICS[7]
    wrapped = "Home | About | Contact | Search this site\n\n" + original + "\n\nCopyright 2024 Example."
    similarity = jaccard(shingle_set(shingle_hashes(original)), shingle_set(shingle_hashes(wrapped)))
    assert 0.85 < similarity < 0.99
    _write_jsonl(tmp_path / "a.jsonl", [original, LONG_TOPICS[8]])
    _write_jsonl(tmp_path / "b.jsonl", [wrapped, original.lower()])
    sources = [{"name": "a", "kind": "jsonl", "paths": [str(tmp_path / "a.jsonl")]},
               {"name": "b", "kind": "jsonl", "paths": [str(tmp_path / "b.jsonl")]}]
    outcomes = {}
    for threshold in (0.99, 0.5):
        run_dir = tmp_path / f"run-{threshold}"
        recipe = _recipe(tmp_path, sources, dedup={"verify_threshold": threshold, "num_partitions": 4})
        result = build(load_recipe(recipe, run_dir=str(run_dir)), show_progress=False)
        phases = [s.stage for s in result.stages]
        assert phases[2:5] == ["dedup.candidates", "dedup.verify_send", "dedup.verify_check"]
        stats = {s.stage: s.stats for s in result.stages}
        checked = sum(s["num_pairs_checked"] for s in stats["dedup.verify_check"])
        verified = sum(s["num_pairs_verified"] for s in stats["dedup.verify_check"])
        kept_b = pq.read_table(run_dir / "dedup/b/part-b.00000.parquet").column("text").to_pylist()
        outcomes[threshold] = (checked, verified, kept_b)
    # pairs: (original, lowercased) exact - never checked; (original, wrapped) and (wrapped, lowercased) near
    assert outcomes[0.99] == (2, 1, [wrapped])
    assert outcomes[0.5] == (2, 3, [])


def test_the_number_of_partitions_never_changes_what_dedup_keeps(tmp_path, ray_cluster):
    """Partitions cut the shuffles into tasks; labels are component minima and the keep rule is
    global, so 1, 3 and 7 partitions give the same kept parts and rejects, byte for byte."""
    texts = []
    for i, text in enumerate(LONG_TOPICS[:60]):
        texts.append(text)
        if i % 3 == 0:
            texts.append("Home | About\n\n" + text + "\n\nAll rights reserved.")
        if i % 4 == 0:
            texts.append(text.upper())
    for part in range(3):
        _write_jsonl(tmp_path / f"in-{part}.jsonl", texts[part::3])
    outputs = {}
    for num_partitions in (1, 3, 7):
        run = tmp_path / f"run-{num_partitions}"
        recipe = tmp_path / f"recipe-{num_partitions}.yaml"
        recipe.write_text(yaml.safe_dump({
            "run_dir": str(run), "runner": {"num_cpus": 2}, "dedup": {"num_partitions": num_partitions},
            "sources": [{"name": "docs", "kind": "jsonl", "paths": [str(tmp_path / "in-*.jsonl")]}]}))
        build(load_recipe(recipe), show_progress=False)
        outputs[num_partitions] = {k: v for k, v in _outputs(run).items()
                                   if k.startswith("dedup/") and not k.startswith("dedup/_work")}
    removed = {reason: sum(pq.read_table(pa.BufferReader(v)).num_rows for k, v in outputs[1].items()
                           if k.startswith(f"dedup/rejects/{reason}/"))
               for reason in ("exact_duplicate", "near_duplicate")}
    # Something to agree on: 20 wrapped + 15 upper-cased copies, one document kept per original.
    assert sum(removed.values()) == 20 + 15 and min(removed.values()) > 0
    assert outputs[3] == outputs[1] and outputs[7] == outputs[1]


def test_automatic_partitions_grow_with_the_documents():
    """null (the default): at least 16, one per 125,000 documents beyond that, at most 4096;
    a number given in the recipe is kept."""
    from pipelines.dedup.config import DedupConfig

    auto = DedupConfig()
    assert auto.num_partitions is None
    assert [auto.with_partitions_for(n).num_partitions
            for n in (0, 2_000_000, 2_000_001, 10_000_000, 10**12)] == [16, 16, 17, 80, 4096]
    assert DedupConfig(num_partitions=3).with_partitions_for(10**9).num_partitions == 3
