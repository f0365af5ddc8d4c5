"""The page's one stylesheet and one script, inlined; the CSP allows exactly these by hash.

The script opens a sample group a funnel link points to, and runs the planner's form: it recomputes with the same rules as pipelines/report/planner.py
(D = 20 N, 6 N D FLOPs, peak x MFU, Kaplan's and Hoffmann's L(N, D)) and formats numbers as
`format_count` / `format_usd` / `format_flops` do, so on load it reproduces the figures the page was
written with (the browser test checks that) and then follows the inputs.
"""
from __future__ import annotations

import base64
import hashlib

STYLE = """
:root { --fg: #1d2733; --muted: #5b6673; --line: #d9dee4; --bg: #ffffff; --band: #f4f6f8; --bad: #b42318; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       background: var(--bg); margin: 0; }
header { background: #1d2733; color: #fff; padding: 16px 28px; }
header h1 { margin: 0 0 4px; font-size: 20px; }
header .meta { color: #c9d1da; font-size: 13px; }
header .status-partial { color: #ffd27a; font-weight: 600; }
header .status-finished { color: #9be39b; font-weight: 600; }
nav { position: sticky; top: 0; background: var(--band); border-bottom: 1px solid var(--line); padding: 6px 28px;
      z-index: 1; }
nav a { margin-right: 16px; color: var(--fg); text-decoration: none; font-weight: 600; }
main { padding: 8px 28px 40px; max-width: 1280px; }
section { border-bottom: 1px solid var(--line); padding: 12px 0 20px; }
section.pending { color: var(--muted); }
h2 { font-size: 18px; margin: 8px 0; }
h3 { font-size: 15px; margin: 14px 0 6px; }
h4 { font-size: 13px; margin: 10px 0 4px; }
p.note, .note { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 10px 3px 0; text-align: right; vertical-align: top; }
th:first-child, td:first-child, td.text, th.text { text-align: left; }
th { color: var(--muted); font-weight: 600; }
td.est { color: var(--muted); }
.charts { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
.chart text, .hist text { font: 12px system-ui, sans-serif; fill: var(--fg); }
.chart text.small, .hist text.small { font-size: 10px; fill: var(--muted); }
.chart text.chart-title, .hist text.chart-title { font-weight: 600; fill: var(--fg); }
.hist text.threshold { fill: var(--bad); }
.chart text.ours { font-weight: 700; fill: var(--bad); }
.legend { margin: 4px 0; }
.legend .key { margin-right: 14px; font-size: 12px; }
.legend svg { vertical-align: -1px; margin-right: 4px; }
.grid { display: flex; flex-wrap: wrap; gap: 10px; }
details { margin: 6px 0 10px; }
summary { cursor: pointer; font-weight: 600; }
.doc { border: 1px solid var(--line); border-radius: 4px; margin: 6px 0; padding: 6px 10px; background: #fbfcfd; }
.doc .head { font-size: 12px; color: var(--muted); word-break: break-all; }
.doc pre { white-space: pre-wrap; word-break: break-word; margin: 6px 0 0; font: 12px/1.4 ui-monospace, Menlo,
           Consolas, monospace; max-height: 240px; overflow: auto; }
.warn { color: var(--bad); }
ul.warnings li { margin: 2px 0; }
form.plan { display: grid; grid-template-columns: repeat(3, minmax(220px, 1fr)); gap: 6px 18px; margin: 8px 0;
            max-width: 900px; }
form.plan label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
form.plan input, form.plan select { font: inherit; padding: 3px 6px; }
output { font-weight: 600; }
.cite { font-size: 12px; color: var(--muted); }
"""

SCRIPT = r"""
(function () {
  "use strict";
  // A link to a sample group (a closed <details>) opens it.
  function reveal() {
    var target = location.hash ? document.getElementById(decodeURIComponent(location.hash.slice(1))) : null;
    if (target && target.tagName === "DETAILS") { target.open = true; target.scrollIntoView(); }
  }
  window.addEventListener("hashchange", reveal);
  reveal();
  var blob = document.getElementById("planner-data");
  if (!blob) { return; }
  var data = JSON.parse(blob.textContent);
  var K = data.kaplan, H = data.hoffmann;
  function sci(v) { return v.toExponential(2).replace(/e([+-])(\d)$/, "e$10$2"); }
  function fmtCount(v) {
    if (v === null || v === undefined || !isFinite(v)) { return "n/a"; }
    var units = [["T", 1e12], ["B", 1e9], ["M", 1e6], ["k", 1e3]];
    for (var i = 0; i < units.length; i++) {
      if (Math.abs(v) >= units[i][1]) {
        var x = v / units[i][1];
        return Math.abs(x) < 100 ? x.toFixed(1) + units[i][0] : Math.round(x).toLocaleString("en-US") + units[i][0];
      }
    }
    return (v !== 0 && Math.abs(v) < 0.01) ? sci(v) : String(Number(v.toPrecision(3)));
  }
  function fmtUsd(v) { return (v === null || !isFinite(v)) ? "n/a" : "$" + fmtCount(v); }
  function fmtLoss(v) { return isFinite(v) ? v.toFixed(3) : "n/a"; }
  function parseCount(text) {
    var m = String(text).trim().replace(/[_,]/g, "").match(/^([0-9.]+(?:e[+-]?[0-9]+)?)\s*([kmbgtp]?)$/i);
    if (!m) { return NaN; }
    var mult = {"": 1, k: 1e3, m: 1e6, b: 1e9, g: 1e9, t: 1e12, p: 1e15}[m[2].toLowerCase()];
    return parseFloat(m[1]) * mult;
  }
  function kaplan(n, d) { return Math.pow(Math.pow(K.n_c / n, K.alpha_n / K.alpha_d) + K.d_c / d, K.alpha_d); }
  function hoffmann(n, d) { return H.e + H.a / Math.pow(n, H.alpha) + H.b / Math.pow(d, H.beta); }
  function put(id, text) { var el = document.getElementById(id); if (el) { el.textContent = text; } }
  var form = document.getElementById("plan-form");
  function recompute() {
    var tokens = parseCount(form.elements.tokens.value);
    var gpu = data.accelerators[form.elements.gpu.value];
    var mfu = parseFloat(form.elements.mfu.value);
    var price = parseFloat(form.elements.price.value);
    var sustained = gpu.peak_flops * mfu;
    var hours = function (flops) { return flops / sustained / 3600; };
    var cost = function (h) { return isFinite(price) ? h * price : null; };
    var ok = isFinite(tokens) && tokens > 0 && mfu > 0 && mfu <= 1;
    put("plan-error", ok ? "" : "give a token count like 1.4T and an MFU between 0 and 1");
    if (!ok) { return; }
    var n = tokens / data.tokens_per_param, flops = 6 * n * tokens, h = hours(flops);
    put("out-params", fmtCount(n)); put("out-flops", sci(flops)); put("out-hours", fmtCount(h));
    put("out-cost", fmtUsd(cost(h))); put("out-kaplan", fmtLoss(kaplan(n, tokens)));
    put("out-hoffmann", fmtLoss(hoffmann(n, tokens))); put("out-sustained", fmtCount(sustained));
    var given = parseCount(form.elements.params.value);
    if (isFinite(given) && given > 0) {
      var gf = 6 * given * tokens, gh = hours(gf);
      put("out-given", fmtCount(given) + " parameters on these tokens: " + sci(gf) + " FLOPs, " + fmtCount(gh) +
          " GPU-hours, " + fmtUsd(cost(gh)) + "; compute-optimal it would want " +
          fmtCount(data.tokens_per_param * given) + " tokens = " +
          (data.tokens_per_param * given / tokens).toFixed(2) + " epochs of this corpus");
    } else { put("out-given", "-"); }
    var budget = parseFloat(form.elements.budget.value);
    if (isFinite(budget) && budget > 0 && isFinite(price) && price > 0) {
      var bh = budget / price, bf = bh * 3600 * sustained, bn = Math.sqrt(bf / (6 * data.tokens_per_param));
      var bd = data.tokens_per_param * bn;
      put("out-budget", fmtUsd(budget) + " = " + fmtCount(bh) + " GPU-hours = " + sci(bf) + " FLOPs: N " +
          fmtCount(bn) + ", D " + fmtCount(bd) + " tokens = " + (bd / tokens).toFixed(2) + " epochs of this corpus");
    } else { put("out-budget", "-"); }
    document.body.setAttribute("data-planner", "computed");
  }
  form.addEventListener("input", recompute);
  form.addEventListener("submit", function (event) { event.preventDefault(); recompute(); });
  recompute();
})();
"""


def csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def content_security_policy() -> str:
    """Nothing may be fetched: no network, no files, no frames; only this style and script run."""
    return (f"default-src 'none'; style-src {csp_hash(STYLE)}; script-src {csp_hash(SCRIPT)}; "
            "img-src data:; base-uri 'none'; form-action 'none'")
