"""report.json against its schema, and every number in it recomputed from the run's own files
(per-task stats, parquet parts, the manifest, the Arrow shards), read here with json and pyarrow
directly, never through pipelines.report."""
from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xxhash

SOURCES = ["docs", "notes", "code"]


def _report(run: Path) -> dict:
    return json.loads((run / "report" / "report.json").read_text())


def _task_stats(run: Path, stage: str) -> dict[str, dict]:
    """Per source: the sum of every task's counts (the per-task files, not the build's merged one)."""
    totals: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    for path in sorted((run / "_stats" / stage).glob("*.json")):
        stats = json.loads(path.read_text())
        entry = totals[stats["source"]]
        for key, value in stats.items():
            if key.startswith("num_") and isinstance(value, int):
                entry[key] += value
        for reason, count in stats.get("reasons", {}).items():
            entry[f"reason:{reason}"] += count
        for reason, count in stats.get("reason_chars", {}).items():
            entry[f"reason_chars:{reason}"] += count
    return totals


def _parts(run: Path, stage: str, source: str, columns: list[str]) -> pa.Table:
    tables = [pq.read_table(p, columns=columns) for p in sorted((run / stage / source).glob("part-*.parquet"))]
    return pa.concat_tables(tables)


def _step(report: dict, source: str, step: str) -> dict:
    return next(s for s in report["funnel"]["sources"][source]["steps"] if s["step"] == step)


def test_report_json_validates_against_its_schema(report_run):
    import jsonschema

    from pipelines.report.schema import REPORT_SCHEMA

    report = _report(report_run)
    jsonschema.Draft202012Validator.check_schema(REPORT_SCHEMA)
    jsonschema.Draft202012Validator(REPORT_SCHEMA).validate(report)
    written = json.loads((report_run / "report" / "report.schema.json").read_text())
    assert written == REPORT_SCHEMA
    # the schema is closed: an unknown key is an error
    report["funnel"]["surprise"] = 1
    with pytest.raises(jsonschema.ValidationError, match="surprise"):
        jsonschema.validate(report, REPORT_SCHEMA)


def test_build_wrote_a_finished_report_with_every_section(report_run):
    report = _report(report_run)
    assert report["status"]["finished"] is True
    assert [s["name"] for s in report["sources"]] == SOURCES
    for section in ("funnel", "mixture", "distributions", "samples", "scale", "planner"):
        assert report[section] is not None, section
    assert report["funnel"]["steps"] == ["extracted", "filtered", "deduplicated", "tokenized", "mixture_train",
                                        "mixture_val"]  # dedup is on by default
    assert (report_run / "report" / "report.html").stat().st_size > 10_000


def test_funnel_documents_characters_and_reasons_equal_the_stats_and_parts(report_run):
    report = _report(report_run)
    extract, filtered, tokenized = (_task_stats(report_run, s) for s in ("extract", "filter", "tokenize"))
    for source in SOURCES:
        ex, fi, to = _step(report, source, "extracted"), _step(report, source, "filtered"), _step(report, source, "tokenized")
        assert (ex["num_docs"], ex["num_chars"]) == (extract[source]["num_docs_out"], extract[source]["num_chars_out"])
        assert (fi["num_docs"], fi["num_chars"]) == (filtered[source]["num_docs_out"], filtered[source]["num_chars_out"])
        # the kept parts hold exactly the documents counted
        kept = _parts(report_run, "filter", source, ["num_chars"])
        assert kept.num_rows == fi["num_docs"]
        assert sum(kept.column("num_chars").to_pylist()) == fi["num_chars"]
        tokens = _parts(report_run, "tokenize", source, ["num_tokens"])
        assert (to["num_docs"], to["num_tokens"]) == (tokens.num_rows, sum(tokens.column("num_tokens").to_pylist()))
        assert to["num_chars"] == tokenized[source]["num_chars_in"] and to["tokens_estimated"] is False
        ratio = to["num_tokens"] / to["num_chars"]
        assert report["funnel"]["sources"][source]["tokens_per_char"] == pytest.approx(ratio)
        assert ex["num_tokens"] == round(ex["num_chars"] * ratio) and ex["tokens_estimated"] is True
        removed = {(r["stage"], r["reason"]): r for r in report["funnel"]["sources"][source]["removed"]}
        expected = {("filter", k.split(":", 1)[1]): v for k, v in filtered[source].items() if k.startswith("reason:")}
        expected |= {("extract", k.split(":", 1)[1]): v for k, v in extract[source].items() if k.startswith("reason:")}
        deduped = _task_stats(report_run, "dedup")  # dedup is on by default
        expected |= {("dedup", k.split(":", 1)[1]): v for k, v in deduped.get(source, {}).items() if k.startswith("reason:")}
        assert {key: r["num_docs"] for key, r in removed.items()} == expected
        for (stage, reason), item in removed.items():
            if stage == "filter":  # every removed document is in rejects (sample rate 1)
                rejects = pq.read_table(report_run / "filter" / "rejects" / reason, columns=["source", "num_chars"])
                mine = rejects.filter(pa.compute.equal(rejects.column("source"), source))
                assert mine.num_rows == item["num_docs"]
                assert sum(mine.column("num_chars").to_pylist()) == item["num_chars"]
                assert item["num_tokens_estimated"] == round(item["num_chars"] * ratio)
            elif stage == "dedup":  # dedup counts the characters it removed (reason_chars)
                assert item["num_chars"] == deduped[source][f"reason_chars:{reason}"]
            else:
                assert item["num_chars"] is None
    assert report["funnel"]["totals"][0] == {
        "step": "extracted", "tokens_estimated": True,
        "num_docs": sum(extract[s]["num_docs_out"] for s in SOURCES),
        "num_chars": sum(extract[s]["num_chars_out"] for s in SOURCES),
        "num_tokens": sum(_step(report, s, "extracted")["num_tokens"] for s in SOURCES)}


def _shard_tokens(run: Path) -> dict[str, dict[str, dict[str, int]]]:
    """split -> shard file -> source -> tokens, read from the .arrow files themselves."""
    out: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)
    for path in sorted((run / "shards").glob("*.arrow")):
        table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
        counts: Counter[str] = Counter()
        for source, num_tokens in zip(table.column("source").to_pylist(), table.column("num_tokens").to_pylist()):
            counts[source] += num_tokens
        counts["__docs__"] = table.num_rows
        out[path.name.split("-")[0]][path.name] = dict(counts)
    return out


def test_mixture_equals_the_manifest_and_the_shards(report_run):
    report = _report(report_run)
    mixture = report["mixture"]
    manifest = json.loads((report_run / "shards" / "manifest.json").read_text())
    shards = _shard_tokens(report_run)
    assert len(mixture["shards"]) == sum(len(v) for v in shards.values()) >= 2
    for shard in mixture["shards"]:
        on_disk = dict(shards[shard["split"]][Path(shard["path"]).name])
        assert shard["num_docs"] == on_disk.pop("__docs__")
        assert shard["tokens_per_source"] == on_disk
        assert shard["num_tokens"] == sum(on_disk.values())
    for split in ("train", "val"):
        per_source: Counter[str] = Counter()
        for counts in shards[split].values():
            per_source.update({k: v for k, v in counts.items() if k != "__docs__"})
        assert mixture["splits"][split]["num_tokens"] == sum(per_source.values())
        step = "mixture_" + split
        for source in SOURCES:
            assert _step(report, source, step)["num_tokens"] == per_source.get(source, 0)
    train_total = mixture["splits"]["train"]["num_tokens"]
    for source in SOURCES:
        entry, planned = mixture["sources"][source], manifest["mixture"]["sources"][source]
        achieved = sum(c.get(source, 0) for c in shards["train"].values())
        assert entry["achieved_tokens"] == achieved
        assert entry["achieved_weight"] == pytest.approx(achieved / train_total)
        assert entry["achieved_epochs"] == pytest.approx(achieved / planned["available_tokens"])
        assert entry["target_weight"] == pytest.approx({"docs": 0.5, "notes": 0.2, "code": 0.3}[source])
    # notes: one kept document, upsampled to its cap of 8 epochs
    assert mixture["sources"]["notes"]["achieved_epochs"] == pytest.approx(8.0)
    assert mixture["limited_by"] == manifest["mixture"]["limited_by"] == ["notes"]
    assert mixture["warnings"] == manifest["mixture"]["warnings"]


def test_distributions_are_histograms_of_the_parts(report_run):
    report = _report(report_run)
    for source in SOURCES:
        entry = report["distributions"][source]
        lengths = np.asarray(_parts(report_run, "tokenize", source, ["num_tokens"]).column("num_tokens").to_pylist())
        length = entry["length"]
        assert length["unit"] == "tokens" and length["num_docs"] == lengths.size
        assert length["edges"][0] <= lengths.min() and lengths.max() <= length["edges"][-1]
        assert length["counts"] == np.histogram(lengths, bins=length["edges"])[0].tolist()
        assert length["median"] == float(np.median(lengths))
        annotated = pa.concat_tables(pq.read_table(p) for p in sorted((report_run / "annotate" / source).glob("*.parquet")))
        kept = _parts(report_run, "filter", source, None)
        for score in entry["scores"]:
            column = annotated.column(score["column"]).to_pylist()
            values = np.asarray([v for v in column if v is not None and v == v], dtype=float)
            assert score["num_docs"] == values.size and score["num_missing"] == len(column) - values.size
            assert score["counts"] == np.histogram(values, bins=score["edges"])[0].tolist()
            # the marked limits are the ones the filter applied: no kept document is past one
            kept_values = [v for v in kept.column(score["column"]).to_pylist() if v is not None and v == v]
            for rule in score["thresholds"]:
                if rule["drop_when"] == "above":
                    assert all(v <= rule["limit"] for v in kept_values), (source, rule)
                else:
                    assert all(v >= rule["limit"] for v in kept_values), (source, rule)
    # code has no LID (off in this recipe): its language is the reader's
    languages = report["distributions"]["code"]["languages"]
    code_languages = Counter(_parts(report_run, "annotate", "code", ["code_language"]).column("code_language").to_pylist())
    assert languages["column"] == "code_language"
    assert languages["all"] == [[k, v] for k, v in sorted(code_languages.items(), key=lambda kv: (-kv[1], kv[0]))]
    # web-only rules are not marked on curated sources: the docs source has gopher_quality off
    docs_columns = {s["column"] for s in report["distributions"]["docs"]["scores"]}
    assert "gopher_num_words" not in docs_columns and "c4_num_sentences" in docs_columns
    assert {s["column"] for s in report["distributions"]["code"]["scores"]} == {
        "code_max_line_length", "code_mean_line_length", "code_alnum_fraction", "num_chars"}


def test_samples_are_the_documents_with_the_smallest_seeded_keys(report_run):
    report = _report(report_run)
    samples = report["samples"]
    assert samples["seed"] == 3

    def expected_ids(directory: Path) -> list[str]:
        ids = pq.read_table(directory, columns=["id"]).column("id").to_pylist()
        return sorted(ids, key=lambda i: xxhash.xxh64_intdigest(f"3\x1f{i}".encode()))[:3]

    reasons = sorted((stage, p.name) for stage in ("filter", "dedup")  # dedup is on by default
                     for p in (report_run / stage / "rejects").iterdir())
    assert sorted((g["stage"], g["reason"]) for g in samples["removed"].values()) == reasons
    for group in samples["removed"].values():
        directory = report_run / group["stage"] / "rejects" / group["reason"]
        assert [d["id"] for d in group["documents"]] == expected_ids(directory)
        texts = dict(zip(*pq.read_table(directory, columns=["id", "text"]).to_pydict().values()))
        for document in group["documents"]:
            original = re.sub(r"\n\s*\n(\s*\n)+", "\n\n", texts[document["id"]])
            assert document["text"] == original[:600] and document["truncated"] == (len(original) > 600)
            assert document["num_chars"] == len(texts[document["id"]])
    for source in SOURCES:
        assert [d["id"] for d in samples["kept"][source]["documents"]] == expected_ids(report_run / "dedup" / source)


def test_scale_and_planner_use_the_train_tokens(report_run):
    report = _report(report_run)
    train = sum(count for shard in _shard_tokens(report_run)["train"].values()
                for key, count in shard.items() if key != "__docs__")
    assert report["scale"]["corpus_tokens"] == train
    tokenized = [sum(_parts(report_run, "tokenize", s, ["num_tokens"]).column("num_tokens").to_pylist()) for s in SOURCES]
    assert report["scale"]["tokenized_tokens"] == sum(tokenized)
    assert {r["name"]: r["tokens"] for r in report["scale"]["references"]} == {
        "BERT-Large": 3.3e9, "GPT-2": 8e9, "GPT-3": 300e9, "LLaMA-65B": 1.4e12}
    chinchilla = report["planner"]["chinchilla"]
    assert chinchilla["params"] == pytest.approx(train / 20)
    assert chinchilla["flops"] == pytest.approx(6 * (train / 20) * train)
    assert chinchilla["gpu_hours"] == pytest.approx(chinchilla["flops"] / (989.5e12 * 0.4) / 3600)


def test_the_report_reads_a_remote_run_directory(report_run):
    """The same run copied to an fsspec memory:// filesystem (as an s3:// run directory is read)
    gives the same report, written there."""
    import fsspec

    from pipelines.report import write_report

    memory = fsspec.filesystem("memory")
    for path in sorted(report_run.rglob("*")):
        if path.is_file() and "report" not in path.relative_to(report_run).parts:
            memory.pipe_file(f"/remote-run/{path.relative_to(report_run)}", path.read_bytes())
    files = write_report("memory://remote-run", summary=False)
    remote = json.loads(memory.cat_file("/remote-run/report/report.json"))
    local = _report(report_run)
    for report in (remote, local):
        del report["generated"], report["run_dir"]
    assert remote == local
    assert memory.cat_file("/remote-run/report/report.html").startswith(b"<!doctype html>")
    assert files.html_path == "/remote-run/report/report.html"
