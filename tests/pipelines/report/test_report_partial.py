"""The report of a partial build: each section appears once its stage has output; a running or
interrupted stage is summed from the tasks done so far; dedup's columns are shown when present."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipelines.report import collect_report, write_report

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def filtered_run(tmp_path_factory, write_small_recipe) -> Path:
    """The small recipe built through the filter stage only (no tokenizer, no shards)."""
    from rich.console import Console

    from pipelines.build import build
    from pipelines.recipe import load_recipe

    root = tmp_path_factory.mktemp("partial")
    resolved = load_recipe(write_small_recipe(root))
    build(resolved, console=Console(file=open(os.devnull, "w")), show_progress=False, until="filter")
    return Path(resolved.run_dir)


@pytest.fixture
def run(filtered_run, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(filtered_run, copy)
    return copy


def test_sections_wait_for_their_stages(run):
    report = json.loads((run / "report" / "report.json").read_text())  # written by the build
    assert report["status"]["finished"] is True
    assert report["funnel"]["steps"] == ["extracted", "filtered"]
    assert all(s["num_tokens"] is None for src in report["funnel"]["sources"].values() for s in src["steps"])
    assert report["mixture"] is None and report["scale"] is None and report["planner"] is None
    assert report["distributions"]["docs"]["length"]["unit"] == "characters"
    assert report["samples"]["kept"]["docs"]["stage"] == "filter"
    page = (run / "report" / "report.html").read_text()
    for section in ("mixture", "scale", "planner"):
        assert f'<section id="{section}" class="pending" data-state="pending">' in page
    for section in ("funnel", "distributions", "samples"):
        assert f'<section id="{section}" data-state="filled">' in page
    assert 'id="planner-data"' not in page


def test_a_running_stage_is_summed_from_the_tasks_done(run):
    # a task finished after the build's merged stats: a build is running again
    task = sorted((run / "_stats" / "filter").glob("*.json"))[0]
    later = os.stat(run / "_stats" / "filter.json").st_mtime + 5
    os.utime(task, (later, later))
    report = collect_report(str(run))
    assert report["status"]["finished"] is False
    assert report["funnel"]["stage_status"]["filter"]["complete"] is False
    # interrupted: the code source's filter task has not run yet
    (run / "_stats" / "filter.json").unlink()
    for path in (run / "_stats" / "filter").glob("code.*.json"):
        path.unlink()
    report = collect_report(str(run))
    stats = [json.loads(p.read_text()) for p in sorted((run / "_stats" / "filter").glob("*.json"))]
    for source in ("docs", "notes"):
        filtered = next(s for s in report["funnel"]["sources"][source]["steps"] if s["step"] == "filtered")
        assert filtered["num_docs"] == sum(s["num_docs_out"] for s in stats if s["source"] == source)
    assert [s["step"] for s in report["funnel"]["sources"]["code"]["steps"]] == ["extracted"]
    assert report["funnel"]["stage_status"]["filter"] == {"num_tasks_done": len(stats), "complete": False}
    page = write_report(str(run), summary=False)
    assert "Partial: filter" in Path(page.html_path).read_text()


def _fake_dedup(run: Path) -> tuple[str, list[str]]:  # -> (source, ids removed as duplicates)
    """A dedup stage as the dedup stage writes it (dedup/<source>/ with dedup_cluster_id and
    dedup_cluster_size, dedup/rejects/exact_duplicate/, _stats/dedup/<task>.json): the three
    smallest docs documents of the first part are made one cluster, the first one kept."""
    duplicates = None
    for part in sorted((run / "filter").glob("*/part-*.parquet")):
        source, task = part.parent.name, part.name.removeprefix("part-").removesuffix(".parquet")
        table = pq.read_table(part)
        ids = table.column("id").to_pylist()
        sizes = [1] * table.num_rows
        removed = []
        if source == "docs" and not (run / "dedup" / "rejects").exists():
            kept_id, removed = ids[0], ids[1:3]
            sizes[:3] = [3, 3, 3]  # every member carries its cluster's size
        cluster = [kept_id if i in removed else i for i in ids] if removed else ids
        table = table.append_column("dedup_cluster_id", pa.array(cluster, pa.string()))
        table = table.append_column("dedup_cluster_size", pa.array(sizes, pa.int64()))
        mask = pa.array([i in removed for i in ids])
        kept = table.filter(pc.invert(mask))
        (run / "dedup" / source).mkdir(parents=True, exist_ok=True)
        pq.write_table(kept, run / "dedup" / source / part.name)
        reasons, reason_chars = {}, {}
        if removed:
            rejects = table.filter(mask).drop_columns(["drop_reason"]) if "drop_reason" in table.column_names \
                else table.filter(mask)
            rejects = rejects.append_column("drop_reason", pa.array(["exact_duplicate"] * len(removed)))
            rejects = rejects.append_column("dedup_kept_id", pa.array([kept_id] * len(removed)))
            (run / "dedup" / "rejects" / "exact_duplicate").mkdir(parents=True)
            pq.write_table(rejects, run / "dedup" / "rejects" / "exact_duplicate" / part.name)
            reasons = {"exact_duplicate": len(removed)}
            reason_chars = {"exact_duplicate": sum(rejects.column("num_chars").to_pylist())}
            duplicates = (source, removed)
        (run / "_stats" / "dedup").mkdir(parents=True, exist_ok=True)
        (run / "_stats" / "dedup" / f"{task}.json").write_text(json.dumps({
            "source": source, "num_docs_in": table.num_rows, "num_docs_out": kept.num_rows,
            "num_chars_in": sum(table.column("num_chars").to_pylist()),
            "num_chars_out": sum(kept.column("num_chars").to_pylist()),
            "reasons": reasons, "reason_chars": reason_chars}))
    return duplicates


def test_dedup_columns_and_rejects_are_shown_when_present(run):
    source, removed = _fake_dedup(run)
    kept = pq.read_table(run / "dedup" / "rejects" / "exact_duplicate").column("dedup_kept_id")[0].as_py()
    report = collect_report(str(run))
    assert report["funnel"]["steps"] == ["extracted", "filtered", "deduplicated"]
    steps = {s["step"]: s for s in report["funnel"]["sources"][source]["steps"]}
    assert steps["deduplicated"]["num_docs"] == steps["filtered"]["num_docs"] - 2
    assert {(r["stage"], r["reason"]): r["num_docs"] for r in report["funnel"]["sources"][source]["removed"]
            if r["stage"] == "dedup"} == {("dedup", "exact_duplicate"): 2}
    clusters = report["distributions"][source]["dup_clusters"]
    assert (clusters["num_clusters"], clusters["largest"], clusters["num_docs_in_clusters"]) == (1, 3, 3)
    assert report["distributions"]["notes"]["dup_clusters"]["num_clusters"] == 0
    group = report["samples"]["removed"]["dedup:exact_duplicate"]
    assert sorted(d["id"] for d in group["documents"]) == sorted(removed)
    assert [d["deciding"] for d in group["documents"]] == [{"dedup_kept_id": kept, "dedup_cluster_size": 3}] * 2
    assert report["samples"]["kept"][source]["stage"] == "dedup"


def test_report_command_on_a_partial_run(run):
    env = {**os.environ, "COLUMNS": "160", "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "report", str(run)], capture_output=True, text=True,
                          timeout=300, env=env, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "funnel: documents" in done.stdout
    assert "funnel: tokens" not in done.stdout  # nothing tokenized yet: no token counts to show
    assert "top removal reasons" in done.stdout
    assert "mixture" not in done.stdout.split("top removal reasons")[0]
    assert f"report written to {run}/report/report.html" in done.stderr.replace("\n", "")
