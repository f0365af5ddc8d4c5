"""The training loop: AdamW + schedule, gradient accumulation normalised by target tokens across
micro-batches and ranks, clipping, periodic eval and checkpoints, a JSONL log with tokens/s and MFU.

Loss normalisation: each micro-batch's model call returns the *sum* of its token losses; before the
step, the number of target tokens of the whole global batch (all micro-batches, all ranks) is known,
so each micro-batch backpropagates loss_sum * world_size / global_targets. DDP averages gradients
over ranks (divides by world_size), so the update equals the 1-process one on the same global batch.
"""
from __future__ import annotations

import contextlib
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel

from tokenization.manifest import load_manifest
from train.checkpoint import latest_checkpoint, load_checkpoint, restore_rng, rng_state, save_checkpoint
from train.config import RESUME_INVARIANTS, TrainConfig
from train.data import EvalBatches, TokenWindows, TrainBatches, prefetch
from train.distributed import (DistEnv, all_reduce_sum, barrier, gather_objects, init_distributed,
                               shutdown_distributed)
from train.flops import mfu, peak_flops_for, train_flops_per_sample
from train.model import PRESETS, build_model, model_config
from train.objectives import ARCH_FOR_OBJECTIVE, MlmObjective, SpanObjective, make_objective
from train.optim import lr_at, make_optimizer
from train.runlog import RunLog
from train.vocab import build_vocab_layout


@dataclass(frozen=True, kw_only=True, slots=True)
class TrainResult:
    out_dir: Path
    steps_done: int
    last_loss: float | None
    last_eval_loss: float | None
    tokens_per_s: float | None  # over the last logging interval
    mfu: float | None


def train(config: TrainConfig) -> TrainResult:
    config.validate()
    env = init_distributed(config.device)
    try:
        return _train(config, env)
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
    if not path.is_file():
        raise FileNotFoundError(f"--resume {path}: no such checkpoint; use --resume auto or a step-*.pt path")
    return path


def _check_resumable(saved: dict, config: TrainConfig, path: Path) -> None:
    current = config.to_json()
    for key in RESUME_INVARIANTS:
        if saved.get(key) != current[key]:
            raise ValueError(
                f"{path} was trained with {key}={saved.get(key)!r} but this run has {current[key]!r}; "
                f"resume with the same {key} (or start a fresh run with another --out)"
            )


def _step_payload(model, optimizer, config, model_cfg, layout, step, samples, env) -> dict:
    rng_states = gather_objects(rng_state(), env)  # collective: every rank calls it
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": {"step": step},
        "data": {"seed": config.seed, "samples_consumed": samples},
        "rng": rng_states,
        "config": config.to_json(),
        "model_config": model_cfg.to_json(),
        "vocab": layout.to_json(),
        "world_size": env.world_size,
    }


def _evaluate(model, batches, env: DistEnv, autocast) -> tuple[float, int]:
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=env.device)
    targets = torch.zeros((), dtype=torch.float64, device=env.device)
    with torch.no_grad():
        for batch in batches:
            inputs = {k: v.to(env.device, non_blocking=True) for k, v in batch.items() if k != "num_targets"}
            with autocast():
                loss_sum += model(**inputs).double()
            targets += batch["num_targets"]
    model.train()
    all_reduce_sum(loss_sum, env)
    all_reduce_sum(targets, env)
    return (loss_sum / targets).item(), int(targets.item())


def _train(config: TrainConfig, env: DistEnv) -> TrainResult:
    manifest = load_manifest(config.run)
    out_dir = config.out_dir(manifest.directory)
    layout = build_vocab_layout(manifest.vocab_size, manifest.special_ids, config.objective,
                                num_sentinels=config.num_sentinels, vocab_multiple=config.vocab_multiple)
    seq_len = config.resolved_seq_len()
    objective = make_objective(config.objective, seq_len, layout, doc_mask=config.doc_mask)
    max_len = max(seq_len, PRESETS[config.model]["max_seq_len"])
    device = env.device
    attention = config.attention
    if attention == "flex" and device.type != "cuda":
        raise ValueError("--attention flex trains on CUDA only (FlexAttention has no backward on CPU); "
                         "use --attention sdpa")
    model_cfg = model_config(config.model, ARCH_FOR_OBJECTIVE[config.objective], layout.model_vocab_size,
                             max_seq_len=max_len, attention=attention, loss_chunk=config.loss_chunk)
    if attention == "flex" and not (config.compile or config.compile_mode) and env.is_main:
        print("[train] warning: --attention flex without --compile runs FlexAttention unfused, "
              "materialising every score; add --compile", flush=True)
    use_bf16 = config.dtype == "bf16" or (config.dtype == "auto" and device.type == "cuda")
    if config.deterministic:
        torch.use_deterministic_algorithms(True)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 matmuls outside autocast (none in bf16 runs)
        torch.backends.cudnn.allow_tf32 = True

    torch.manual_seed(config.seed)  # the same initial weights on every rank
    model = build_model(model_cfg).to(device)
    optimizer = make_optimizer(model, config, device)
    resume_path = _resolve_resume(config, out_dir)
    start_step, samples = 0, 0
    if resume_path is not None:
        state = load_checkpoint(resume_path)
        _check_resumable(state["config"], config, resume_path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_step = int(state["scheduler"]["step"])
        samples = int(state["data"]["samples_consumed"])
        if state["world_size"] == env.world_size:
            restore_rng(state["rng"][env.rank])
        else:  # data order and masks do not depend on it; only dropout would
            torch.manual_seed(config.seed + start_step * 1009 + env.rank)
    end_step = config.stop_at_step or config.steps

    pin = device.type == "cuda"
    micro = config.micro_batch_size or config.batch_size // env.world_size
    train_windows = TokenWindows(manifest.open_shards("train"), objective.raw_length, objective.stride)
    loader = TrainBatches(train_windows, objective, seed=config.seed, global_batch=config.batch_size,
                          micro_batch=micro, rank=env.rank, world_size=env.world_size,
                          samples_consumed=samples, pin_memory=pin)
    eval_batches = None
    if manifest.splits.get("val") and config.eval_samples > 0:
        val_windows = TokenWindows(manifest.open_shards("val"), objective.raw_length, objective.stride,
                                   split="val")
        eval_batches = EvalBatches(val_windows, objective, seed=config.seed, micro_batch=micro,
                                   num_samples=config.eval_samples, rank=env.rank,
                                   world_size=env.world_size, pin_memory=pin)

    compiled = (torch.compile(model, mode=config.compile_mode)
                if config.compile or config.compile_mode else model)
    ddp_model = (DistributedDataParallel(compiled, device_ids=[device.index] if device.type == "cuda" else None)
                 if env.distributed else compiled)

    def autocast():
        if use_bf16:
            return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    flops_per_sample = train_flops_per_sample(
        model_cfg, config.objective, seq_len,
        targets_length=objective.targets_length if isinstance(objective, SpanObjective) else 0,
        num_predictions=objective.max_predictions if isinstance(objective, MlmObjective) else 0,
    )
    peak = config.peak_tflops * 1e12 if config.peak_tflops else (
        peak_flops_for(torch.cuda.get_device_name(device)) if device.type == "cuda" else None)
    log = RunLog(out_dir, resume_step=start_step if resume_path else None,
                 tensorboard=config.tensorboard, enabled=env.is_main)
    if env.is_main and not config.quiet:
        print(f"[train] {config.objective} {config.model}: {model.num_params():,} params "
              f"(vocab {layout.model_vocab_size}), {train_windows.num_windows:,} train windows of "
              f"{objective.raw_length}, world {env.world_size}, grad accum {loader.grad_accum}, "
              f"device {device}" + (f", document mask via {attention}" if config.doc_mask else "")
              + (f", resumed at step {start_step}" if resume_path else ""), flush=True)

    batches = prefetch(iter(loader), depth=config.prefetch)
    last_loss = last_eval = tokens_per_s = last_mfu = None
    interval_start, interval_steps = time.perf_counter(), 0
    try:
        for step in range(start_step, end_step):
            lr = lr_at(step, config)
            for group in optimizer.param_groups:
                group["lr"] = lr
            micro_batches = next(batches)
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
                sync = contextlib.nullcontext() if (last or not env.distributed) else ddp_model.no_sync()
                with sync:
                    with autocast():
                        micro_loss = ddp_model(**inputs)
                    (micro_loss * scale).backward()
                loss_sum += micro_loss.detach()
            grad_norm = (torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                         if config.grad_clip > 0 else None)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            done, interval_steps = step + 1, interval_steps + 1

            if done % config.log_every == 0 or done == end_step:
                last_loss = (all_reduce_sum(loss_sum, env) / global_targets.to(device)).item()  # syncs
                elapsed = time.perf_counter() - interval_start
                step_flops = flops_per_sample * config.batch_size
                tokens_per_s = interval_steps * config.batch_size * objective.stride / elapsed
                last_mfu = mfu(interval_steps * step_flops / elapsed, peak, env.world_size)
                first_sample = step * config.batch_size
                log.write({
                    "kind": "train", "step": done, "loss": last_loss, "lr": lr,
                    "grad_norm": None if grad_norm is None else float(grad_norm),
                    "num_targets": int(global_targets.item()),
                    "samples_consumed": (step + 1) * config.batch_size,
                    "data_crc32": zlib.crc32(loader.global_window_ids(first_sample).tobytes()),
                    "tokens_per_s": tokens_per_s, "mfu": last_mfu,
                    "step_seconds": elapsed / interval_steps,
                })
                if env.is_main and not config.quiet:
                    shown = "-" if last_mfu is None else f"{last_mfu:.1%}"
                    print(f"[train] step {done}/{config.steps} loss {last_loss:.4f} lr {lr:.2e} "
                          f"tok/s {tokens_per_s:,.0f} mfu {shown}", flush=True)
                interval_start, interval_steps = time.perf_counter(), 0

            paused_at = time.perf_counter()  # eval and checkpoint time stays out of tokens/s
            if eval_batches is not None and (done % config.eval_every == 0 or done == end_step):
                last_eval, eval_tokens = _evaluate(compiled, eval_batches, env, autocast)
                log.write({"kind": "eval", "step": done, "eval_loss": last_eval, "eval_targets": eval_tokens})
                if env.is_main and not config.quiet:
                    print(f"[train] step {done} eval loss {last_eval:.4f}", flush=True)

            if config.checkpoint and ((config.ckpt_every and done % config.ckpt_every == 0) or done == end_step):
                payload = _step_payload(model, optimizer, config, model_cfg, layout, done,
                                        done * config.batch_size, env)
                if env.is_main:
                    save_checkpoint(out_dir, done, payload, keep=config.keep_checkpoints)
                barrier(env)
            interval_start += time.perf_counter() - paused_at
    finally:
        batches.close()
        log.close()
    return TrainResult(out_dir=out_dir, steps_done=end_step, last_loss=last_loss,
                       last_eval_loss=last_eval, tokens_per_s=tokens_per_s, mfu=last_mfu)
