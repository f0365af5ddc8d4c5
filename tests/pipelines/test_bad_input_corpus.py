"""The bad-input corpus (tests/pipelines/bad_input_corpus.py: 36 damaged or hostile inputs made from
the real shared files, plus 4 broken recipes) goes through one real build: every case ends in a
counted reason or a listed bad input, never a stopped build, and every other document comes
through intact, counted against an independent count."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from pipelines.build import build
from pipelines.recipe import RecipeError, load_recipe

_spec = importlib.util.spec_from_file_location("bad_input_corpus", Path(__file__).with_name("bad_input_corpus.py"))
corpus = importlib.util.module_from_spec(_spec)
sys.modules["bad_input_corpus"] = corpus  # dataclasses look their module up there
_spec.loader.exec_module(corpus)


@pytest.fixture(scope="module")
def built(shared_data, tmp_path_factory, ray_cluster):
    root = tmp_path_factory.mktemp("bad-input-corpus")
    recipe, cases = corpus.make_corpus(shared_data, root)
    path = root / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    build(load_recipe(path), show_progress=False)
    run = Path(recipe["run_dir"])
    tasks = {}
    for stats_path in (run / "_stats" / "extract").glob("*.json"):
        stats = json.loads(stats_path.read_text())
        part = run / "extract" / stats["source"] / f"part-{stats['task']}.parquet"
        tasks[stats["input"]] = (stats, pq.read_table(part).to_pylist())
    return run, cases, tasks


def _expected(case, tasks, root: Path) -> tuple[int, list[str] | None]:
    """(documents, their texts or None) the case should keep, from its independent reference."""
    if case.reference is None:
        return case.expected_docs, case.texts
    ref_dir = "webref" if case.source == "web" else "wikiref"
    _, ref_docs = tasks[str(root / ref_dir / case.reference)]
    if hasattr(case, "reference_offsets"):  # gzip members wholly before the cut
        starts = set(case.reference_offsets)
        ref_docs = [d for d in ref_docs if json.loads(d["meta"])["record_offset"] in starts]
    return len(ref_docs), [d["text"] for d in ref_docs]


def test_every_case_is_counted_and_every_other_document_kept(built):
    run, cases, tasks = built
    root = run.parent
    summary = json.loads((run / "_stats" / "extract.json").read_text())
    problems, table = [], []
    for case in cases:
        if case.path.name == "link-out.txt":  # a link out of the tree is no input at all
            listed = [p for p in tasks
                      if p.endswith(("/books/link-out.txt", "/outside-the-tree.txt")) or "/books/loop/" in p]
            outcome = "not listed as an input" if not listed else f"listed: {listed}"
            table.append((case.name, outcome, 0, 0))
            if listed:
                problems.append(f"{case.name}: {listed}")
            continue
        stats, docs = tasks[str(case.path)]
        num_expected, texts = _expected(case, tasks, root)
        reasons = {k: v for k, v in stats["reasons"].items() if not k.startswith(("warc_", "wiki_namespace"))}
        if case.bad_input:
            listed = [e["path"] for e in summary[case.source].get("bad_inputs", [])]
            outcome = "bad input, listed: " + stats["bad_inputs"][0]["reason"].split(":")[0]
            if str(case.path) not in listed or stats.get("num_bad_inputs") != 1:
                problems.append(f"{case.name}: not listed under bad_inputs")
        else:
            outcome = ", ".join(f"{k}={v}" for k, v in sorted(reasons.items())) or "(nothing to count)"
        table.append((case.name, outcome, stats["num_docs_out"], num_expected))
        if stats["num_docs_out"] != num_expected:
            problems.append(f"{case.name}: kept {stats['num_docs_out']}, expected {num_expected}")
        if texts is not None and [d["text"] for d in docs] != texts:
            problems.append(f"{case.name}: the kept texts differ from the reference")
        for reason, count in case.reasons.items():
            if stats["reasons"].get(reason) != count:
                problems.append(f"{case.name}: {reason}={stats['reasons'].get(reason)}, expected {count}")
    print("\n| case | what happened | docs kept | expected |\n|---|---|---|---|")
    for row in table:
        print("| " + " | ".join(str(v) for v in row) + " |")
    assert len(cases) >= 30
    assert problems == []


def test_the_lying_record_does_not_damage_its_neighbours(built):
    """The two honest records around a Content-Length that lies come through with the same text
    as the same page elsewhere in the corpus."""
    run, cases, tasks = built
    root = run.parent
    _, docs = tasks[str(root / "web" / "lying-length.warc")]
    _, control = tasks[str(root / "web" / "not-html.warc")]
    [page] = control  # the same real page, in a well-formed file
    by_url = {d["url"]: d["text"] for d in docs}
    assert by_url["http://one.invalid/"] == page["text"]
    assert by_url["http://two.invalid/"] == page["text"].replace("Escopete", "Escopeta")


def test_nothing_outside_the_input_trees_was_read(built):
    run, _, tasks = built
    secrets = ("root:x:0:0", "/bin/bash")
    for stats, docs in tasks.values():
        assert not any(s in d["text"] for d in docs for s in secrets), stats["input"]
    assert not (run.parent / "escape.py").exists() and not Path("/etc/absolute.py").exists()


@pytest.mark.parametrize("change, problem", [
    ({"runner": {"num_cpus": "two"}}, "runner.num_cpus: Input should be a valid integer"),
    ({"sources": [{"name": "a", "kind": "jsonl", "paths": ["a.jsonl"], "colour": "red"}]},
     "sources[0].colour: unknown key; remove it or check its spelling"),
    ({"sources": [{"name": "a", "kind": "jsonl", "paths": ["missing/*.jsonl"]}]},
     "sources[0].paths: source 'a': no files match 'missing/*.jsonl'"),
    ({"sources": [{"name": "a", "kind": "commoncrawl", "paths": ["http://127.0.0.1:9/crawl/x.warc.gz"]}]},
     "sources[0].paths: source 'a': cannot list 'http://127.0.0.1:9/crawl/x.warc.gz' (ClientConnectorError"),
])
def test_a_broken_recipe_is_refused_before_any_work(tmp_path, change, problem):
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    recipe = {"run_dir": str(tmp_path / "run"),
              "sources": [{"name": "a", "kind": "jsonl", "paths": ["a.jsonl"]}], **change}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    with pytest.raises(RecipeError) as refused:
        load_recipe(path)
    assert problem in str(refused.value)
    assert not (tmp_path / "run").exists()
