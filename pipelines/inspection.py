"""`corpusmill inspect`: sampled documents of a run with the scores that decided their fate.

    inspect_run("run/", reason="gopher_short_doc")   # removed for that reason (filter/rejects/...)
    inspect_run("run/", kept=True, n=3)              # kept documents (filter/<source>/...)
    inspect_run("run/")                              # overview: kept per source, removed per reason

Samples are chosen by a hash of (seed, document id): the same documents for the same seed,
whatever the file layout. Returns the rendered text (rich); pass `console` to also print it there
with colours.
"""
from __future__ import annotations

import io
import re
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
from rich.columns import Columns
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from pipelines.filters.registry import FILTERS

MAX_TEXT_CHARS = 600
_BLANK_LINES = re.compile(r"\n\s*\n(\s*\n)+")
_NOT_SCORES = {"id", "source", "text", "url", "path", "meta", "drop_reason"}


def deciding_columns(reason: str | None) -> list[str]:
    """The score columns a drop reason was decided on (empty for kept documents), as the filter
    that owns the reason says (`Filter.deciding_columns`)."""
    if reason is None:
        return []
    if reason.startswith("error:"):
        return ["annotate_error"]
    for unit in FILTERS:
        columns = unit.deciding_columns(reason)
        if columns is not None:
            return columns
    return [reason]


def _list_dirs(fs, path: str) -> list[str]:
    if not fs.isdir(path):
        return []
    return sorted(entry.rstrip("/").rsplit("/", 1)[-1] for entry in fs.ls(path, detail=False) if fs.isdir(entry))


def _read_parts(fs, directory: str) -> pa.Table | None:
    files = sorted(fs.glob(f"{directory}/part-*.parquet"))
    tables = [pq.read_table(f, filesystem=fs) for f in files]
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return None
    return pa.concat_tables(tables, promote_options="default")


def _sample(table: pa.Table, n: int, seed: int) -> list[dict[str, Any]]:
    rows = table.to_pylist()
    rows.sort(key=lambda row: xxhash.xxh64_intdigest(f"{seed}\x1f{row['id']}".encode()))
    return rows[:n]


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_format_value(v) for v in value) + "]"
    return str(value)


def _document_panel(row: dict[str, Any]) -> Panel:
    """The deciding scores first, the other scores as compact name=value cells, then the text."""
    reason = row.get("drop_reason")
    deciding = deciding_columns(reason)
    body = Table.grid()
    for name in deciding:
        if name in row:
            body.add_row(Text(f"decided by {name} = {_format_value(row[name])}", style="bold red"))
    others = [f"{name}={_format_value(value)}" for name, value in row.items()
              if name not in _NOT_SCORES and name not in deciding and value is not None]
    if others:
        body.add_row(Columns([Text(cell, style="cyan") for cell in others], padding=(0, 2)))
    text = _BLANK_LINES.sub("\n\n", row.get("text") or "")  # for display only
    shown = text[:MAX_TEXT_CHARS]
    if len(text) > MAX_TEXT_CHARS:
        shown += f" [... {len(text) - MAX_TEXT_CHARS} more chars]"
    body.add_row(Text(""))
    body.add_row(Text(shown))
    title = f"{row.get('source')} · {row['id']}" + (f" · {reason}" if reason else " · kept")
    subtitle = row.get("url") or row.get("path") or ""
    return Panel(body, title=title, subtitle=subtitle, title_align="left", subtitle_align="left")


def inspect_run(run_dir: str, stage: str = "filter", reason: str | None = None, kept: bool = False,
                n: int = 5, seed: int = 0, console: Console | None = None) -> str:
    """Render sampled documents of `run_dir/<stage>` (see the module docstring)."""
    fs, root = fsspec.core.url_to_fs(run_dir)
    stage_dir = f"{root.rstrip('/')}/{stage}"
    if not fs.isdir(stage_dir):
        raise FileNotFoundError(f"{run_dir}: no '{stage}' stage output; run `corpusmill build` first "
                                f"or check the run directory")
    reasons = _list_dirs(fs, f"{stage_dir}/rejects")
    sources = [name for name in _list_dirs(fs, stage_dir) if name != "rejects" and not name.startswith("_")]
    shown: list[Any] = []
    if reason is not None:
        if reason not in reasons:
            available = ", ".join(reasons) if reasons else "none (no document was removed, or rejects were not written)"
            raise ValueError(f"no rejects for reason {reason!r} in {run_dir}/{stage}; available reasons: {available}")
        table = _read_parts(fs, f"{stage_dir}/rejects/{reason}")
        heading = f"{stage}: removed by {reason}"
    elif kept:
        parts = [t for t in (_read_parts(fs, f"{stage_dir}/{source}") for source in sources) if t is not None]
        table = pa.concat_tables(parts, promote_options="default") if parts else None
        heading = f"{stage}: kept"
    else:
        overview = Table(title=f"{run_dir} · {stage}")
        overview.add_column("kept in / removed by")
        overview.add_column("documents", justify="right")
        for source in sources:
            part = _read_parts(fs, f"{stage_dir}/{source}")
            overview.add_row(f"kept: {source}", str(part.num_rows if part is not None else 0))
        for name in reasons:
            part = _read_parts(fs, f"{stage_dir}/rejects/{name}")
            overview.add_row(f"removed: {name}", str(part.num_rows if part is not None else 0))
        shown += [overview, "Show documents with `reason=<one of the reasons>` or `kept=True`."]
        return _render(shown, console)
    total = table.num_rows if table is not None else 0
    shown.append(Text(f"{heading}: {min(n, total)} of {total} documents (seed {seed})", style="bold"))
    sampled = _sample(table, n, seed) if table is not None else []
    if reason is not None and sampled and "dedup_kept_id" in sampled[0]:  # a dedup reject: beside its kept twin
        from pipelines.dedup.inspect_pairs import pair_renderables

        shown += pair_renderables(fs, root, stage_dir, sources, sampled, _document_panel)
        return _render(shown, console)
    shown += [_document_panel(row) for row in sampled]
    return _render(shown, console)


def _render(renderables: list[Any], console: Console | None) -> str:
    out = Console(record=True, width=110, file=io.StringIO(), color_system=None)
    for renderable in renderables:
        out.print(renderable)
        if console is not None:
            console.print(renderable)
    return out.export_text()
