"""TrainConfig: everything one training run is told (the CLI builds it; checkpoints store it)."""
from __future__ import annotations

import typing
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Literal

from train.model_config import DEFAULT_SEQ_LEN, PRESETS
from train.objectives import OBJECTIVES

# Peak learning rates by preset: tiny/mini are small enough for 3e-3/1e-3; the 100M+ presets use
# GPT-2 small's 6e-4 (fine for BERT/T5 sizes with AdamW and warmup too).
DEFAULT_LR = {"tiny": 3e-3, "mini": 1e-3, "llama-tiny": 3e-3, "llama-mini": 1e-3, "llama-1b": 3e-4}
FALLBACK_LR = 6e-4

# Resume must keep these equal, or the data order / masks / shapes would differ from the run saved.
RESUME_INVARIANTS = ("objective", "model", "seq_len", "batch_size", "seed", "doc_mask",
                     "num_sentinels", "vocab_multiple")


@dataclass(frozen=True, kw_only=True, slots=True)
class TrainConfig:
    run: str  # run directory (with shards/manifest.json), shards directory or manifest path
    objective: str  # a registered objective (train.objectives.OBJECTIVES): "clm" | "mlm" | "span"
    model: str = "tiny"  # a train.model.PRESETS name
    steps: int = 50  # total optimizer steps the schedule is planned for
    stop_at_step: int | None = None  # stop (with a checkpoint) earlier; resume continues the schedule
    seq_len: int | None = None  # clm/mlm window; span encoder length (EOS included). None: by preset
    batch_size: int = 8  # global batch in samples (windows), over all micro-batches and processes
    micro_batch_size: int | None = None  # per process; None = batch_size / processes
    lr: float | None = None  # peak; None: DEFAULT_LR by preset
    min_lr_ratio: float = 0.1
    warmup_steps: int | None = None  # None: 5% of steps (at least 1)
    schedule: Literal["cosine", "wsd"] = "cosine"  # wsd: warmup-stable-decay
    decay_fraction: float = 0.2  # wsd: final fraction of steps that decays linearly to min lr
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0  # 0 disables
    eval_every: int = 100  # steps; evaluation also runs after the last step
    eval_samples: int = 64
    ckpt_every: int = 100  # steps; a checkpoint is also written after the last step
    keep_checkpoints: int = 3
    checkpoint: bool = True  # False: write none (benchmarks)
    out: str | None = None  # None: <run>/train/<objective>-<model>
    resume: str = "auto"  # "auto" (latest in out, if any) | "never" | a checkpoint path
    seed: int = 1337
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["auto", "bf16", "fp32"] = "auto"  # auto: bf16 on CUDA, fp32 on CPU
    # how more than one process shares the work: "ddp" (a whole model per process, gradients
    # all-reduced) | "fsdp" (FSDP2 fully_shard per block: parameters, gradients and optimizer state
    # sharded; bf16 parameters with fp32 gradient reduction when the dtype is bf16; checkpoints
    # saved sharded with torch.distributed.checkpoint). One process trains the whole model either way.
    parallel: Literal["ddp", "fsdp"] = "ddp"
    activation_checkpointing: bool = False  # recompute each block's activations in the backward
    compile: bool = False
    compile_mode: str | None = None  # torch.compile mode, e.g. "max-autotune-no-cudagraphs"
    doc_mask: bool = False  # clm/mlm: attend within documents only, positions restart per document
    # how a document mask is applied: "sdpa" (a dense mask, any device) | "flex" (FlexAttention
    # block masks, CUDA only: no CPU backward; with --compile). sdpa stays the default until flex is
    # measured faster on a GPU (benchmarks/bench_gpu_train.py runs both)
    attention: Literal["sdpa", "flex"] = "sdpa"
    # > 0: the LM head and loss run this many tokens at a time (train.chunked_loss): the full
    # (tokens, vocab) logits never exist, which is what large vocabularies need
    loss_chunk: int = 0
    # torch.use_deterministic_algorithms (bitwise-reproducible CPU runs); on CUDA also cuBLAS's
    # CUBLAS_WORKSPACE_CONFIG (set when absent, refused when set to a non-deterministic value)
    deterministic: bool = False
    log_every: int = 1
    tensorboard: bool = False  # also write TensorBoard events, if the package is installed
    peak_tflops: float | None = None  # override the device's peak bf16 dense TFLOP/s for MFU
    num_sentinels: int = 100
    vocab_multiple: int = 128
    prefetch: int = 2  # steps of batches built ahead in a background thread
    quiet: bool = False

    def resolved_seq_len(self) -> int:
        if self.seq_len is not None:
            return self.seq_len
        return DEFAULT_SEQ_LEN.get(self.model) or PRESETS[self.model]["max_seq_len"]

    def resolved_lr(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR.get(self.model, FALLBACK_LR)

    def resolved_warmup(self) -> int:
        return self.warmup_steps if self.warmup_steps is not None else max(1, round(0.05 * self.steps))

    def out_dir(self, manifest_dir: Path) -> Path:
        if self.out is not None:
            return Path(self.out)
        run_dir = manifest_dir.parent if manifest_dir.name == "shards" else manifest_dir
        return run_dir / "train" / f"{self.objective}-{self.model}"

    def to_json(self) -> dict:
        data = asdict(self)
        data["seq_len"] = self.resolved_seq_len()
        return data

    def validate(self) -> None:
        for name, choices in literal_choices().items():
            value = getattr(self, name)
            if value not in choices:
                flag = "--" + name.replace("_", "-")
                raise ValueError(f"unknown {flag} {value!r}; choose {_either(choices)}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown --objective {self.objective!r}; choose {_either(OBJECTIVES)}")
        if self.model not in PRESETS:
            raise ValueError(f"unknown --model {self.model!r}; choose one of {', '.join(PRESETS)}")
        if self.loss_chunk < 0:
            raise ValueError("--loss-chunk must be 0 (off) or a positive number of tokens")
        if self.steps < 1:
            raise ValueError("--steps must be at least 1")
        if self.stop_at_step is not None and not 0 < self.stop_at_step <= self.steps:
            raise ValueError(f"--stop-at-step must be in 1..{self.steps}")


def literal_choices() -> dict[str, tuple[str, ...]]:
    """TrainConfig's Literal-typed fields and their allowed values (the CLI's choices too)."""
    hints = typing.get_type_hints(TrainConfig)
    return {f.name: typing.get_args(hints[f.name]) for f in fields(TrainConfig)
            if typing.get_origin(hints[f.name]) is Literal}


def _either(choices) -> str:
    return ", ".join(choices[:-1]) + " or " + choices[-1]
