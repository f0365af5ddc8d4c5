"""Checkpoints: tensors and plain containers only, so `torch.load(weights_only=True)` reads them.

Two layouts, one per way of holding the model:
- `checkpoints/step-NNNNNNNN.pt`: one file written by rank 0 (one process, DDP).
- `checkpoints/step-NNNNNNNN/` (--parallel fsdp, any number of processes): a
  torch.distributed.checkpoint directory in which every rank writes its own shards of the model and
  optimizer state, plus `trainer_state.pt` (rank 0) with everything else. torch.distributed.checkpoint reshards on load, so a run saved by N processes
  resumes on M (one process included) with the same weights and optimizer state. Its metadata is
  read from `metadata.json` and every value with `weights_only=True` (train/sharded_checkpoint_io.py):
  DCP's own `.metadata` pickle, kept for torch's tools, is never opened.

Contents: model and optimizer state dicts, the step (the schedule is a function of it), the data
position (seed, samples consumed), every rank's torch RNG states and Python's `random` state, the
config, the model config and the vocabulary layout. numpy's global RNG is not used anywhere (every
random draw comes from an explicitly seeded Generator), so there is no numpy state to keep.
"""
from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path

import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

from tokenization.atomic_files import atomic_path
from train.distributed import DistEnv, barrier
from train.sharded_checkpoint_io import JsonMetadataReader, JsonMetadataWriter, WeightsOnlyLoadPlanner

CHECKPOINT_FORMAT = 1
_NAME = re.compile(r"^step-(\d{8})(\.pt)?$")
SHARDED_STATE_NAME = "trainer_state.pt"  # inside a sharded checkpoint directory


def checkpoint_dir(out_dir: Path) -> Path:
    return out_dir / "checkpoints"


def checkpoint_path(out_dir: Path, step: int) -> Path:
    return checkpoint_dir(out_dir) / f"step-{step:08d}.pt"


def sharded_checkpoint_path(out_dir: Path, step: int) -> Path:
    return checkpoint_dir(out_dir) / f"step-{step:08d}"


def is_sharded_checkpoint(path: Path) -> bool:
    return (Path(path) / SHARDED_STATE_NAME).is_file()


def list_checkpoints(out_dir: Path) -> list[Path]:
    """Finished checkpoints of either layout, oldest step first."""
    directory = checkpoint_dir(out_dir)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir()
             if _NAME.match(p.name) and (p.is_file() or is_sharded_checkpoint(p))]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))


def latest_checkpoint(out_dir: Path) -> Path | None:
    found = list_checkpoints(out_dir)
    return found[-1] if found else None


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def restore_rng(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def save_checkpoint(out_dir: Path, step: int, payload: dict, *, keep: int) -> Path:
    """Write atomically (temporary name, then rename) and keep only the newest `keep`."""
    path = checkpoint_path(out_dir, step)
    with atomic_path(path) as tmp:  # the one temporary-name style (tokenization.atomic_files)
        torch.save({"format": CHECKPOINT_FORMAT, "step": step, **payload}, tmp)
    _drop_old(out_dir, keep)
    return path


def _drop_old(out_dir: Path, keep: int) -> None:
    if keep > 0:
        for old in list_checkpoints(out_dir)[:-keep]:
            shutil.rmtree(old) if old.is_dir() else old.unlink()


def save_sharded_checkpoint(out_dir: Path, step: int, model, optimizer, payload: dict, env: DistEnv,
                            *, keep: int) -> Path:
    """Every rank writes its shards into a temporary directory; after all have, rank 0 adds the
    trainer state and renames it (so a listed checkpoint is always complete). Collective."""
    path = sharded_checkpoint_path(out_dir, step)
    # A directory every rank writes into, so its temporary name must be one all ranks agree on
    # (atomic_path's is random per writer); a killed save's leftover is removed by the next one.
    tmp = path.with_name(path.name + ".tmp")
    if env.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier(env)
    model_state, optimizer_state = get_state_dict(model, optimizer)
    dcp.save({"model": model_state, "optimizer": optimizer_state}, storage_writer=JsonMetadataWriter(tmp))
    barrier(env)  # every rank's shards are written (and no rank leaves while another still saves)
    if env.is_main:
        torch.save({"format": CHECKPOINT_FORMAT, "step": step, **payload}, tmp / SHARDED_STATE_NAME)
        os.replace(tmp, path)
        _drop_old(out_dir, keep)
    barrier(env)
    return path


def load_sharded_weights(path: Path, model, optimizer) -> None:
    """Load a sharded checkpoint's model and optimizer state into `model` (FSDP-sharded, DDP or
    plain: each takes the part it holds) and `optimizer`. Collective when distributed."""
    model_state, optimizer_state = get_state_dict(model, optimizer)  # the layout to fill
    state = {"model": model_state, "optimizer": optimizer_state}
    load_sharded_state(state, path)
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"])


def load_sharded_state(state: dict, path: Path) -> None:
    """Fill `state` (tensors of the layout to load into) from a sharded checkpoint, reading its
    metadata from JSON and every value with weights_only=True. Collective when distributed."""
    reader = JsonMetadataReader(path)
    reader.read_metadata()  # refuses a missing or tampered metadata.json here, before DCP wraps the error
    dcp.load(state, storage_reader=reader, planner=WeightsOnlyLoadPlanner())


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A .pt checkpoint, or a sharded checkpoint's trainer state (its weights: load_sharded_weights)."""
    if is_sharded_checkpoint(Path(path)):
        path = Path(path) / SHARDED_STATE_NAME
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path}: checkpoint format {state.get('format')} but this trainer reads "
            f"{CHECKPOINT_FORMAT}; resume with the corpusmill version that wrote it"
        )
    return state
