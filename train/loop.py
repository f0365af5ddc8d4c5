"""The training loop, shaped like torchtitan's Trainer: `Trainer.__init__` sets everything up,
`train_step` is one optimizer step, `train` the loop with logging, eval and checkpoints.

AdamW + schedule, gradient accumulation normalised by target tokens across micro-batches and ranks,
clipping, periodic eval and checkpoints, a JSONL log with tokens/s and MFU.

Loss normalisation: each micro-batch's model call returns the *sum* of its token losses; before the
step, the number of target tokens of the whole global batch (all micro-batches, all ranks) is known,
so each micro-batch backpropagates loss_sum * world_size / global_targets. DDP and FSDP average
gradients over ranks (divide by world_size), so the update equals the 1-process one on the same
global batch.
"""
from __future__ import annotations

import contextlib
import logging
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch

from tokenization.manifest import load_manifest
from train.checkpoint import (is_sharded_checkpoint, latest_checkpoint, load_checkpoint, load_sharded_weights,
                              restore_rng, rng_state, save_checkpoint, save_sharded_checkpoint)
from train.config import RESUME_INVARIANTS, TrainConfig
from train.data import EvalBatches, TokenWindows, TrainBatches, prefetch
from train.determinism import configure_determinism
from train.distributed import DistEnv, all_reduce_sum, barrier, gather_objects, init_distributed, shutdown_distributed
from train.flops import mfu, peak_flops_for
from train.model import PRESETS, arch_for, build_model, model_config
from train.objectives import make_objective
from train.optim import lr_at, make_optimizer
from train.parallel import full_value, gradient_sync, shard_model, shards_parameters, wrap_for_ddp
from train.runlog import RunLog
from train.vocab import build_vocab_layout

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class TrainResult:
    out_dir: Path
    steps_done: int
    last_loss: float | None
    last_eval_loss: float | None
    tokens_per_s: float | None  # over the last logging interval
    mfu: float | None


@dataclass(frozen=True, kw_only=True, slots=True)
class StepOutput:
    lr: float
    loss_sum: torch.Tensor  # this rank's summed token losses (not yet reduced: no sync per step)
    global_targets: torch.Tensor  # target tokens of the whole global batch
    grad_norm: torch.Tensor | None


def train(config: TrainConfig) -> TrainResult:
    config.validate()
    env = init_distributed(config.device)
    try:
        return Trainer(config, env).train()
    finally:
        shutdown_distributed(env)


def _resolve_resume(config: TrainConfig, out_dir: Path) -> Path | None:
    if config.resume == "never":
        if latest_checkpoint(out_dir) is not None:
            raise FileExistsError(
                f"{out_dir} already holds checkpoints; pass --resume auto to continue that run "
                "or --out to start a new one elsewhere"
            )
        return None
    if config.resume == "auto":
        return latest_checkpoint(out_dir)
    path = Path(config.resume)
    if not (path.is_file() or is_sharded_checkpoint(path)):
        raise FileNotFoundError(f"--resume {path}: no such checkpoint; use --resume auto, a step-*.pt "
                                "file or a sharded step-* directory")
    return path


def _check_resumable(saved: dict, config: TrainConfig, path: Path) -> None:
    current = config.to_json()
    for key in RESUME_INVARIANTS:
        if saved.get(key) != current[key]:
            raise ValueError(
                f"{path} was trained with {key}={saved.get(key)!r} but this run has {current[key]!r}; "
                f"resume with the same {key} (or start a fresh run with another --out)"
            )


class Trainer:
    def __init__(self, config: TrainConfig, env: DistEnv):
        self.config, self.env = config, env
        manifest = load_manifest(config.run)
        self.out_dir = config.out_dir(manifest.directory)
        self.layout = build_vocab_layout(manifest.vocab_size, manifest.special_ids, config.objective,
                                         num_sentinels=config.num_sentinels, vocab_multiple=config.vocab_multiple)
        seq_len = config.resolved_seq_len()
        self.objective = make_objective(config.objective, seq_len, self.layout, doc_mask=config.doc_mask)
        device = self.device = env.device
        if config.attention == "flex" and device.type != "cuda":
            raise ValueError("--attention flex trains on CUDA only (FlexAttention has no backward on CPU); "
                             "use --attention sdpa")
        self.model_cfg = model_config(
            config.model, arch_for(self.objective.model_family, config.model), self.layout.model_vocab_size,
            max_seq_len=max(seq_len, PRESETS[config.model]["max_seq_len"]), attention=config.attention,
            loss_chunk=config.loss_chunk, activation_checkpointing=config.activation_checkpointing)
        if config.attention == "flex" and not (config.compile or config.compile_mode) and env.is_main:
            logger.warning("--attention flex without --compile runs FlexAttention unfused, "
                           "materialising every score; add --compile")
        self.use_bf16 = config.dtype == "bf16" or (config.dtype == "auto" and device.type == "cuda")
        if config.deterministic:
            configure_determinism(device)
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True  # fp32 matmuls outside autocast (none in bf16 runs)
            torch.backends.cudnn.allow_tf32 = True

        self.sharded = shards_parameters(config.parallel, env)
        torch.manual_seed(config.seed)  # the same initial weights on every rank
        self.model = build_model(self.model_cfg).to(device)
        if self.sharded:  # before the optimizer: it must hold the sharded parameters
            shard_model(self.model, bf16=self.use_bf16)
        self.optimizer = make_optimizer(self.model, config, device)
        self.resume_path = _resolve_resume(config, self.out_dir)
        self.start_step, samples = self._restore() if self.resume_path is not None else (0, 0)
        self.end_step = config.stop_at_step or config.steps
        self._build_data(manifest, samples)

        self.compiled = (torch.compile(self.model, mode=config.compile_mode)
                         if config.compile or config.compile_mode else self.model)
        self.train_model = self.compiled if self.sharded else wrap_for_ddp(self.compiled, env)
        self.flops_per_sample = self.objective.flops_per_sample(self.model_cfg)
        self.peak_flops = config.peak_tflops * 1e12 if config.peak_tflops else (
            peak_flops_for(torch.cuda.get_device_name(device)) if device.type == "cuda" else None)
        self.log = RunLog(self.out_dir, resume_step=self.start_step if self.resume_path else None,
                          tensorboard=config.tensorboard, enabled=env.is_main)
        self._info(
            f"{config.objective} {config.model} ({self.model_cfg.arch}): {self.model.num_params():,} params "
            f"(vocab {self.layout.model_vocab_size}), {self.train_windows.num_windows:,} train windows of "
            f"{self.objective.raw_length}, world {env.world_size}"
            + (f" ({config.parallel})" if env.distributed else "")
            + f", grad accum {self.loader.grad_accum}, device {device}"
            + (f", document mask via {config.attention}" if config.doc_mask else "")
            + (", activation checkpointing" if config.activation_checkpointing else "")
            + (f", resumed at step {self.start_step}" if self.resume_path else ""))

    # ------------------------------------------------------------------------------------------
    # setup

    def _info(self, message: str) -> None:
        if self.env.is_main and not self.config.quiet:
            logger.info(message)

    def _restore(self) -> tuple[int, int]:
        """Load the checkpoint at self.resume_path; returns (start step, samples consumed)."""
        path, env = self.resume_path, self.env
        state = load_checkpoint(path)
        _check_resumable(state["config"], self.config, path)
        if is_sharded_checkpoint(path):
            load_sharded_weights(path, self.model, self.optimizer)
        elif self.sharded:
            raise ValueError(f"{path} is a single-file checkpoint (one process or DDP); resume it with "
                             "--parallel ddp (FSDP resumes from the sharded step-* directories it writes)")
        else:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        start_step = int(state["scheduler"]["step"])
        if state["world_size"] == env.world_size:
            restore_rng(state["rng"][env.rank])
        else:  # data order and masks do not depend on it; only dropout would
            torch.manual_seed(self.config.seed + start_step * 1009 + env.rank)
        return start_step, int(state["data"]["samples_consumed"])

    def _build_data(self, manifest, samples: int) -> None:
        config, env, objective = self.config, self.env, self.objective
        pin = self.device.type == "cuda"
        micro = config.micro_batch_size or config.batch_size // env.world_size
        self.train_windows = TokenWindows(manifest.open_shards("train"), objective.raw_length, objective.stride)
        self.loader = TrainBatches(self.train_windows, objective, seed=config.seed, global_batch=config.batch_size,
                                   micro_batch=micro, rank=env.rank, world_size=env.world_size,
                                   samples_consumed=samples, pin_memory=pin)
        self.eval_batches = None
        if manifest.splits.get("val") and config.eval_samples > 0:
            val_windows = TokenWindows(manifest.open_shards("val"), objective.raw_length, objective.stride,
                                       split="val")
            self.eval_batches = EvalBatches(val_windows, objective, seed=config.seed, micro_batch=micro,
                                            num_samples=config.eval_samples, rank=env.rank,
                                            world_size=env.world_size, pin_memory=pin)

    def autocast(self):
        if self.use_bf16:
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # ------------------------------------------------------------------------------------------
    # one step

    def train_step(self, step: int, micro_batches: list[dict]) -> StepOutput:
        """One optimizer step on this rank's micro-batches of the global batch `step`."""
        env, device = self.env, self.device
        lr = lr_at(step, self.config)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        local_targets = sum(b["num_targets"] for b in micro_batches)
        if env.distributed:  # torch.full, not torch.tensor: no blocking host-to-device copy
            global_targets = all_reduce_sum(
                torch.full((), float(local_targets), dtype=torch.float32, device=device), env)
        else:
            global_targets = torch.full((), float(local_targets), dtype=torch.float32)
        scale = env.world_size / (global_targets if env.distributed else float(local_targets))
        loss_sum = torch.zeros((), dtype=torch.float32, device=device)
        for index, batch in enumerate(micro_batches):
            inputs = {k: v.to(device, non_blocking=True) for k, v in batch.items() if k != "num_targets"}
            last = index == len(micro_batches) - 1
            with gradient_sync(self.train_model, enabled=last or not env.distributed):
                with self.autocast():
                    micro_loss = self.train_model(**inputs)
                (micro_loss * scale).backward()
            loss_sum += micro_loss.detach()
        grad_norm = (torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
                     if self.config.grad_clip > 0 else None)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return StepOutput(lr=lr, loss_sum=loss_sum, global_targets=global_targets, grad_norm=grad_norm)

    def evaluate(self) -> tuple[float, int]:
        """Mean token loss over the fixed validation set, and its number of targets."""
        model, env = self.compiled, self.env
        model.eval()
        loss_sum = torch.zeros((), dtype=torch.float64, device=env.device)
        targets = torch.zeros((), dtype=torch.float64, device=env.device)
        with torch.no_grad():
            for batch in self.eval_batches:
                inputs = {k: v.to(env.device, non_blocking=True) for k, v in batch.items() if k != "num_targets"}
                with self.autocast():
                    loss_sum += model(**inputs).double()
                targets += batch["num_targets"]
        model.train()
        all_reduce_sum(loss_sum, env)
        all_reduce_sum(targets, env)
        return (loss_sum / targets).item(), int(targets.item())

    def save(self, done: int) -> None:
        """Checkpoint after step `done` (collective: every rank calls it)."""
        config, env = self.config, self.env
        payload = {
            "scheduler": {"step": done},
            "data": {"seed": config.seed, "samples_consumed": done * config.batch_size},
            "rng": gather_objects(rng_state(), env),  # collective
            "config": config.to_json(),
            "model_config": self.model_cfg.to_json(),
            "vocab": self.layout.to_json(),
            "world_size": env.world_size,
        }
        if self.config.parallel == "fsdp":  # sharded even from one process, so N processes can resume it
            save_sharded_checkpoint(self.out_dir, done, self.model, self.optimizer, payload, env,
                                    keep=config.keep_checkpoints)
            return
        if env.is_main:
            save_checkpoint(self.out_dir, done, {"model": self.model.state_dict(),
                                                 "optimizer": self.optimizer.state_dict(), **payload},
                            keep=config.keep_checkpoints)
        barrier(env)

    # ------------------------------------------------------------------------------------------
    # the loop

    def train(self) -> TrainResult:
        config, env, objective = self.config, self.env, self.objective
        batches = prefetch(iter(self.loader), depth=config.prefetch)
        last_loss = last_eval = tokens_per_s = last_mfu = None
        interval_start, interval_steps = time.perf_counter(), 0
        try:
            for step in range(self.start_step, self.end_step):
                out = self.train_step(step, next(batches))
                done, interval_steps = step + 1, interval_steps + 1

                if done % config.log_every == 0 or done == self.end_step:
                    last_loss = (all_reduce_sum(out.loss_sum, env) / out.global_targets.to(self.device)).item()
                    elapsed = time.perf_counter() - interval_start
                    step_flops = self.flops_per_sample * config.batch_size
                    tokens_per_s = interval_steps * config.batch_size * objective.stride / elapsed
                    last_mfu = mfu(interval_steps * step_flops / elapsed, self.peak_flops, env.world_size)
                    self.log.write({
                        "kind": "train", "step": done, "loss": last_loss, "lr": out.lr,
                        "grad_norm": full_value(out.grad_norm),
                        "num_targets": int(out.global_targets.item()),
                        "samples_consumed": done * config.batch_size,
                        "data_crc32": zlib.crc32(self.loader.global_window_ids(step * config.batch_size).tobytes()),
                        "tokens_per_s": tokens_per_s, "mfu": last_mfu,
                        "step_seconds": elapsed / interval_steps,
                    })
                    shown = "-" if last_mfu is None else f"{last_mfu:.1%}"
                    self._info(f"step {done}/{config.steps} loss {last_loss:.4f} lr {out.lr:.2e} "
                               f"tok/s {tokens_per_s:,.0f} mfu {shown}")
                    interval_start, interval_steps = time.perf_counter(), 0

                paused_at = time.perf_counter()  # eval and checkpoint time stays out of tokens/s
                if self.eval_batches is not None and (done % config.eval_every == 0 or done == self.end_step):
                    last_eval, eval_tokens = self.evaluate()
                    self.log.write({"kind": "eval", "step": done, "eval_loss": last_eval,
                                    "eval_targets": eval_tokens})
                    self._info(f"step {done} eval loss {last_eval:.4f}")
                if config.checkpoint and ((config.ckpt_every and done % config.ckpt_every == 0)
                                          or done == self.end_step):
                    self.save(done)
                interval_start += time.perf_counter() - paused_at
        finally:
            batches.close()
            self.log.close()
        return TrainResult(out_dir=self.out_dir, steps_done=self.end_step, last_loss=last_loss,
                           last_eval_loss=last_eval, tokens_per_s=tokens_per_s, mfu=last_mfu)
