"""Peak memory and time of the LM head + cross-entropy, plain (full logits) vs chunked
(train/chunked_loss.py), forward + backward, for a large vocabulary.

Default: 8,192 tokens, d = 768, Llama-3's 128,256-token vocabulary, fp32 on CPU / bf16 autocast on
CUDA. Each variant runs in its own process so its peak is its own: on CPU the process's peak RSS
minus its RSS just before the loss (inputs and weights excluded), on CUDA torch's peak allocation
minus the allocation before the loss. The anchor is the plain path measured in the same run.

    python benchmarks/bench_chunked_loss.py            # ~1.5 min on 2 CPU cores, 12 GiB peak
    python benchmarks/bench_chunked_loss.py --quick    # 2,048 tokens
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a bare checkout

try:  # run as `python benchmarks/<script>.py` or by `python -m benchmarks`
    from results import record  # noqa: E402
except ImportError:  # pragma: no cover
    from benchmarks.results import record  # noqa: E402


def rss_peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def run_variant(args) -> dict:
    import torch
    import torch.nn.functional as F

    from train.chunked_loss import chunked_lm_loss_sum

    device = torch.device(args.device)
    torch.manual_seed(0)
    hidden = torch.randn(args.tokens, args.d_model, device=device, requires_grad=True)
    weight = (torch.randn(args.vocab, args.d_model, device=device) * 0.02).requires_grad_()
    labels = torch.randint(0, args.vocab, (args.tokens,), device=device)
    use_bf16 = device.type == "cuda"

    def loss_fn():
        if args.variant == "plain":
            logits = F.linear(hidden, weight)
            return F.cross_entropy(logits.float(), labels, reduction="sum")
        return chunked_lm_loss_sum(hidden, weight, labels, chunk_tokens=args.chunk)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            loss = loss_fn()
        loss.backward()
        hidden.grad = weight.grad = None
        return loss

    if device.type == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:
        before = rss_peak_bytes()
    started = time.perf_counter()
    for _ in range(args.repeats):
        loss = step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - before
    else:
        peak = rss_peak_bytes() - before
    seconds = (time.perf_counter() - started) / args.repeats
    return {"variant": args.variant, "peak_bytes": peak, "seconds": seconds, "loss": float(loss)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokens", type=int, default=8192)
    p.add_argument("--d-model", type=int, default=768)
    p.add_argument("--vocab", type=int, default=128256)
    p.add_argument("--chunk", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--device", default=None)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--variant", choices=("plain", "chunked"), help=argparse.SUPPRESS)  # child process
    args = p.parse_args(argv)
    if args.device is None:
        import torch
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.quick:
        args.tokens = 2048
    if args.variant:
        print(json.dumps(run_variant(args)))
        return 0

    print(f"{args.tokens:,} tokens x vocab {args.vocab:,}, d {args.d_model}, chunk {args.chunk}, "
          f"device {args.device}; logits alone: {args.tokens * args.vocab * 4 / 2**30:.2f} GiB in fp32")
    results = {}
    for variant in ("plain", "chunked"):
        command = [sys.executable, __file__, "--variant", variant, "--tokens", str(args.tokens),
                   "--d-model", str(args.d_model), "--vocab", str(args.vocab), "--chunk", str(args.chunk),
                   "--repeats", str(args.repeats), "--device", args.device]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        results[variant] = json.loads(done.stdout.strip().splitlines()[-1])
        r = results[variant]
        print(f"  {variant:8s} peak {r['peak_bytes'] / 2**20:8.0f} MiB  {r['seconds'] * 1000:8.0f} ms/step  "
              f"loss {r['loss']:.3f}")
    plain, chunked = results["plain"], results["chunked"]
    same = abs(plain["loss"] - chunked["loss"]) <= 1e-3 * abs(plain["loss"])
    print(f"RESULT chunked loss: peak memory {chunked['peak_bytes'] / plain['peak_bytes']:.2f}x of plain, "
          f"time {chunked['seconds'] / plain['seconds']:.2f}x of plain, losses {'agree' if same else 'DIFFER'}")
    record("train", f"LM head + cross-entropy peak memory ({args.tokens:,} tokens, vocab {args.vocab:,})",
           corpusmill=chunked["peak_bytes"] / 2**20, anchor=plain["peak_bytes"] / 2**20, unit="MiB",
           higher_is_better=False, anchor_name="plain full-logits loss")
    record("train", "LM head + cross-entropy step time", corpusmill=chunked["seconds"] * 1000,
           anchor=plain["seconds"] * 1000, unit="ms/step", higher_is_better=False, anchor_name="plain full-logits loss")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
