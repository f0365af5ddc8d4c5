"""The page's distributions, samples, known-scale and planner sections (HTML strings)."""
from __future__ import annotations

from pipelines.report.charts import esc, histogram_svg, log_bars
from pipelines.report.planner import format_count, format_flops, format_usd


def sample_anchor(stage: str, reason: str) -> str:
    """The id of a reason's sample group (reasons like error:Type hold a colon)."""
    return f"sample-{stage}-{reason}".replace(":", "-")


def _is_log(edges: list[float]) -> bool:
    return len(edges) > 3 and edges[0] == 0 and edges[1] == 1 and edges[2] == 2 and edges[3] == 4


def _languages_table(languages: dict) -> str:
    kept = dict(languages["kept"])
    rows = "".join(f'<tr><td>{esc(lang)}</td><td>{count:,}</td><td>{kept.get(lang, 0):,}</td></tr>'
                   for lang, count in languages["all"])
    return (f'<table class="languages"><thead><tr><th class="text">{esc(languages["column"])}</th>'
            f'<th>seen by the filter</th><th>kept ({esc(languages["kept_stage"])})</th></tr></thead>'
            f'<tbody>{rows}</tbody></table>')


def distributions_html(distributions: dict) -> str:
    out = []
    for source, entry in distributions.items():
        parts = []
        length = entry["length"]
        if length:
            parts.append(histogram_svg(f"document length ({length['unit']})", length["edges"], length["counts"],
                                       width=420, height=150, log_x=_is_log(length["edges"]),
                                       subtitle=f"{length['num_docs']:,} documents, median {length['median']:,.0f}, "
                                                f"mean {length['mean']:,.0f}"))
        clusters = entry["dup_clusters"]
        if clusters:
            title = "duplicate cluster sizes (kept documents' clusters)"
            subtitle = (f"{clusters['num_clusters']:,} clusters of 2 or more, {clusters['num_docs_in_clusters']:,} "
                        f"documents, largest {clusters['largest']:,}")
            parts.append(histogram_svg(title, clusters["edges"], clusters["counts"], width=420, height=150,
                                       log_x=_is_log(clusters["edges"]), subtitle=subtitle) if clusters["counts"]
                         else f'<p class="note">{esc(title)}: {esc(subtitle)}</p>')
        if entry["languages"]:
            parts.append('<div><h4>Top languages</h4>' + _languages_table(entry["languages"]) + "</div>")
        body = f'<div class="charts">{"".join(parts)}</div>'
        if entry["scores"]:
            cells = []
            for score in entry["scores"]:
                subtitle = f"{score['num_docs']:,} scored" + (
                    f", {score['num_missing']:,} not (left at an earlier rule)" if score["num_missing"] else "")
                cells.append(histogram_svg(score["column"], score["edges"], score["counts"], score["thresholds"],
                                           log_x=_is_log(score["edges"]), subtitle=subtitle))
            notes = sorted({t["note"] for s in entry["scores"] for t in s["thresholds"] if t["note"]})
            body += ('<h4>Quality scores (every document the filter saw; dashed red: the limit)</h4>'
                     f'<div class="grid">{"".join(cells)}</div>'
                     + "".join(f'<p class="note">{esc(n)}</p>' for n in notes))
        out.append(f'<details open class="source" data-source="{esc(source)}"><summary>{esc(source)}</summary>'
                   f"{body}</details>")
    return "".join(out)


def _document(doc: dict) -> str:
    deciding = ", ".join(f"{esc(k)} = {esc(v)}" for k, v in doc["deciding"].items())
    cut = f" (first {len(doc['text']):,} of {doc['num_chars']:,} characters)" if doc["truncated"] else ""
    return (f'<div class="doc"><div class="head">{esc(doc["source"])} · {esc(doc["id"])} · '
            f'{esc(doc["location"] or "")}{esc(cut)}</div>'
            + (f'<div class="head">decided by {deciding}</div>' if deciding else "")
            + f'<pre>{esc(doc["text"])}</pre></div>')


def samples_html(samples: dict, open_keys: list[str] = ()) -> str:
    out = [f'<p class="note">Chosen by a seeded hash of the document id (seed {samples["seed"]}): '
           f'<code>corpusmill inspect RUN --reason REASON -n 3 --seed {samples["seed"]}</code> shows the same '
           f'documents with all their scores. Text cut to {samples["max_chars"]} characters.</p>']
    if samples["removed"]:
        out.append("<h3>Removed</h3>")
        for key, group in samples["removed"].items():
            anchor = sample_anchor(group["stage"], group["reason"])
            state = " open" if key in open_keys else ""
            out.append(f'<details id="{esc(anchor)}" class="removed"{state}><summary>{esc(group["stage"])}: '
                       f'{esc(group["reason"])} ({len(group["documents"])} shown)</summary>{"".join(_document(d) for d in group["documents"])}</details>')
    if samples["kept"]:
        out.append("<h3>Kept</h3>")
        for source, group in samples["kept"].items():
            out.append(f'<details class="kept"><summary>{esc(source)} (after {esc(group["stage"])})</summary>'
                       f'{"".join(_document(d) for d in group["documents"])}</details>')
    return "".join(out)


def scale_html(scale: dict) -> str:
    rows = [("this corpus", float(scale["corpus_tokens"]), True)]
    if scale["tokenized_tokens"] and scale["tokenized_tokens"] != scale["corpus_tokens"]:
        rows.append(("all tokenized", float(scale["tokenized_tokens"]), True))
    rows += [(r["name"], r["tokens"], False) for r in scale["references"]]
    rows.sort(key=lambda r: r[1])
    table = "".join(
        f'<tr><td>{esc(r["name"])}</td><td>{format_count(r["tokens"])}</td>'
        f'<td>{format_count(r["ratio"]) + "×" if r["ratio"] else "-"}</td><td class="text">{esc(r["note"])}</td>'
        f'<td class="text cite">{esc(r["source"])}</td></tr>' for r in scale["references"])
    return (log_bars("tokens (log scale)", rows)
            + f'<p>This corpus: <b>{scale["corpus_tokens"]:,}</b> tokens ({esc(scale["basis"])})'
            + (f'; every kept document once (tokenized, before the mixture): <b>{scale["tokenized_tokens"]:,}</b>'
               if scale["tokenized_tokens"] else "") + ".</p>"
            '<table class="scale"><thead><tr><th class="text">model</th><th>tokens</th><th>× this corpus</th>'
            f'<th class="text">what is counted</th><th class="text">source</th></tr></thead><tbody>{table}</tbody></table>')


def _costing_row(label: str, c: dict, price_known: bool) -> str:
    many = ' class="warn"' if c.get("many_epochs") else ""
    return (f'<tr><td>{esc(label)}</td><td>{format_count(c["params"])}</td><td>{format_count(c["tokens"])}</td>'
            f'<td{many}>{c["epochs"]:.2f}</td><td>{format_flops(c["flops"])}</td><td>{format_count(c["gpu_hours"])}</td>'
            f'<td>{format_usd(c["cost_usd"]) if price_known else "-"}</td><td>{c["kaplan_loss"]:.3f}</td>'
            f'<td>{c["hoffmann_loss"]:.3f}</td></tr>')


def _known_row(model: dict) -> str:
    trained = model["train_tokens"] is not None
    cells = [esc(model["name"]), format_count(model["params"]),
             format_count(model["train_tokens"]) if trained else "n/p",
             format_flops(model["flops"]) if trained else "n/p",
             f'{model["tokens_per_param"]:.1f}' if trained else "-"]
    return ("<tr>" + "".join(f"<td>{c}</td>" for c in cells)
            + f'<td class="text cite">{esc(model["source"] + ("" if trained else "; " + model["scale_note"]))}</td></tr>')


def planner_html(planner: dict, scale: dict | None) -> str:
    request, chin, gpu = planner["request"], planner["chinchilla"], planner["gpu"]
    price = request["price_per_hour"]
    options = "".join(f'<option value="{esc(a["key"])}"{" selected" if a["key"] == gpu["key"] else ""}>'
                      f'{esc(a["name"])}</option>' for a in planner["accelerators"])
    tokens_text = f'{int(request["tokens"]):,}'  # exact: the script recomputes from it
    form = (
        '<form id="plan-form" class="plan" autocomplete="off">'
        f'<label>tokens D<input name="tokens" value="{esc(tokens_text)}"></label>'
        f'<label>GPU<select name="gpu">{options}</select></label>'
        f'<label>MFU (fraction of peak)<input name="mfu" value="{request["mfu"]:g}"></label>'
        f'<label>price per GPU-hour ($)<input name="price" value="{price:g}"></label>'
        '<label>model parameters N (optional)<input name="params" placeholder="e.g. 7B"></label>'
        '<label>budget in $ (optional)<input name="budget" placeholder="e.g. 1000000"></label></form>'
        '<p id="plan-error" class="warn"></p>')
    results = (
        '<table class="plan-results"><tbody>'
        f'<tr><td>compute-optimal parameters N = D / 20</td><td><output id="out-params">{format_count(chin["params"])}</output></td></tr>'
        f'<tr><td>training FLOPs ≈ 6 N D</td><td><output id="out-flops">{format_flops(chin["flops"])}</output></td></tr>'
        f'<tr><td>sustained FLOP/s per GPU (peak × MFU)</td><td><output id="out-sustained">{format_count(planner["sustained_flops_per_gpu"])}</output></td></tr>'
        f'<tr><td>GPU-hours</td><td><output id="out-hours">{format_count(chin["gpu_hours"])}</output></td></tr>'
        f'<tr><td>cost</td><td><output id="out-cost">{format_usd(chin["cost_usd"])}</output></td></tr>'
        f'<tr><td>Kaplan et al. 2020 L(N, D), nats/token</td><td><output id="out-kaplan">{chin["kaplan_loss"]:.3f}</output></td></tr>'
        f'<tr><td>Hoffmann et al. 2022 L(N, D), nats/token</td><td><output id="out-hoffmann">{chin["hoffmann_loss"]:.3f}</output></td></tr>'
        '<tr><td>a given N on these tokens</td><td class="text"><output id="out-given">-</output></td></tr>'
        '<tr><td>what the budget buys (compute-optimal)</td><td class="text"><output id="out-budget">-</output></td></tr>'
        "</tbody></table>")
    assumed = (f'<p class="note">Defaults: {esc(gpu["name"])}, MFU {request["mfu"]:g}, ${price:g} per GPU-hour '
               '(an assumed price; change it above or use <code>corpusmill plan --price-per-hour</code>).</p>'
               if planner.get("price_is_assumed") else "")
    what_if = "".join(_costing_row(f"{format_count(r['params'])} params", r, price is not None)
                      for r in planner["what_if"])
    known = "".join(_known_row(m) for m in planner["known_models"])
    gpus = "".join(f'<tr><td>{esc(a["name"])}</td><td>{a["peak_flops"] / 1e12:,.1f}</td><td>{esc(a["dtype"])}</td>'
                   f'<td class="text cite">{esc(a["source"])}</td></tr>' for a in planner["accelerators"])
    rules = "".join(f"<li>{esc(text)}</li>" for text in planner["rules"].values())
    return (
        f'<p>For this corpus\'s <b>{format_count(request["tokens"])}</b> tokens. Chinchilla rule: a compute-optimal '
        'model trains on about 20 tokens per parameter, D ≈ 20 N (Hoffmann et al. 2022).</p>'
        + form + results + assumed
        + '<h3>What if: epochs of this corpus a model size needs (compute-optimal D = 20 N)</h3>'
          '<table class="what-if"><thead><tr><th class="text">model</th><th>N</th><th>D = 20 N</th><th>epochs</th>'
          '<th>FLOPs</th><th>GPU-hours</th><th>cost</th><th>Kaplan L</th><th>Hoffmann L</th></tr></thead>'
          f'<tbody>{what_if}</tbody></table><p class="note">Red epochs: more than ~4 passes, where repeated '
          'tokens lose most of their value (Muennighoff et al. 2023).</p>'
        + '<h3>Known models (FLOPs = 6 N D)</h3><table class="known"><thead><tr><th class="text">model</th>'
          '<th>N</th><th>D trained</th><th>FLOPs</th><th>tokens / param</th><th class="text">source</th></tr></thead>'
          f'<tbody>{known}</tbody></table>'
        + '<h3>Peak dense FLOP/s per GPU</h3><table class="gpus"><thead><tr><th class="text">GPU</th>'
          f'<th>TFLOP/s</th><th>dtype</th><th class="text">source</th></tr></thead><tbody>{gpus}</tbody></table>'
        + f'<h3>Rules and sources</h3><ul class="cite">{rules}</ul>'
    )
