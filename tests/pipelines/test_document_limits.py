"""Bounded memory and time per document.

Peak RSS is measured on the extract worker's own code path (`extract_task`) in a fresh process per
input, so nothing else counts: the kernel's high-water mark (VmHWM) at its end. The bound stated and held:
a worker reading a 100 MB single-line document (JSONL, book, HTML page, source file) peaks within
64 MB of the same reader on a tiny input (holding the document alone would add 100 MB); a large real
WARC (the 1,033-page crawl repeated 3 times, 85 MB compressed) peaks within 64 MB of the same
WARC once, while yielding three times the documents; a 1 GiB gzip bomb line inside a real JSONL
(4.2 MB compressed) peaks within `max_record_bytes` + 16 MB of the real member alone (one line under
the limit is all it may hold, decompressed in pieces of ~1 MiB; reading whole 1 MiB chunks peaked
~730 MB higher).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from corpora import SkipCounter
from corpora.html_text import MAX_DOM_DEPTH, HtmlTooDeep, extract_text_resiliparse
from pipelines.document_limits import limited_documents

MB = 1_000_000
RSS_SLACK_MB = 64

MEASURE = """
import json, os, sys
from corpora import reader_for
from pipelines.stages.extract import extract_task
kind, path, run = sys.argv[1:4]
options = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
stats = extract_task(run, {"task_id": "t", "source": "s", "kind": kind, "path": path, "file_key": "f",
                           "size_bytes": 0, "byte_range": None, "batch_size": 1000,
                           "options": reader_for(kind).Options(**options).model_dump(mode="json"),
                           "max_doc_chars": 10_000_000, "extract_timeout_seconds": None})
# VmHWM, not ru_maxrss: the latter survives exec and would count the forking test process.
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"num_docs_out": stats["num_docs_out"], "reasons": stats["reasons"], "peak_rss_mb": peak_kb / 1024}))
"""


def _peak(kind: str, path: Path, tmp_path: Path, options: dict | None = None) -> dict:
    run = tmp_path / f"run-{path.name}-{len(list(tmp_path.glob('run-*')))}"
    out = subprocess.run([sys.executable, "-c", MEASURE, kind, str(path), str(run), json.dumps(options or {})],
                         capture_output=True,
                         text=True, timeout=600, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _warc(records: list[bytes]) -> bytes:
    from io import BytesIO

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    out = BytesIO()
    writer = WARCWriter(out, gzip=False)
    for i, payload in enumerate(records):
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(f"http://p{i}.invalid/", "response",
                                                      payload=BytesIO(payload), http_headers=headers))
    return out.getvalue()


@pytest.mark.slow
def test_a_100_mb_single_line_document_keeps_the_worker_within_the_bound(tmp_path):
    page = b"<html><body><p>A small page with a sentence or two of text.</p></body></html>"
    big_text = "word " * (100 * MB // 5)
    cases = {  # kind: (tiny input, huge input, documents and reasons from the huge one)
        "jsonl": ('{"text": "tiny"}\n', '{"text": "a"}\n{"text": "' + big_text + '"}\n{"text": "b"}\n',
                  2, {"record_too_large": 1}),
        "books": ("A tiny book.\n", big_text, 0, {"books_too_large": 1}),
        "commoncrawl": (_warc([page]), _warc([page, b"<html><body><p>" + big_text.encode() + b"</p></body></html>"]),
                        1, {"payload_too_large": 1}),
    }
    suffix = {"jsonl": ".jsonl", "books": ".txt", "commoncrawl": ".warc"}
    for kind, (tiny, huge, num_docs, reasons) in cases.items():
        paths = []
        for label, data in (("tiny", tiny), ("huge", huge)):
            path = tmp_path / f"{kind}-{label}{suffix[kind]}"
            path.write_bytes(data if isinstance(data, bytes) else data.encode())
            paths.append(path)
        baseline, measured = _peak(kind, paths[0], tmp_path), _peak(kind, paths[1], tmp_path)
        print(f"{kind}: peak RSS {baseline['peak_rss_mb']:.0f} MB tiny, {measured['peak_rss_mb']:.0f} MB with 100 MB")
        assert (measured["num_docs_out"], measured["reasons"]) == (num_docs, reasons), kind
        assert measured["peak_rss_mb"] < baseline["peak_rss_mb"] + RSS_SLACK_MB, (kind, baseline, measured)
        for path in paths:
            path.unlink()

    tree = tmp_path / "repo"
    tree.mkdir()
    (tree / "small.py").write_text("print('hello')\n")
    small = _peak("code", tree, tmp_path)
    (tree / "generated.py").write_text("x = '" + "a" * (100 * MB) + "'\n")
    measured = _peak("code", tree, tmp_path)
    print(f"code: peak RSS {small['peak_rss_mb']:.0f} MB tiny, {measured['peak_rss_mb']:.0f} MB with 100 MB")
    assert (measured["num_docs_out"], measured["reasons"]) == (1, {"code_too_large": 1})
    assert measured["peak_rss_mb"] < small["peak_rss_mb"] + RSS_SLACK_MB


@pytest.mark.slow
def test_a_large_warc_streams_in_bounded_memory(shared_data, tmp_path):
    real = (shared_data / "web/warc-derived-realhtml/trafilatura_eval_pages.warc.gz").read_bytes()
    once, thrice = tmp_path / "once.warc.gz", tmp_path / "thrice.warc.gz"
    once.write_bytes(real)
    thrice.write_bytes(real * 3)  # gzip members concatenate: a valid WARC of 3x the records
    one, three = _peak("commoncrawl", once, tmp_path), _peak("commoncrawl", thrice, tmp_path)
    print(f"WARC: peak RSS {one['peak_rss_mb']:.0f} MB once ({one['num_docs_out']} docs), "
          f"{three['peak_rss_mb']:.0f} MB three times ({three['num_docs_out']} docs)")
    assert three["num_docs_out"] == 3 * one["num_docs_out"] > 1000
    assert three["peak_rss_mb"] < one["peak_rss_mb"] + RSS_SLACK_MB, (one, three)


def test_a_gzip_bomb_in_jsonl_keeps_the_worker_within_the_bound(shared_data, tmp_path):
    """The bad-input corpus's bomb (tests/pipelines/bad_input_corpus.py): a real CC JSONL member,
    one gzip member holding a 1 GiB line, another real member. The worker keeps the 10 records
    before the bomb, counts it, and holds no more than one line under `max_record_bytes`."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bad_input_corpus", Path(__file__).with_name("bad_input_corpus.py"))
    corpus = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bad_input_corpus", corpus)
    spec.loader.exec_module(corpus)
    bomb, num_before = corpus.jsonl_gzip_bomb(shared_data)
    (tmp_path / "bomb.jsonl.gz").write_bytes(bomb)
    (tmp_path / "real.jsonl.gz").write_bytes((shared_data / "web/cc-text-jsonl/dolma_cc_en_head-0091.jsonl.gz").read_bytes())
    assert num_before == 10
    for max_record_mb in (64, 8):
        options = {"max_record_bytes": max_record_mb << 20}
        real = _peak("jsonl", tmp_path / "real.jsonl.gz", tmp_path, options)
        measured = _peak("jsonl", tmp_path / "bomb.jsonl.gz", tmp_path, options)
        print(f"gzip bomb, max_record_bytes {max_record_mb} MiB: peak RSS {real['peak_rss_mb']:.0f} MB real "
              f"member alone, {measured['peak_rss_mb']:.0f} MB with the 1 GiB bomb")
        assert (real["num_docs_out"], real["reasons"]) == (num_before, {})
        assert (measured["num_docs_out"], measured["reasons"]) == (num_before, {"error:decompression_bomb": 1})
        assert measured["peak_rss_mb"] < real["peak_rss_mb"] + max_record_mb * 1.05 + 16, (real, measured)


def test_documents_over_max_doc_chars_are_counted():
    skips = SkipCounter()
    docs = [{"id": str(n), "text": "x" * n} for n in (10, 1000, 1001, 5)]
    kept = list(limited_documents(iter(docs), skips, max_doc_chars=1000, timeout_seconds=None))
    assert [d["id"] for d in kept] == ["10", "1000", "5"]
    assert dict(skips) == {"doc_too_large": 1}


def test_a_document_over_the_time_limit_is_abandoned_and_counted():
    """A reader that catches errors per record (as the web and wiki readers do) loses only the slow
    record; the timer is off between documents (the sleep after the last one is not cut)."""
    def reader(skips):
        for n, seconds in enumerate([0.0, 3.0, 0.0]):
            try:
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:  # Python work, interruptible
                    pass
                yield {"id": str(n), "text": f"document {n}"}
            except Exception as error:  # noqa: BLE001 - as the readers do
                skips.skip(f"error:{type(error).__name__}")

    skips = SkipCounter()
    kept = []
    for doc in limited_documents(reader(skips), skips, max_doc_chars=None, timeout_seconds=0.5):
        kept.append(doc["id"])
        time.sleep(0.7)  # the consumer's own time is not the reader's
    assert kept == ["0", "2"]
    assert dict(skips) == {"error:ExtractTimeout": 1}


def test_html_nested_deeper_than_the_limit_is_refused_quickly():
    deep = "<html><body>" + "<div>" * 100_000 + "x" + "</div>" * 100_000 + "</body></html>"
    started = time.perf_counter()
    with pytest.raises(HtmlTooDeep):
        extract_text_resiliparse(deep)
    assert time.perf_counter() - started < 30  # unguarded: over 300 s (quadratic in the depth)
    shallow = "<html><body>" + "<div>" * (MAX_DOM_DEPTH // 2) + "<p>kept text</p>" + "</div>" * (MAX_DOM_DEPTH // 2)
    assert extract_text_resiliparse(shallow + "</body></html>") == "kept text"
