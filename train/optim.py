"""AdamW with decay on matrices only, and the learning-rate schedule (a pure function of the step,
so the scheduler's whole state is the step number)."""
from __future__ import annotations

import math

import torch

from train.config import TrainConfig


def make_optimizer(model: torch.nn.Module, config: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]  # matmul weights and embeddings
    no_decay = [p for p in params if p.dim() < 2]  # norms (and biases, were there any)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=config.resolved_lr(),
        betas=(config.beta1, config.beta2),
        fused=device.type == "cuda",  # one kernel per step for all parameters
    )


def lr_at(step: int, config: TrainConfig) -> float:
    """Learning rate for the 0-based optimizer step `step` of `config.steps`.

    Linear warmup from lr/warmup to lr, then cosine decay to min_lr_ratio * lr at the last step,
    or (wsd) constant until the last `decay_fraction` of steps, then linear decay to the minimum.
    """
    peak = config.resolved_lr()
    floor = peak * config.min_lr_ratio
    warmup = config.resolved_warmup()
    total = config.steps
    if step < warmup:
        return peak * (step + 1) / warmup
    if config.schedule == "cosine":
        progress = min(1.0, (step - warmup) / max(1, total - 1 - warmup))
        return floor + 0.5 * (1.0 + math.cos(math.pi * progress)) * (peak - floor)
    decay_steps = max(1, round(config.decay_fraction * total))
    decay_start = max(warmup, total - decay_steps)
    if step < decay_start:
        return peak
    progress = min(1.0, (step - decay_start + 1) / max(1, total - decay_start))
    return peak + progress * (floor - peak)
