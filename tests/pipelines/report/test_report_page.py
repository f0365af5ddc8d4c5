"""report.html: escaped text, and the page as headless Chromium renders it (no console errors,
sections filled, the planner's script agrees with the Python planner, nothing fetched)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipelines.report.planner import format_count, format_flops, format_usd

KEPT_MARKUP = "<script>alert('kept')</script>"


def _html(run: Path) -> str:
    return (run / "report" / "report.html").read_text()


def test_markup_in_documents_is_escaped_text(report_run):
    page = _html(report_run)
    assert "&lt;script&gt;alert(&#x27;kept&#x27;)&lt;/script&gt;" in page
    assert "&lt;script&gt;alert(&#x27;removed&#x27;)&lt;/script&gt;&lt;/div&gt;&lt;b&gt;bold&lt;/b&gt;" in page
    assert "alert('kept')" not in page and "alert('removed')" not in page
    assert "<b>bold</b>" not in page
    # exactly two script elements: the planner's JSON data block and the page's own script
    assert len(re.findall(r"<script\b", page)) == 2


def test_page_fetches_nothing_by_policy(report_run):
    page = _html(report_run)
    policy = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'" and directives["img-src"] == "data:"
    assert directives["script-src"].startswith("'sha256-") and "unsafe" not in policy
    assert not re.search(r'\b(?:src|href)="(?:https?:|//)', page)  # no external resource anywhere
    assert " style=" not in page  # style attributes would need 'unsafe-inline'


def _expected_outputs(report: dict) -> dict[str, str]:
    planner = report["planner"]
    chin = planner["chinchilla"]
    return {"out-params": format_count(chin["params"]), "out-flops": format_flops(chin["flops"]),
            "out-hours": format_count(chin["gpu_hours"]), "out-cost": format_usd(chin["cost_usd"]),
            "out-kaplan": f"{chin['kaplan_loss']:.3f}", "out-hoffmann": f"{chin['hoffmann_loss']:.3f}",
            "out-sustained": format_count(planner["sustained_flops_per_gpu"])}


PAGE_QUERIES = {
    "sections": "Object.fromEntries([...document.querySelectorAll('main > section')].map(s => [s.id, s.dataset.state]))",
    "funnel_rows": "document.querySelectorAll('#funnel table.funnel-table tbody tr').length",
    "funnel_bars": "document.querySelectorAll('#funnel svg.chart rect').length",
    "reason_links": "document.querySelectorAll('#funnel table.reasons a[href^=\"#sample-\"]').length",
    "mixture_rows": "[...document.querySelectorAll('#mixture table.mixture tbody tr')].map(r => r.cells[0].textContent)",
    "shard_rows": "document.querySelectorAll('#mixture table.shards tbody tr').length",
    "histograms": "document.querySelectorAll('#distributions svg.hist').length",
    "threshold_lines": "document.querySelectorAll('#distributions svg.hist line').length",
    "planner_state": "document.body.getAttribute('data-planner')",
    "outputs": "Object.fromEntries([...document.querySelectorAll('#planner output')].map(o => [o.id, o.textContent]))",
    "known_rows": "document.querySelectorAll('#planner table.known tbody tr').length",
    "scripts": "document.querySelectorAll('script').length",
    "bold_in_samples": "document.querySelectorAll('#samples b').length",
    "kept_texts": "[...document.querySelectorAll('#samples details.kept pre')].map(p => p.textContent)",
}


def test_page_renders_in_headless_chromium(report_run, chromium, artifacts_dir):
    report = json.loads((report_run / "report" / "report.json").read_text())
    url = (report_run / "report" / "report.html").as_uri()
    visit = chromium.visit(url, PAGE_QUERIES, screenshot=True)
    (artifacts_dir / "report-small-run.png").write_bytes(visit.screenshot)
    assert visit.screenshot[:8] == b"\x89PNG\r\n\x1a\n" and len(visit.screenshot) > 50_000

    assert visit.errors == []
    assert visit.requests == [url] and visit.blocked == {}  # the page itself, nothing else, nothing refused
    values = visit.values
    assert values["sections"] == {k: "filled" for k in ("funnel", "mixture", "distributions", "samples", "scale", "planner")}
    assert values["funnel_rows"] == 3 * 4  # documents, characters, tokens x (3 sources + total)
    assert values["funnel_bars"] >= 3 * 5  # three charts, five steps each
    assert values["reason_links"] == sum(1 for s in report["funnel"]["sources"].values()
                                         for r in s["removed"] if r["stage"] in ("filter", "dedup"))
    assert values["mixture_rows"] == ["code", "docs", "notes"]
    assert values["shard_rows"] == len(report["mixture"]["shards"])
    assert values["histograms"] == 3 + sum(len(d["scores"]) for d in report["distributions"].values()) + sum(
        1 for d in report["distributions"].values() if (d.get("dup_clusters") or {}).get("counts"))  # dedup clusters
    assert values["threshold_lines"] == sum(len(s["thresholds"]) for d in report["distributions"].values()
                                            for s in d["scores"] if s["counts"])
    assert values["known_rows"] == 6
    # the script ran and reproduces the Python planner's figures exactly
    assert values["planner_state"] == "computed"
    outputs = values["outputs"]
    for key, text in _expected_outputs(report).items():
        assert outputs[key] == text, key
    # markup inside documents stayed text
    assert values["scripts"] == 2 and values["bold_in_samples"] == 0
    assert any(KEPT_MARKUP in text and "</div>" in text for text in values["kept_texts"])


def test_planner_form_follows_its_inputs(report_run, chromium):
    url = (report_run / "report" / "report.html").as_uri()

    def set_input(name: str, value: str) -> str:
        return (f"(() => {{ const f = document.getElementById('plan-form'); f.elements['{name}'].value = '{value}'; "
                "f.dispatchEvent(new Event('input')); })()")

    visit = chromium.visit(url, {"outputs": PAGE_QUERIES["outputs"]},
                           actions=[set_input("mfu", "0.2"), set_input("tokens", "1.4T"), set_input("gpu", "a100"),
                                    set_input("price", "1.5"), set_input("params", "7B"), set_input("budget", "1000000")])
    assert visit.errors == []
    outputs = visit.values["outputs"]
    # hand calculation: D = 1.4e12, N = D / 20 = 70e9, 6 N D = 5.88e23 FLOPs; A100 312e12 x 0.2
    hours = 5.88e23 / (312e12 * 0.2) / 3600  # 2,617,521 GPU-hours
    assert outputs["out-params"] == "70.0B" and outputs["out-flops"] == "5.88e+23"
    assert outputs["out-hours"] == "2.6M" and outputs["out-cost"] == format_usd(hours * 1.5) == "$3.9M"
    assert outputs["out-given"].startswith("7.0B parameters on these tokens: 5.88e+22 FLOPs")
    # $1M at $1.5/h = 666,667 GPU-hours = 666,667 x 3600 x 62.4e12 = 1.50e+23 FLOPs; N = sqrt(C / 120) = 35.3B
    assert outputs["out-budget"] == ("$1.0M = 667k GPU-hours = 1.50e+23 FLOPs: N 35.3B, D 707B tokens = "
                                     "0.50 epochs of this corpus")


def test_the_browser_check_sees_requests_and_the_policy_blocks_them(tmp_path, chromium, report_run):
    """Controls for the checks above: a plain page's external image is seen as a request (and not
    blocked); with the report's Content-Security-Policy the same image is blocked by the policy before
    it leaves, and the refusal is a console error."""
    policy = re.search(r'(<meta http-equiv="Content-Security-Policy" content="[^"]+">)', _html(report_run)).group(1)
    image = '<img src="http://127.0.0.9:9/pixel.png" alt="">'
    plain = tmp_path / "plain.html"
    plain.write_text(f"<!doctype html><html><head></head><body>{image}</body></html>")
    guarded = tmp_path / "guarded.html"
    guarded.write_text(f"<!doctype html><html><head>{policy}</head><body>{image}</body></html>")

    pixel = "http://127.0.0.9:9/pixel.png"
    seen = chromium.visit(plain.as_uri())
    assert seen.requests == [plain.as_uri(), pixel] and pixel not in seen.blocked
    refused = chromium.visit(guarded.as_uri())
    assert refused.requests == [guarded.as_uri(), pixel] and refused.blocked == {pixel: "csp"}
    assert any("Content Security Policy" in error for error in refused.errors)


@pytest.mark.shared_data
@pytest.mark.slow
def test_full_mixture_report_renders(shared_data, tmp_path_factory, chromium, artifacts_dir):
    """The full-mixture recipe (web, Wikipedia, code, books, papers from ../shared/data) built and its report
    rendered; the screenshot is kept as report-full-mixture.png."""
    from rich.console import Console

    from pipelines.build import build
    from pipelines.recipe import load_recipe

    recipe = Path(__file__).resolve().parents[3] / "recipes" / "full-mixture.yaml"
    run = tmp_path_factory.mktemp("full-mixture") / "run"
    build(load_recipe(recipe, run_dir=str(run)), console=Console(file=open("/dev/null", "w")), show_progress=False)
    url = (run / "report" / "report.html").as_uri()
    visit = chromium.visit(url, PAGE_QUERIES, screenshot=True)
    (artifacts_dir / "report-full-mixture.png").write_bytes(visit.screenshot)
    assert visit.errors == [] and visit.requests == [url]
    assert visit.values["mixture_rows"] == ["books", "code", "papers", "web", "wiki"]
    assert visit.values["planner_state"] == "computed"
