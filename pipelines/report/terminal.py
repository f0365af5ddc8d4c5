"""Terminal output: the report's summary (rich tables) and `corpusmill plan`."""
from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from pipelines.report.planner import format_count, format_flops, format_usd, known_table

TOP_REASONS = 8
_STEP_LABELS = {"extracted": "extracted", "filtered": "filtered", "deduplicated": "dedup", "tokenized": "tokenized",
                "mixture_train": "train", "mixture_val": "val"}


def _count(value, estimated: bool = False) -> str:
    return "-" if value is None else ("≈" if estimated else "") + format_count(value)


def _funnel_table(funnel: dict, metric: str, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("source")
    for step in funnel["steps"]:
        table.add_column(_STEP_LABELS[step], justify="right")
    rows = [(name, {s["step"]: s for s in entry["steps"]}) for name, entry in funnel["sources"].items()]
    rows.append(("total", {t["step"]: t for t in funnel["totals"]}))
    for name, steps in rows:
        cells = []
        for step in funnel["steps"]:
            s = steps.get(step)
            estimated = metric == "num_tokens" and s is not None and s["tokens_estimated"]
            cells.append("-" if s is None else _count(s[metric], estimated))
        table.add_row(f"[bold]{name}[/bold]" if name == "total" else name, *cells)
    return table


def _reasons_table(funnel: dict) -> Table | None:
    removed = [(source, r) for source, entry in funnel["sources"].items() for r in entry["removed"]
               if r["stage"] != "extract"]
    if not removed:
        return None
    removed.sort(key=lambda item: -item[1]["num_docs"])
    table = Table(title=f"top removal reasons (of {len(removed)})", title_justify="left")
    for column, justify in (("source", "left"), ("stage", "left"), ("reason", "left"), ("docs", "right"),
                            ("chars", "right")):
        table.add_column(column, justify=justify)
    for source, r in removed[:TOP_REASONS]:
        table.add_row(source, r["stage"], r["reason"], f"{r['num_docs']:,}", _count(r["num_chars"]))
    return table


def _mixture_table(mixture: dict) -> Table:
    table = Table(title="mixture: target vs achieved", title_justify="left")
    for column in ("source", "target", "achieved", "epochs", "max", "train tokens", "val tokens"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for name, e in mixture["sources"].items():
        table.add_row(name, f"{e['target_weight']:.1%}", f"{e['achieved_weight']:.1%}", f"{e['achieved_epochs']:.3f}",
                      f"{e['max_epochs']:g}", f"{e['achieved_tokens']:,}", f"{e['val_tokens']:,}")
    return table


def print_report_summary(report: dict, console: Console) -> None:
    status = report["status"]
    console.print(f"[bold]corpusmill report[/bold] {report['run_dir']} · "
                  + ("finished" if status["finished"] else "[yellow]partial[/yellow] (running or interrupted)"))
    if report["funnel"]:
        console.print(_funnel_table(report["funnel"], "num_docs", "funnel: documents"))
        if any(t["num_tokens"] is not None for t in report["funnel"]["totals"]):
            console.print(_funnel_table(report["funnel"], "num_tokens", "funnel: tokens (≈ estimated from characters)"))
        reasons = _reasons_table(report["funnel"])
        if reasons is not None:
            console.print(reasons)
    if report["mixture"]:
        mixture = report["mixture"]
        console.print(_mixture_table(mixture))
        shards = mixture["shards"]
        console.print(f"shards: {sum(s['split'] == 'train' for s in shards)} train, "
                      f"{sum(s['split'] == 'val' for s in shards)} val; "
                      + ", ".join(f"{k} {v['num_tokens']:,} tokens" for k, v in mixture["splits"].items()))
        for warning in mixture["warnings"]:
            console.print(f"[red]mixture warning:[/red] {warning}", highlight=False)
        for note in mixture["observations"]:
            console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    if report["scale"]:
        scale = report["scale"]
        beside = ", ".join(f"{r['name']} {format_count(r['tokens'])}" for r in scale["references"])
        console.print(f"scale: this corpus {format_count(scale['corpus_tokens'])} tokens ({scale['basis']}); {beside}")
    if report["planner"]:
        print_plan(report["planner"], console, brief=True)


def print_plan(result: dict, console: Console, brief: bool = False) -> None:
    """`corpusmill plan` output; `brief`: the one-line form for the report summary."""
    request, gpu = result["request"], result["gpu"]
    chin = result["chinchilla"]
    setting = f"{gpu['name']} at MFU {request['mfu']:g}" + (
        f", ${request['price_per_hour']:g}/GPU-hour" if request["price_per_hour"] is not None else "")
    if brief and chin:
        console.print(f"planner (Chinchilla D ≈ 20 N, Hoffmann et al. 2022): {format_count(chin['params'])} parameters, "
                      f"{format_flops(chin['flops'])} FLOPs, {format_count(chin['gpu_hours'])} GPU-hours, "
                      f"{format_usd(chin['cost_usd'])} on {setting}" + (" (assumed price)" if result.get("price_is_assumed") else ""))
        return
    console.print(f"[bold]plan[/bold] on {setting} (peak {gpu['peak_flops'] / 1e12:,.1f} TFLOP/s {gpu['dtype']}: "
                  f"{gpu['source']})", highlight=False)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0))
    for column in ("", "N", "D", "epochs", "FLOPs", "GPU-h", "cost", "L Kap.", "L Hof."):
        table.add_column(column, justify="left" if not column else "right", no_wrap=True)

    def row(label: str, c: dict) -> None:
        epochs = "-" if c["epochs"] is None else f"{c['epochs']:.2f}"
        table.add_row(label, format_count(c["params"]), format_count(c["tokens"]), epochs, format_flops(c["flops"]),
                      format_count(c["gpu_hours"]), format_usd(c["cost_usd"]), f"{c['kaplan_loss']:.3f}",
                      f"{c['hoffmann_loss']:.3f}")

    if chin:
        row("Chinchilla", chin)
    if result["given_model"]:
        row("given N", result["given_model"])
    for what_if in result["what_if"]:
        row(f"if {format_count(what_if['params'])}", what_if)
    if table.row_count:
        console.print(table)
        console.print("N parameters, D tokens (Chinchilla: D = 20 N), FLOPs = 6 N D, epochs of the given tokens, "
                      "L: Kaplan's and Hoffmann's loss fits (nats/token)", style="dim", highlight=False)
    converse = result["converse"]
    if converse:
        epochs = f", {converse['epochs']:.2f} epochs of these tokens" if converse["epochs"] else ""
        console.print(f"budget {format_usd(converse['budget_usd'])} = {format_count(converse['gpu_hours'])} GPU-hours = "
                      f"{format_flops(converse['flops'])} FLOPs buys, compute-optimally, N = "
                      f"{format_count(converse['params'])} parameters on D = {format_count(converse['tokens'])} tokens"
                      f"{epochs} (Kaplan L {converse['kaplan_loss']:.3f}, Hoffmann L {converse['hoffmann_loss']:.3f})",
                      highlight=False)
    for text in result["rules"].values():
        console.print(f"  · {text}", style="dim", highlight=False)


def print_known(console: Console) -> None:
    table = Table(title="known models (FLOPs = 6 N D)", title_justify="left")
    for column in ("model", "N params", "D tokens", "FLOPs", "tokens/param", "source"):
        table.add_column(column, justify="right" if column not in ("model", "source") else "left")
    for m in known_table():
        trained = m["train_tokens"] is not None
        table.add_row(m["name"], format_count(m["params"]),
                      format_count(m["train_tokens"]) if trained else f"n/p (corpus ≈{format_count(m['scale_tokens'])})",
                      format_flops(m["flops"]) if trained else "n/p",
                      f"{m['tokens_per_param']:.1f}" if trained else "-", m["source"])
    console.print(table)
