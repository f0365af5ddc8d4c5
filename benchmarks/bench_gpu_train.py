"""Training throughput and MFU of the real trainer (train.loop.train) on one device.

Default: gpt2-124m and llama-150m, CLM, sequence length 1024, bf16 autocast, torch.compile, fused
AdamW, TF32, flash SDPA, vocabulary padded to 50304, on one GPU. For each model, runs of the same
trainer on the same data:

  compiled                 the headline tokens/s and MFU
  compiled+doc-mask        per-document attention masks and position reset (the switch's cost),
                           as a dense (B, 1, T, T) SDPA mask (--attention sdpa, the default)
  compiled+doc-mask-flex   the same masks as FlexAttention block masks (--attention flex), which
                           skip the blocks between documents; its last loss must agree with the
                           dense run's (same data, same init). Faster here = make flex the default
  compiled+act-ckpt        --activation-checkpointing: what recomputing each block costs in speed
                           and saves in peak memory (printed for every run)
  (--extra) loss-chunk     the LM head and loss 4,096 tokens at a time (--loss-chunk)
  (--extra) eager          no torch.compile (what compiling buys)

Data: shards given with --shards (a run dir, shards dir or manifest.json), else synthetic shards
written to a temporary directory: GPT-2-sized vocabulary, Zipf-distributed ids, documents of
log-normal length (median ~600 tokens) ending in EOS, so document masking has real boundaries.

An out-of-memory error halves the micro-batch (the global batch stays, accumulation doubles) and
retries. A run that would start after --budget-s is skipped (the whole stays under 8 minutes; the
headline run of each model always happens). The last line printed is the result:

  RESULT <model> ... tokens/s ... MFU ...   (one line per model)

    python benchmarks/bench_gpu_train.py                 # GPU, ~6-7 min
    python benchmarks/bench_gpu_train.py --smoke         # CPU smoke test: tiny + llama-tiny, 2 steps
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a bare checkout

import numpy as np  # noqa: E402
import torch  # noqa: E402

from tokenization.manifest import Manifest  # noqa: E402
from tokenization.shards import ShardHeader, write_shard  # noqa: E402
from train.config import TrainConfig  # noqa: E402
from train.loop import train  # noqa: E402
from train.runlog import read_log  # noqa: E402

GPT2_VOCAB, GPT2_EOS = 50257, 50256


def write_synthetic_shards(directory: Path, num_tokens: int, seed: int = 0) -> Path:
    """Zipf(1.1)-distributed GPT-2 ids in log-normal-length documents, each ending with EOS."""
    rng = np.random.default_rng(seed)
    documents, total = [], 0
    while total < num_tokens:
        length = int(np.clip(rng.lognormal(mean=np.log(600), sigma=1.0), 16, 8192))
        ids = np.minimum(rng.zipf(1.1, size=length - 1) - 1, GPT2_EOS - 1).astype(np.uint16)
        documents.append(np.append(ids, np.uint16(GPT2_EOS)))
        total += length
    header = ShardHeader(tokenizer_sha256="synthetic", vocab_size=GPT2_VOCAB, special_ids={"eos": GPT2_EOS})
    shards = directory / "shards"
    info = write_shard(shards / "train-00000.arrow", documents, ["synthetic"] * len(documents),
                       [f"synthetic-{i}" for i in range(len(documents))], header, relative_to=shards)
    Manifest(directory=shards, tokenizer_path="synthetic", tokenizer_sha256="synthetic",
             vocab_size=GPT2_VOCAB, special_ids={"eos": GPT2_EOS}, splits={"train": [info]}).save()
    return directory


def is_oom(error: BaseException) -> bool:
    return isinstance(error, torch.cuda.OutOfMemoryError) or "out of memory" in str(error).lower()


def measure(args, run: Path, out: Path, *, model: str, compile_model: bool, doc_mask: bool, micro: int,
            attention: str = "sdpa", loss_chunk: int = 0, activation_checkpointing: bool = False) -> dict:
    """One trainer run; tokens/s and MFU over the steps after the warmup ones (compile included
    in warmup), from the run's JSONL log."""
    steps = args.warmup_steps + args.steps
    config = TrainConfig(
        run=str(run), objective="clm", model=model, steps=steps, seq_len=args.seq_len,
        batch_size=args.batch_size, micro_batch_size=micro, device=args.device, dtype=args.dtype,
        compile=compile_model, compile_mode=args.compile_mode if compile_model else None, doc_mask=doc_mask, attention=attention,
        loss_chunk=loss_chunk, activation_checkpointing=activation_checkpointing, eval_samples=0,
        checkpoint=False, out=str(out),
        resume="never", log_every=args.warmup_steps if args.steps % args.warmup_steps == 0 else 1,
        warmup_steps=max(1, steps // 10), quiet=True, peak_tflops=args.peak_tflops,
    )
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    train(config)
    wall = time.perf_counter() - started
    peak_gib = torch.cuda.max_memory_allocated() / 2**30 if args.device == "cuda" else None
    records = [r for r in read_log(out / "log.jsonl") if r["kind"] == "train"]
    timed = [r for r in records if r["step"] > args.warmup_steps]
    seconds = sum(r["step_seconds"] * (r["step"] - p["step"]) for p, r in zip(records, records[1:])
                  if r["step"] > args.warmup_steps)
    timed_steps = sum(r["step"] - p["step"] for p, r in zip(records, records[1:]) if r["step"] > args.warmup_steps)
    tokens_per_s = timed_steps * args.batch_size * args.seq_len / seconds
    mfus = [r["mfu"] for r in timed]
    mfu = None if mfus[0] is None else float(np.mean(mfus))  # equal-length intervals
    return {"tokens_per_s": tokens_per_s, "mfu": mfu, "wall_s": wall, "micro_batch": micro,
            "step_s": seconds / timed_steps, "loss": records[-1]["loss"], "peak_gib": peak_gib}


def release_memory(device: str) -> None:
    """Drop compiled graphs (they hold the previous model) and cached blocks between runs."""
    torch._dynamo.reset()
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


def measure_with_oom_retry(args, run: Path, work: Path, name: str, **kwargs) -> dict | None:
    micro = args.micro_batch
    while micro >= 1:
        try:
            result = measure(args, run, work / f"{name}-mb{micro}", micro=micro, **kwargs)
            release_memory(args.device)
            return result
        except Exception as error:  # noqa: BLE001 - report and continue with the other runs
            if args.device == "cuda" and is_oom(error) and micro > 1:
                print(f"  {name}: out of memory at micro-batch {micro}; retrying with {micro // 2}", flush=True)
                micro //= 2
                args.micro_batch = micro  # later runs start from the size that fits
                release_memory(args.device)
                continue
            print(f"  {name}: FAILED {type(error).__name__}: {str(error)[:500]}", flush=True)
            return None
    return None


def plan_for(args, cuda: bool) -> list[tuple[str, dict]]:
    head = "compiled" if args.compile else "eager"
    plan = [(head, dict(compile_model=args.compile, doc_mask=False))]
    if args.only_main:
        return plan
    plan.append((head + "+doc-mask", dict(compile_model=args.compile, doc_mask=True)))
    if args.compile and cuda:  # flex has no CPU backward and is unfused without compile
        plan.append((head + "+doc-mask-flex", dict(compile_model=True, doc_mask=True, attention="flex")))
    plan.append((head + "+act-ckpt", dict(compile_model=args.compile, doc_mask=False, activation_checkpointing=True)))
    if "loss-chunk" in args.extra:
        plan.append((head + "+loss-chunk", dict(compile_model=args.compile, doc_mask=False, loss_chunk=args.loss_chunk)))
    if "eager" in args.extra and args.compile:
        plan.append(("eager", dict(compile_model=False, doc_mask=False)))
    return plan


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shards", help="run dir / shards dir / manifest.json; default: synthetic shards")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--models", default="gpt2-124m,llama-150m", help="comma-separated presets")
    p.add_argument("--smoke", action="store_true",
                   help="CPU smoke test: tiny,llama-tiny, seq 64, 2 steps, no compile (checks the script runs)")
    p.add_argument("--seq-len", type=int, default=None, help="default 1024 (cuda) / 64 (cpu)")
    p.add_argument("--micro-batch", type=int, default=None, help="per step; default 32 (cuda) / 4 (cpu)")
    p.add_argument("--batch-size", type=int, default=None, help="global; default 2 x micro-batch")
    p.add_argument("--steps", type=int, default=None, help="timed optimizer steps per run; default 20 / 2 on cpu")
    p.add_argument("--warmup-steps", type=int, default=None, help="untimed (compile); default 5 / 1 on cpu")
    p.add_argument("--dtype", choices=("bf16", "fp32", "auto"), default="auto")
    p.add_argument("--compile", dest="compile", action="store_true", default=None)
    p.add_argument("--no-compile", dest="compile", action="store_false")
    p.add_argument("--compile-mode", default=None, help="torch.compile mode, e.g. max-autotune-no-cudagraphs")
    p.add_argument("--extra", default="", help="comma-separated extra runs: loss-chunk, eager")
    p.add_argument("--loss-chunk", type=int, default=4096, help="tokens per chunk in the loss-chunk run")
    p.add_argument("--budget-s", type=float, default=360,
                   help="start no comparison run after this many seconds (keeps the whole under 8 min)")
    p.add_argument("--only-main", action="store_true", help="only the headline run of each model")
    p.add_argument("--peak-tflops", type=float, default=None, help="override the device's bf16 peak")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)
    if args.smoke:
        args.device, args.models = "cpu", "tiny,llama-tiny"
    bench_started = time.perf_counter()
    cuda = args.device == "cuda"
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    args.extra = {e.strip() for e in args.extra.split(",") if e.strip()}
    args.seq_len = args.seq_len or (1024 if cuda else 64)
    args.micro_batch = args.micro_batch or (32 if cuda else 4)
    args.batch_size = args.batch_size or 2 * args.micro_batch
    args.steps = args.steps or (20 if cuda else 2)
    args.warmup_steps = args.warmup_steps or (5 if cuda else 1)
    if args.compile is None:
        args.compile = cuda  # compiling on CPU is slow to start and not what this measures
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        name = torch.cuda.get_device_name()
        print(f"device {name}; torch {torch.__version__}; flash SDPA {torch.backends.cuda.flash_sdp_enabled()}")
    else:
        name = "cpu"
        print(f"device cpu ({os.cpu_count()} cores); torch {torch.__version__}")

    plan = plan_for(args, cuda)
    results: dict[str, dict[str, dict | None]] = {m: {} for m in models}
    first_micro = args.micro_batch
    with tempfile.TemporaryDirectory(prefix="bench-gpu-train-") as tmp:
        work = Path(tmp)
        if args.shards:
            run = Path(args.shards)
        else:
            needed = (args.warmup_steps + args.steps) * args.batch_size * (args.seq_len + 1)
            started = time.perf_counter()
            run = write_synthetic_shards(work / "run", max(needed + 4 * args.seq_len, 200_000))
            print(f"synthetic shards: {needed:,}+ tokens in {time.perf_counter() - started:.1f} s")
        # every model's headline first, then the comparisons, so a tight budget still measures both
        order = [(m, 0) for m in models] + [(m, i) for i in range(1, len(plan)) for m in models]
        for model, index in order:
            label, kwargs = plan[index]
            spent = time.perf_counter() - bench_started
            if index > 0 and spent > args.budget_s:
                print(f"skipping {model} {label}: {spent:.0f} s spent of the {args.budget_s:.0f} s budget", flush=True)
                continue
            args.micro_batch = results[model].get("_micro", first_micro)
            print(f"running {model} {label} (seq {args.seq_len}, global batch {args.batch_size}, "
                  f"{args.warmup_steps}+{args.steps} steps) ...", flush=True)
            result = measure_with_oom_retry(args, run, work, f"{model}-{label.replace('+', '-')}",
                                            model=model, **kwargs)
            results[model]["_micro"] = args.micro_batch
            results[model][label] = result
            if result:
                shown = "n/a" if result["mfu"] is None else f"{result['mfu']:.1%}"
                print(f"  {model} {label}: {result['tokens_per_s']:,.0f} tokens/s, MFU {shown}, "
                      f"{result['step_s'] * 1000:.1f} ms/step, micro-batch {result['micro_batch']}, "
                      f"wall {result['wall_s']:.0f} s (compile included), last loss {result['loss']:.3f}"
                      + ("" if result["peak_gib"] is None else f", peak {result['peak_gib']:.1f} GiB"),
                      flush=True)
    for model in models:
        results[model].pop("_micro", None)
        dense, flex = results[model].get("compiled+doc-mask"), results[model].get("compiled+doc-mask-flex")
        if flex and dense and abs(flex["loss"] - dense["loss"]) > 0.02 * abs(dense["loss"]):
            print(f"WARNING {model}: flex and dense document masks disagree: last loss {flex['loss']:.4f} vs "
                  f"{dense['loss']:.4f} (expected equal up to bf16 noise)", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"device": name, "args": {**vars(args), "extra": sorted(args.extra)},
                                               "results": results}, indent=2))
    print(f"total {time.perf_counter() - bench_started:.0f} s")
    main_label, status = plan[0][0], 0
    for model in models:
        head = results[model].get(main_label)
        if head is None:
            print(f"RESULT {model} clm: the {main_label} run failed (see above)")
            status = 1
            continue
        ratios = [f"{label} {r['tokens_per_s'] / head['tokens_per_s']:.2f}x"
                  + ("" if r["peak_gib"] is None else f" ({r['peak_gib']:.1f} GiB)")
                  for label, r in results[model].items() if label != main_label and r]
        shown = "n/a (no peak for this device)" if head["mfu"] is None else f"{head['mfu']:.1%}"
        memory = "" if head["peak_gib"] is None else f", peak {head['peak_gib']:.1f} GiB"
        print(f"RESULT {model} clm seq {args.seq_len} {main_label} on {name}: "
              f"{head['tokens_per_s']:,.0f} tokens/s, MFU {shown}{memory}"
              + (f" | relative to {main_label}: " + ", ".join(ratios) if ratios else ""))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
