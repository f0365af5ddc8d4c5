"""`python -m train ...` / `torchrun --nproc_per_node N -m train ...` / `corpusmill train ...`.

    python -m train --run RUN --objective clm --model tiny --steps 50
    torchrun --nproc_per_node 8 -m train --run-dir RUN --objective clm --model gpt2-124m \
        --batch-size 512 --micro-batch-size 32 --compile --steps 10000
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from train.config import TrainConfig, literal_choices
from train.model_config import PRESETS
from train.objectives import OBJECTIVES


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m train", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d = TrainConfig(run="", objective="clm")  # defaults come from the dataclass, stated once
    choices = literal_choices()  # and the choices from its Literal types
    # --run-dir is the same option: under torchrun, `--run` is an ambiguous prefix of torchrun's
    # own --run-path and torchrun rejects it before our parser sees it.
    p.add_argument("--run", "--run-dir", dest="run", required=True,
                   help="run directory, its shards/ directory or a manifest.json (alias --run-dir)")
    p.add_argument("--objective", required=True, choices=OBJECTIVES)
    p.add_argument("--model", default=d.model, choices=list(PRESETS))
    p.add_argument("--steps", type=int, default=d.steps, help="optimizer steps the schedule plans for")
    p.add_argument("--stop-at-step", type=int, default=None,
                   help="stop after this step (with a checkpoint); a later --resume finishes the schedule")
    p.add_argument("--seq-len", type=int, default=None,
                   help="window length (span: encoder length incl. EOS); default by model preset")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="global batch in sequences")
    p.add_argument("--micro-batch-size", type=int, default=None, help="per process; default batch/processes")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate; default by model preset")
    p.add_argument("--min-lr-ratio", type=float, default=d.min_lr_ratio)
    p.add_argument("--warmup-steps", type=int, default=None, help="default 5%% of --steps")
    p.add_argument("--schedule", choices=choices["schedule"], default=d.schedule)
    p.add_argument("--decay-fraction", type=float, default=d.decay_fraction, help="wsd decay share")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--beta1", type=float, default=d.beta1)
    p.add_argument("--beta2", type=float, default=d.beta2)
    p.add_argument("--grad-clip", type=float, default=d.grad_clip, help="0 disables")
    p.add_argument("--eval-every", type=int, default=d.eval_every)
    p.add_argument("--eval-samples", type=int, default=d.eval_samples)
    p.add_argument("--ckpt-every", type=int, default=d.ckpt_every)
    p.add_argument("--keep-checkpoints", type=int, default=d.keep_checkpoints)
    p.add_argument("--no-checkpoint", dest="checkpoint", action="store_false", help="write no checkpoints")
    p.add_argument("--out", default=None, help="default RUN/train/<objective>-<model>")
    p.add_argument("--resume", default=d.resume, help="auto | never | path to a step-*.pt checkpoint")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", choices=choices["device"], default=d.device)
    p.add_argument("--dtype", choices=choices["dtype"], default=d.dtype,
                   help="auto = bf16 on CUDA, fp32 on CPU")
    p.add_argument("--parallel", choices=choices["parallel"], default=d.parallel,
                   help="with several processes: ddp = a replica per process; fsdp = FSDP2 (parameters, "
                        "gradients and optimizer state sharded per block; sharded checkpoints)")
    p.add_argument("--activation-checkpointing", action="store_true",
                   help="recompute each transformer block's activations in the backward (less memory)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--compile-mode", default=None, help="torch.compile mode (implies --compile)")
    p.add_argument("--doc-mask", action="store_true",
                   help="clm/mlm: attend within each document only; positions restart per document")
    p.add_argument("--attention", choices=choices["attention"], default=d.attention,
                   help="how --doc-mask is applied: sdpa = a dense mask (default, any device); "
                        "flex = FlexAttention block masks that skip cross-document blocks (CUDA, with --compile)")
    p.add_argument("--loss-chunk", type=int, default=d.loss_chunk, metavar="TOKENS",
                   help="compute the LM head and loss this many tokens at a time, so the full logits "
                        "never exist (large vocabularies); 0 = off")
    p.add_argument("--deterministic", action="store_true",
                   help="torch.use_deterministic_algorithms; on CUDA also CUBLAS_WORKSPACE_CONFIG=:4096:8")
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument("--tensorboard", action="store_true", help="also write TensorBoard events if installed")
    p.add_argument("--peak-tflops", type=float, default=None, help="override the device's bf16 peak for MFU")
    p.add_argument("--num-sentinels", type=int, default=d.num_sentinels)
    p.add_argument("--vocab-multiple", type=int, default=d.vocab_multiple)
    p.add_argument("--prefetch", type=int, default=d.prefetch)
    p.add_argument("--quiet", action="store_true")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(**{k: v for k, v in vars(args).items()})


def _configure_logging(*, quiet: bool) -> None:
    """Progress lines of the `train` loggers on stderr as `[train] ...` (rank 0 only logs them);
    stdout keeps the one JSON result line."""
    root = logging.getLogger("train")
    root.setLevel(logging.WARNING if quiet else logging.INFO)
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[train] %(message)s"))
        root.addHandler(handler)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--"]:  # `torchrun ... -m train -- --run ...`
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    _configure_logging(quiet=args.quiet)
    from train.loop import train  # torch import after argument errors are reported

    try:
        result = train(config_from_args(args))
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not args.quiet and os.environ.get("RANK", "0") == "0":
        print(json.dumps({"out_dir": str(result.out_dir), "steps": result.steps_done,
                          "loss": result.last_loss, "eval_loss": result.last_eval_loss,
                          "tokens_per_s": result.tokens_per_s, "mfu": result.mfu}))
    return 0
