"""The `corpusmill` command line. Subcommands import their heavy modules lazily."""
from __future__ import annotations

import argparse
import sys

from rich.console import Console


def _validate(args: argparse.Namespace) -> int:
    from pipelines.recipe import load_recipe

    resolved = load_recipe(args.recipe, run_dir=args.run)
    console = Console()
    console.print(f"[green]ok[/green] {args.recipe}: run directory {resolved.run_dir}")
    for source in resolved.recipe.sources:
        files = resolved.inputs[source.name]
        size = sum(f.size_bytes for f in files)
        console.print(f"  {source.name:<12} {source.kind:<12} {len(files):>6} inputs  {size / 1e6:10.1f} MB")
    return 0


def _build(args: argparse.Namespace) -> int:
    from pipelines.build import build
    from pipelines.recipe import load_recipe

    from pipelines.bad_inputs import TooManyBadInputs
    from pipelines.run_lock import RunDirLocked
    from pipelines.runner import StageFailed

    resolved = load_recipe(args.recipe, run_dir=args.run)
    try:
        result = build(resolved, address=args.address, node_ip=args.node_ip, show_progress=not args.no_progress)
    except (StageFailed, RunDirLocked, TooManyBadInputs) as failure:  # the message names each failed task, or the holder
        Console(stderr=True).print(f"[red]build stopped:[/red] {failure}", markup=True, highlight=False)
        return 1
    Console(stderr=True).print(
        f"run directory: {result.run_dir} ({result.num_executed} tasks executed)"
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from pipelines.demo import build_demo

    run_dir = build_demo(args.run, address=args.address)
    Console(stderr=True).print(f"demo run directory: {run_dir}")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from pipelines.inspection import inspect_run

    print(inspect_run(args.run, stage=args.stage, reason=args.reason, kept=args.kept, n=args.n,
                      seed=args.seed))
    return 0


def _dedup_plan(args: argparse.Namespace) -> int:
    from pipelines.dedup.config import DedupConfig
    from pipelines.dedup.plan import render_plan

    bands, rows = args.bands, args.rows
    if args.recipe:
        from pipelines.recipe import load_recipe

        config = load_recipe(args.recipe).sections.get("dedup") or DedupConfig()
        bands, rows = bands or config.num_bands, rows or config.rows_per_band
    default = DedupConfig()
    print(render_plan(bands or default.num_bands, rows or default.rows_per_band, args.threshold))
    return 0


def _tokenizer_train(args: argparse.Namespace) -> int:
    from pipelines.build import train_tokenizer_from_recipe

    path = train_tokenizer_from_recipe(args.recipe, out=args.out, run_dir=args.run, address=args.address)
    Console(stderr=True).print(f"tokenizer written to {path}")
    return 0


def _export_megatron(args: argparse.Namespace) -> int:
    from tokenization.megatron import export_megatron

    export_megatron(args.run, args.out, split=args.split)
    Console(stderr=True).print(f"wrote {args.out}.bin and {args.out}.idx")
    return 0


def _report(args: argparse.Namespace) -> int:
    from pipelines.report import write_report

    files = write_report(args.run, Console())
    Console(stderr=True).print(f"report written to {files.html_path} and {files.json_path}")
    return 0


def _plan(args: argparse.Namespace) -> int:
    from pipelines.report.plan_command import run_plan

    return run_plan(args, Console())


def _export_hf(args: argparse.Namespace) -> int:
    from train.export_hf import export_hf

    print(f"wrote {export_hf(args.source, args.out, tokenizer=args.tokenizer)}")
    return 0


def _train(args: argparse.Namespace, rest: list[str]) -> int:
    from train.cli import main as train_main

    return train_main(rest)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="corpusmill", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check a recipe without doing any work")
    p.add_argument("recipe")
    p.add_argument("--run", help="override the recipe's run_dir")
    p.set_defaults(fn=_validate)

    p = sub.add_parser("build", help="run a recipe (resumes an interrupted run)")
    p.add_argument("recipe")
    p.add_argument("--run", help="override the recipe's run_dir")
    p.add_argument("--address", help="join a Ray cluster ('auto' or ray://host:port); default: embedded")
    p.add_argument("--node-ip", help="this driver's IP in the cluster (when Ray guesses it wrong)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (for logs)")
    p.set_defaults(fn=_build)

    p = sub.add_parser("demo", help="build a small real corpus from text that ships with Python")
    p.add_argument("--run", default="runs/demo", help="run directory (default: runs/demo)")
    p.add_argument("--address", help="join a Ray cluster instead of the embedded default")
    p.set_defaults(fn=_demo)

    p = sub.add_parser("inspect", help="print sampled removed or kept documents with their scores")
    p.add_argument("run")
    p.add_argument("--stage", default="filter")
    p.add_argument("--reason", help="a drop reason code (omit to list them)")
    p.add_argument("--kept", action="store_true", help="show kept documents instead")
    p.add_argument("-n", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(fn=_inspect)

    p = sub.add_parser("dedup-plan", help="the MinHash LSH S-curve: P(candidate) against Jaccard")
    p.add_argument("recipe", nargs="?", help="read bands and rows from this recipe's `dedup:` section")
    p.add_argument("--bands", type=int, help="LSH bands (default: the recipe's, else 14)")
    p.add_argument("--rows", type=int, help="rows per band (default: the recipe's, else 8)")
    p.add_argument("--threshold", type=float, help="also show datasketch's optimal bands x rows for it")
    p.set_defaults(fn=_dedup_plan)

    p = sub.add_parser("tokenizer", help="tokenizer tools")
    tsub = p.add_subparsers(dest="tokenizer_command", required=True)
    t = tsub.add_parser("train", help="train a tokenizer on a seeded sample of a recipe's sources")
    t.add_argument("recipe")
    t.add_argument("--run", help="override the recipe's run_dir")
    t.add_argument("--out", help="also copy tokenizer.json here (it is always kept at RUN/tokenizer/)")
    t.add_argument("--address", help="join a Ray cluster instead of the embedded default")
    t.set_defaults(fn=_tokenizer_train)

    p = sub.add_parser("export", help="export shards to other formats")
    esub = p.add_subparsers(dest="export_command", required=True)
    e = esub.add_parser("megatron", help="Megatron-LM .bin/.idx (indexed_dataset format)")
    e.add_argument("run", help="run directory (or shards directory / manifest.json)")
    e.add_argument("out", help="output prefix: writes OUT.bin and OUT.idx")
    e.add_argument("--split", default="train")
    e.set_defaults(fn=_export_megatron)
    e = esub.add_parser("hf", help="a trained clm model as a Hugging Face checkpoint (safetensors, "
                                   "config.json, tokenizer.json): GPT2LMHeadModel or LlamaForCausalLM")
    e.add_argument("source", metavar="RUN_OR_CKPT",
                   help="run directory, its train/<objective>-<model> directory, or a checkpoint")
    e.add_argument("out", help="output directory")
    e.add_argument("--tokenizer", help="tokenizer.json to ship (default: the training run's)")
    e.set_defaults(fn=_export_hf)

    p = sub.add_parser("report", help="write RUN/report/report.html and report.json; print a summary")
    p.add_argument("run", help="run directory (works while a build runs: sections appear as stages finish)")
    p.set_defaults(fn=_report)

    p = sub.add_parser("plan", help="model size, FLOPs, GPU-hours and cost for a token count (Chinchilla, 6ND)")
    p.add_argument("--tokens", help="training tokens D, e.g. 1.4T, 300B, 3e11")
    p.add_argument("--run", help="take D from a run's report (its shards' train tokens)")
    p.add_argument("--gpu", default="h100", help="a100, h100, h100-pcie, h200, gh200, b200, v100 (default h100)")
    p.add_argument("--mfu", type=float, default=0.4, help="model FLOPs utilisation, fraction of peak (default 0.4)")
    p.add_argument("--price-per-hour", type=float, help="dollars per GPU-hour")
    p.add_argument("--model-params", help="cost this N on the tokens (e.g. 7B) besides Chinchilla's N")
    p.add_argument("--budget-usd", type=float, help="converse: N and D this many dollars buy")
    p.add_argument("--gpu-hours", type=float, help="converse: N and D this many GPU-hours buy")
    p.add_argument("--known", action="store_true", help="print BERT, GPT-2, GPT-3, Chinchilla, PaLM, LLaMA")
    p.set_defaults(fn=_plan)

    p = sub.add_parser("train", help="train a model on a run's shards (see `corpusmill train --help`)",
                       add_help=False)
    p.set_defaults(fn=None)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["train"]:
        return _train(argparse.Namespace(), argv[1:])
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except (ValueError, FileNotFoundError) as error:
        Console(stderr=True).print(f"[red]error:[/red] {error}", markup=True, highlight=False)
        return 2


if __name__ == "__main__":
    sys.exit(main())
