"""How the model is spread over processes: DDP (a whole replica per process) or FSDP2
(`torch.distributed.fsdp.fully_shard` per transformer block, then the root), and the gradient-sync
switch for accumulation micro-batches. One process (no process group) trains the bare model.

FSDP2's reduce-scatter averages gradients over ranks exactly as DDP's all-reduce does, so the
loop's loss scaling (train.loop) is the same for both. Mixed precision under FSDP: parameters
all-gathered in bf16 for the forward/backward, gradients reduced in fp32, the sharded master
weights and the optimizer state kept in fp32 (torchtitan's default policy).
"""
from __future__ import annotations

import contextlib

import torch
from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard
from torch.nn.parallel import DistributedDataParallel

from train.distributed import DistEnv


def shards_parameters(parallel: str, env: DistEnv) -> bool:
    """FSDP is only in effect with more than one process."""
    return parallel == "fsdp" and env.distributed


def shard_model(model: torch.nn.Module, *, bf16: bool) -> torch.nn.Module:
    """fully_shard each block (one all-gather per block, freed after its forward) and the root
    (embeddings, final norm, head). In place; the parameters become DTensors."""
    policy = (MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
              if bf16 else MixedPrecisionPolicy())
    for block in model.transformer_blocks():
        fully_shard(block, mp_policy=policy)
    fully_shard(model, mp_policy=policy)
    return model


def wrap_for_ddp(model: torch.nn.Module, env: DistEnv) -> torch.nn.Module:
    if not env.distributed:
        return model
    return DistributedDataParallel(model, device_ids=[env.device.index] if env.device.type == "cuda" else None)


def gradient_sync(model: torch.nn.Module, enabled: bool):
    """A context in which backward passes do (enabled) or do not yet reduce gradients across ranks:
    DDP's no_sync, FSDP2's set_requires_gradient_sync; nothing to do for one process."""
    if enabled:
        return contextlib.nullcontext()
    if isinstance(model, DistributedDataParallel):
        return model.no_sync()
    fsdp_root = getattr(model, "_orig_mod", model)  # under torch.compile
    if isinstance(fsdp_root, FSDPModule):
        return _fsdp_no_sync(fsdp_root)
    return contextlib.nullcontext()


@contextlib.contextmanager
def _fsdp_no_sync(model: FSDPModule):
    model.set_requires_gradient_sync(False)
    try:
        yield
    finally:
        model.set_requires_gradient_sync(True)


def full_value(tensor: torch.Tensor | None) -> float | None:
    """A scalar that may be a DTensor (FSDP's gradient norm) as a Python float."""
    if tensor is None:
        return None
    full = getattr(tensor, "full_tensor", None)
    return float(full() if full is not None else tensor)
