"""`inspect_run` on a run directory written the way the filter stage writes it."""
from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.filters import decide, split_rejects
from pipelines.inspection import deciding_columns, inspect_run

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, web_annotated, web_settings) -> Path:
    run = tmp_path_factory.mktemp("run")
    decided = decide(web_annotated.slice(0, 400), web_settings)
    kept, rejects = split_rejects(decided, 1.0, 0)
    (run / "filter" / "web").mkdir(parents=True)
    pq.write_table(kept, run / "filter" / "web" / "part-00000.parquet")
    for reason, table in rejects.items():
        (run / "filter" / "rejects" / reason).mkdir(parents=True)
        pq.write_table(table, run / "filter" / "rejects" / reason / "part-00000.parquet")
    return run


def test_rejects_of_a_reason_show_the_deciding_score(run_dir: Path):
    reasons = sorted(p.name for p in (run_dir / "filter" / "rejects").iterdir())
    assert "lid_wrong_language" in reasons
    table = pq.read_table(run_dir / "filter" / "rejects" / "lid_wrong_language" / "part-00000.parquet")
    out = inspect_run(str(run_dir), reason="lid_wrong_language", n=3, seed=1)
    assert f"filter: removed by lid_wrong_language: 3 of {table.num_rows} documents (seed 1)" in out
    assert out.count("· lid_wrong_language") == 3
    assert out.count("decided by lid_score = ") == 3
    assert "more chars]" in out  # long texts are truncated
    assert out == inspect_run(str(run_dir), reason="lid_wrong_language", n=3, seed=1)
    assert out != inspect_run(str(run_dir), reason="lid_wrong_language", n=3, seed=2)


def test_kept_documents_and_overview(run_dir: Path):
    kept = pq.read_table(run_dir / "filter" / "web" / "part-00000.parquet")
    out = inspect_run(str(run_dir), kept=True, n=2)
    assert f"filter: kept: 2 of {kept.num_rows} documents" in out and out.count("· kept") == 2
    overview = inspect_run(str(run_dir))
    assert "kept: web" in overview and str(kept.num_rows) in overview
    assert "removed: lid_wrong_language" in overview


def test_unknown_reason_lists_the_available_ones(run_dir: Path):
    available = sorted(p.name for p in (run_dir / "filter" / "rejects").iterdir())
    with pytest.raises(ValueError) as error:
        inspect_run(str(run_dir), reason="gopher_too_fancy")
    assert str(error.value).endswith("available reasons: " + ", ".join(available))
    with pytest.raises(FileNotFoundError, match="no 'dedup' stage output"):
        inspect_run(str(run_dir), stage="dedup")


def test_deciding_columns_name_existing_score_columns(web_annotated):
    columns = set(web_annotated.column_names)
    for reason in ("gopher_rep_top_2_gram", "gopher_rep_duplicated_10_n_grams", "gopher_rep_dup_line_frac",
                   "gopher_short_doc", "c4_too_few_sentences", "fineweb_char_dup_ratio", "url_hard_blacklisted",
                   "lid_low_score"):
        assert set(deciding_columns(reason)) <= columns, reason
    assert deciding_columns("error:ValueError") == ["annotate_error"]
