"""report.html: one self-contained page (inline CSS, SVG and script, nothing fetched).

Every value from the run is escaped (`esc`): a document holding `<script>` or `</div>` shows as
that text. A section whose stage has no output yet says which stage it waits for.
"""
from __future__ import annotations

import json

from pipelines.report.charts import colours, esc, legend, paired_bars, stacked_bars
from pipelines.report.html_sections import (distributions_html, planner_html, sample_anchor, samples_html,
                                             scale_html)
from pipelines.report.page_script import SCRIPT, STYLE, content_security_policy
from pipelines.report.planner import format_count

STEP_LABELS = {"extracted": "extracted", "filtered": "after filter", "deduplicated": "after dedup",
               "tokenized": "tokenized", "mixture_train": "mixture: train", "mixture_val": "mixture: val"}
SECTIONS = (("funnel", "Funnel"), ("mixture", "Mixture"), ("distributions", "Distributions"),
            ("samples", "Samples"), ("scale", "Known scale"), ("planner", "Planner"))
WAITS_FOR = {"funnel": "the extract stage", "mixture": "the mix stage (shards/manifest.json)",
             "distributions": "the extract stage", "samples": "the filter stage",
             "scale": "token counts (tokenize, or characters after filter)", "planner": "token counts"}


def _num(value, estimated: bool = False) -> str:
    if value is None:
        return "-"
    return ("≈" if estimated else "") + f"{value:,}"


def _reasons_table(rows: list[tuple[str, dict]], sampled: set[str]) -> str:
    if not rows:
        return ""
    body = []
    for source, item in rows:
        reason = esc(item["reason"])
        if f'{item["stage"]}:{item["reason"]}' in sampled:
            reason = f'<a href="#{sample_anchor(item["stage"], item["reason"])}">{reason}</a>'
        body.append(f'<tr><td>{esc(source)}</td><td class="text">{esc(item["stage"])}</td>'
                    f'<td class="text">{reason}</td><td>{_num(item["num_docs"])}</td><td>{_num(item["num_chars"])}</td>'
                    f'<td class="est">{_num(item["num_tokens_estimated"], True)}</td></tr>')
    return ('<table class="reasons"><thead><tr><th class="text">source</th><th class="text">stage</th>'
            '<th class="text">reason</th><th>documents</th><th>characters</th><th>tokens</th></tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def funnel_html(funnel: dict, names: list[str], palette: dict, samples: dict | None) -> str:
    steps = funnel["steps"]
    charts = []
    for metric, title in (("num_docs", "documents"), ("num_chars", "characters"), ("num_tokens", "tokens")):
        rows = []
        for step in steps:
            values = {}
            for source in names:
                entry = next((s for s in funnel["sources"].get(source, {}).get("steps", []) if s["step"] == step), None)
                if entry is not None:
                    values[source] = entry[metric]
            if any(v is not None for v in values.values()):
                estimated = metric == "num_tokens" and any(
                    s["tokens_estimated"] for src in funnel["sources"].values() for s in src["steps"] if s["step"] == step)
                rows.append((("≈ " if estimated else "") + STEP_LABELS[step], values))
        if rows:
            charts.append(stacked_bars(title, rows, palette))
    out = [legend(names, palette), f'<div class="charts">{"".join(charts)}</div>',
           '<p class="note">≈: tokens estimated as characters × the source\'s tokens per character measured at '
           'tokenize (removed text may tokenize differently). Mixture rows count document copies drawn '
           '(upsampled sources repeat documents).</p>']
    head = "".join(f"<th>{esc(STEP_LABELS[s])}</th>" for s in steps)
    for metric, title in (("num_docs", "Documents"), ("num_chars", "Characters"), ("num_tokens", "Tokens")):
        body = []
        for source in names + ["total"]:
            if source == "total":
                entries = {t["step"]: t for t in funnel["totals"]}
            else:
                entries = {s["step"]: s for s in funnel["sources"].get(source, {}).get("steps", [])}
            cells = "".join(
                f'<td{" class=est" if metric == "num_tokens" and entries.get(s, {}).get("tokens_estimated") else ""}>'
                f'{_num(entries.get(s, {}).get(metric), metric == "num_tokens" and entries.get(s, {}).get("tokens_estimated", False))}</td>'
                for s in steps)
            label = f"<b>{esc(source)}</b>" if source == "total" else esc(source)
            body.append(f"<tr><td>{label}</td>{cells}</tr>")
        out.append(f'<h3>{title}</h3><table class="funnel-table" data-metric="{metric}"><thead><tr>'
                   f'<th class="text">source</th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')
    sampled = set((samples or {}).get("removed", {}))
    removed = [(source, item) for source in names for item in funnel["sources"].get(source, {}).get("removed", [])]
    dropped = _reasons_table([r for r in removed if r[1]["stage"] != "extract"], sampled)
    skipped = _reasons_table([r for r in removed if r[1]["stage"] == "extract"], sampled)
    if dropped:
        out.append('<h3>Removed, per reason</h3><p class="note">Documents the filter (and dedup) removed; a '
                   'reason links to its samples.</p>' + dropped)
    if skipped:
        out.append('<details class="skipped"><summary>Skipped at extract, per reason (input records that never '
                   f'became documents: requests, redirects, non-HTML, namespaces...)</summary>{skipped}</details>')
    status = funnel.get("stage_status", {})
    partial = [f"{esc(stage)} ({s['num_tasks_done']} tasks so far)" for stage, s in status.items() if not s["complete"]]
    if partial:
        out.append(f'<p class="warn">Partial: {", ".join(partial)}; the build is running or was interrupted.</p>')
    return "".join(out)


def mixture_html(mixture: dict, palette: dict) -> str:
    names = list(mixture["sources"])
    target = {n: e["target_weight"] for n, e in mixture["sources"].items()}
    achieved = {n: e["achieved_weight"] for n, e in mixture["sources"].items()}
    shard_rows = [(f'{s["split"]} {s["path"].rsplit("/", 1)[-1].removesuffix(".arrow")}', s["tokens_per_source"])
                  for s in mixture["shards"]]
    out = ['<div class="charts">', paired_bars("token weight: target (light) vs achieved", names, target, achieved,
                                                ("target", "achieved"), palette)]
    if shard_rows:
        out.append(stacked_bars("tokens per shard", shard_rows, palette, width=520, label_width=140))
    out.append("</div>")
    rows = "".join(
        f'<tr><td>{esc(n)}</td><td>{e["available_tokens"]:,}</td><td>{e["target_weight"]:.1%}</td>'
        f'<td>{e["achieved_weight"]:.1%}</td><td>{e["planned_epochs"]:.3f}</td><td>{e["achieved_epochs"]:.3f}</td>'
        f'<td>{e["max_epochs"]:g}</td><td>{e["achieved_tokens"]:,}</td><td>{e["train_docs"]:,}</td>'
        f'<td>{e["val_docs"]:,}</td><td>{e["val_tokens"]:,}</td></tr>' for n, e in mixture["sources"].items())
    out.append('<table class="mixture"><thead><tr><th class="text">source</th><th>available tokens</th>'
               '<th>target weight</th><th>achieved weight</th><th>planned epochs</th><th>achieved epochs</th>'
               '<th>max epochs</th><th>train tokens</th><th>train docs</th><th>val docs</th><th>val tokens</th>'
               f'</tr></thead><tbody>{rows}</tbody></table>')
    splits = mixture["splits"]
    out.append('<h3>Train / val</h3><table class="splits"><thead><tr><th class="text">split</th><th>documents</th>'
               '<th>tokens</th></tr></thead><tbody>' + "".join(
                   f'<tr><td>{esc(k)}</td><td>{v["num_docs"]:,}</td><td>{v["num_tokens"]:,}</td></tr>'
                   for k, v in splits.items()) + "</tbody></table>")
    out.append('<h3>Shards</h3><table class="shards"><thead><tr><th class="text">shard</th><th>documents</th>'
               '<th>tokens</th>' + "".join(f"<th>{esc(n)}</th>" for n in names) + "</tr></thead><tbody>" + "".join(
                   f'<tr><td>{esc(s["path"])}</td><td>{s["num_docs"]:,}</td><td>{s["num_tokens"]:,}</td>'
                   + "".join(f'<td>{s["tokens_per_source"].get(n, 0):,}</td>' for n in names) + "</tr>"
                   for s in mixture["shards"]) + "</tbody></table>")
    budget = (f'budget: {format_count(mixture["planned_total_tokens"])} tokens planned'
              f'{", requested " + format_count(mixture["requested_total_tokens"]) if mixture["requested_total_tokens"] else " (the largest that meets every weight)"}'
              f'; limited by {", ".join(mixture["limited_by"]) or "nothing"}')
    out.append(f'<p class="note">{esc(budget)}</p>')
    warnings = "".join(f'<li class="warn">{esc(w)}</li>' for w in mixture["warnings"]) or "<li>none</li>"
    out.append(f'<h3>Mixture warnings</h3><ul class="warnings">{warnings}</ul>')
    if mixture["observations"]:
        notes = "".join(f"<li>{esc(w)}</li>" for w in mixture["observations"])
        out.append(f'<h3>Observations (the report\'s)</h3><ul class="observations">{notes}</ul>')
    return "".join(out)


def _largest_reasons(funnel: dict | None, count: int = 2) -> list[str]:
    """`stage:reason` keys of the reasons that removed the most documents (their samples start open)."""
    totals: dict[str, int] = {}
    for entry in (funnel or {}).get("sources", {}).values():
        for item in entry["removed"]:
            if item["stage"] != "extract":
                key = f'{item["stage"]}:{item["reason"]}'
                totals[key] = totals.get(key, 0) + item["num_docs"]
    return sorted(totals, key=lambda k: (-totals[k], k))[:count]


def _section(key: str, title: str, body: str | None) -> str:
    if body is None:
        return (f'<section id="{key}" class="pending" data-state="pending"><h2>{esc(title)}</h2>'
                f'<p>Appears once {esc(WAITS_FOR[key])} has output.</p></section>')
    return f'<section id="{key}" data-state="filled"><h2>{esc(title)}</h2>{body}</section>'


def render_page(report: dict) -> str:
    names = [s["name"] for s in report["sources"]]
    palette = colours(names)
    bodies = {
        "funnel": funnel_html(report["funnel"], names, palette, report["samples"]) if report["funnel"] else None,
        "mixture": mixture_html(report["mixture"], palette) if report["mixture"] else None,
        "distributions": distributions_html(report["distributions"]) if report["distributions"] else None,
        "samples": samples_html(report["samples"], _largest_reasons(report["funnel"])) if report["samples"] else None,
        "scale": scale_html(report["scale"]) if report["scale"] else None,
        "planner": planner_html(report["planner"], report["scale"]) if report["planner"] else None,
    }
    status = report["status"]
    state = ('<span class="status-finished">finished</span>' if status["finished"] else
             '<span class="status-partial">partial: a build is running or was interrupted</span>')
    # dedup's phases (dedup.signature, ...) are stages of their own; the header names the main ones
    stages = ", ".join(f'{esc(k)} {v["num_tasks_done"]}' for k, v in status["stages"].items() if "." not in k)
    planner_data = f"<script>{SCRIPT}</script>"
    if report["planner"]:
        from pipelines.report.planner import HOFFMANN, KAPLAN, TOKENS_PER_PARAM

        blob = {"accelerators": {a["key"]: a for a in report["planner"]["accelerators"]},
                "kaplan": KAPLAN, "hoffmann": HOFFMANN, "tokens_per_param": TOKENS_PER_PARAM}
        # "<" escaped: the data block can never close its <script> element, whatever a name holds
        planner_data = ('<script type="application/json" id="planner-data">'
                        + json.dumps(blob).replace("<", "\\u003c") + "</script>" + planner_data)
    nav = "".join(f'<a href="#{k}">{esc(t)}</a>' for k, t in SECTIONS)
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{content_security_policy()}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>corpusmill report: {esc(report['run_dir'])}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>corpusmill report</h1><div class=\"meta\">{esc(report['run_dir'])} · {state} · "
        f"generated {esc(report['generated'])} · tasks done: {stages}</div></header><nav>{nav}</nav><main>"
        + "".join(_section(k, t, bodies[k]) for k, t in SECTIONS)
        + f"</main>{planner_data}</body></html>\n"
    )
