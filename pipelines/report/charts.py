"""Inline SVG charts, drawn here so the page needs no chart library and fetches nothing.

Every label goes through `esc` (text is data); colours are SVG presentation attributes, never
`style=""` attributes, which the page's Content-Security-Policy would refuse.
"""
from __future__ import annotations

import html
import math

from pipelines.report.planner import format_count

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac")
THRESHOLD_COLOUR = "#d62728"


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def colours(names: list[str]) -> dict[str, str]:
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def legend(names: list[str], palette: dict[str, str]) -> str:
    items = "".join(
        f'<span class="key"><svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" '
        f'fill="{palette[n]}"/></svg>{esc(n)}</span>' for n in names)
    return f'<div class="legend">{items}</div>'


def stacked_bars(title: str, rows: list[tuple[str, dict[str, float | None]]], palette: dict[str, str],
                 width: int = 420, bar_height: int = 18, label_width: int = 120) -> str:
    """Horizontal bars, one per row, split by source; the row total printed at the bar's end."""
    known = [sum(v for v in values.values() if v) for _, values in rows]
    top = max(known, default=0) or 1
    plot = width - label_width - 60
    height = 24 + len(rows) * (bar_height + 8)
    parts = [f'<svg class="chart" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
             f'<title>{esc(title)}</title><text x="0" y="14" class="chart-title">{esc(title)}</text>']
    for i, (label, values) in enumerate(rows):
        y = 24 + i * (bar_height + 8)
        parts.append(f'<text x="{label_width - 6}" y="{y + bar_height - 5}" text-anchor="end">{esc(label)}</text>')
        x = float(label_width)
        for name, value in values.items():
            if not value:
                continue
            w = plot * value / top
            parts.append(f'<rect x="{x:.2f}" y="{y}" width="{max(w, 0.5):.2f}" height="{bar_height}" '
                         f'fill="{palette.get(name, "#999")}"><title>{esc(name)}: {value:,.0f}</title></rect>')
            x += w
        total = sum(v for v in values.values() if v)
        unknown = any(v is None for v in values.values())
        parts.append(f'<text x="{x + 4:.2f}" y="{y + bar_height - 5}">{format_count(total)}'
                     f'{" (partial)" if unknown else ""}</text>')
    parts.append("</svg>")
    return "".join(parts)


def paired_bars(title: str, names: list[str], first: dict[str, float], second: dict[str, float],
                labels: tuple[str, str], palette: dict[str, str], width: int = 480) -> str:
    """Per source two bars (e.g. target and achieved weight), values in [0, 1] shown as percent."""
    label_width, bar_height = 90, 12
    plot = width - label_width - 120  # room for the "achieved 49.7%" label after the longest bar
    top = max([*first.values(), *second.values(), 1e-12])
    height = 24 + len(names) * (2 * bar_height + 12) + 16
    parts = [f'<svg class="chart" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
             f'<title>{esc(title)}</title><text x="0" y="14" class="chart-title">{esc(title)}</text>']
    for i, name in enumerate(names):
        y = 24 + i * (2 * bar_height + 12)
        parts.append(f'<text x="{label_width - 6}" y="{y + bar_height + 4}" text-anchor="end">{esc(name)}</text>')
        for j, (values, opacity) in enumerate(((first, "0.45"), (second, "1"))):
            value = values.get(name, 0.0)
            w = plot * value / top
            yy = y + j * bar_height
            parts.append(f'<rect x="{label_width}" y="{yy}" width="{max(w, 0.5):.2f}" height="{bar_height - 1}" '
                         f'fill="{palette.get(name, "#999")}" fill-opacity="{opacity}"><title>{esc(name)} '
                         f'{esc(labels[j])}: {value:.2%}</title></rect>'
                         f'<text x="{label_width + w + 4:.2f}" y="{yy + bar_height - 2}" class="small">'
                         f'{esc(labels[j])} {value:.1%}</text>')
    parts.append("</svg>")
    return "".join(parts)


def histogram_svg(title: str, edges: list[float], counts: list[int], thresholds: list[dict] = (),
                  width: int = 260, height: int = 130, log_x: bool = False, subtitle: str = "") -> str:
    """Bars of equal width per bin; threshold lines placed by interpolation inside their bin."""
    top_y, margin_left = 32 if subtitle else 20, 4
    plot_h, plot_w = height - top_y - 16, width - margin_left - 4
    n = max(len(counts), 1)
    top = max(counts, default=0) or 1
    parts = [f'<svg class="hist" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
             f'<title>{esc(title)} {esc(subtitle)}</title><text x="0" y="11" class="chart-title small">{esc(title)}</text>']
    if subtitle:
        parts.append(f'<text x="0" y="24" class="small">{esc(subtitle)}</text>')
    for i, count in enumerate(counts):
        h = plot_h * count / top
        x = margin_left + i * plot_w / n
        parts.append(f'<rect x="{x:.2f}" y="{top_y + plot_h - h:.2f}" width="{max(plot_w / n - 1, 0.5):.2f}" '
                     f'height="{h:.2f}" fill="#4e79a7"><title>[{edges[i]:.4g}, {edges[i + 1]:.4g}): '
                     f'{count:,}</title></rect>')
    if edges:
        base = top_y + plot_h + 12
        parts.append(f'<text x="{margin_left}" y="{base}" class="small">{edges[0]:.4g}</text>'
                     f'<text x="{width - 4}" y="{base}" class="small" text-anchor="end">{edges[-1]:.4g}'
                     f'{" (log2 bins)" if log_x else ""}</text>')
        for k, rule in enumerate(thresholds):
            position = _position(edges, rule["limit"])
            x = margin_left + plot_w * position
            label = f'{"drop < " if rule["drop_when"] == "below" else "drop > "}{rule["limit"]:g}'
            anchor = 'text-anchor="end" ' if position > 0.6 else ""
            parts.append(f'<line x1="{x:.2f}" x2="{x:.2f}" y1="{top_y - 2}" y2="{top_y + plot_h}" '
                         f'stroke="{THRESHOLD_COLOUR}" stroke-width="2" stroke-dasharray="4 2"/>'
                         f'<text x="{x - 3 if position > 0.6 else x + 3:.2f}" y="{top_y + 9 + 11 * k}" {anchor}'
                         f'class="small threshold">{esc(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _position(edges: list[float], value: float) -> float:
    """Where `value` falls on an axis of len(edges)-1 equal-width bins, as a fraction in [0, 1]."""
    n = len(edges) - 1
    if value <= edges[0]:
        return 0.0
    for i in range(n):
        if edges[i] <= value <= edges[i + 1]:
            span = edges[i + 1] - edges[i]
            return (i + ((value - edges[i]) / span if span else 0.0)) / n
    return 1.0


def log_bars(title: str, rows: list[tuple[str, float, bool]], width: int = 560) -> str:
    """Horizontal bars on a log10 axis (token counts from thousands to trillions); `True` marks ours."""
    label_width, bar_height = 120, 18
    plot = width - label_width - 70
    values = [v for _, v, _ in rows if v > 0]
    low = math.floor(math.log10(min(values))) if values else 0
    high = math.ceil(math.log10(max(values))) if values else 1
    span = max(high - low, 1)
    height = 30 + len(rows) * (bar_height + 8) + 16
    parts = [f'<svg class="chart" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
             f'<title>{esc(title)}</title><text x="0" y="14" class="chart-title">{esc(title)}</text>']
    for i, (label, value, ours) in enumerate(rows):
        y = 26 + i * (bar_height + 8)
        w = plot * (math.log10(value) - low) / span if value > 0 else 0
        label_class = ' class="ours"' if ours else ""
        parts.append(f'<text x="{label_width - 6}" y="{y + bar_height - 5}" text-anchor="end"'
                     f'{label_class}>{esc(label)}</text>'
                     f'<rect x="{label_width}" y="{y}" width="{max(w, 1):.2f}" height="{bar_height}" '
                     f'fill="{"#e15759" if ours else "#4e79a7"}"/>'
                     f'<text x="{label_width + w + 4:.2f}" y="{y + bar_height - 5}">{format_count(value)}</text>')
    axis_y = 26 + len(rows) * (bar_height + 8) + 10
    for k in range(span + 1):
        x = label_width + plot * k / span
        parts.append(f'<text x="{x:.2f}" y="{axis_y}" class="small" text-anchor="middle">1e{low + k}</text>')
    parts.append("</svg>")
    return "".join(parts)
