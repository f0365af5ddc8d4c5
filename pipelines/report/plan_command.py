"""`corpusmill plan`: the planner from the command line (arguments are defined in pipelines/cli.py)."""
from __future__ import annotations

import argparse

from rich.console import Console

from pipelines.report.planner import PlanRequest, parse_count, plan
from pipelines.report.terminal import print_known, print_plan


def _run_tokens(run_url: str) -> float:
    from pipelines.report import collect_report
    from pipelines.report.scale import corpus_tokens

    report = collect_report(run_url)
    tokens = corpus_tokens(report["funnel"], report["mixture"])
    if tokens is None or tokens[0] <= 0:
        raise ValueError(f"{run_url}: no token counts yet (no tokenize or filter output); give --tokens N")
    return float(tokens[0])


def run_plan(args: argparse.Namespace, console: Console) -> int:
    if args.known:
        print_known(console)
        if args.tokens is None and args.run is None and args.budget_usd is None and args.gpu_hours is None:
            return 0
    tokens = parse_count(args.tokens) if args.tokens is not None else (_run_tokens(args.run) if args.run else None)
    request = PlanRequest(
        tokens=tokens, gpu=args.gpu, mfu=args.mfu, price_per_hour=args.price_per_hour,
        model_params=parse_count(args.model_params) if args.model_params is not None else None,
        budget_usd=args.budget_usd, gpu_hours=args.gpu_hours)
    print_plan(plan(request), console)
    return 0
