"""Checkpoints: tensors and plain containers only, so `torch.load(weights_only=True)` reads them.

Contents: model and optimizer state dicts, the step (the schedule is a function of it), the data
position (seed, samples consumed), every rank's torch RNG states and Python's `random` state, the
config, the model config and the vocabulary layout. numpy's global RNG is not used anywhere (every
random draw comes from an explicitly seeded Generator), so there is no numpy state to keep.
"""
from __future__ import annotations

import os
import random
import re
from pathlib import Path

import torch

CHECKPOINT_FORMAT = 1
_NAME = re.compile(r"^step-(\d{8})\.pt$")


def checkpoint_dir(out_dir: Path) -> Path:
    return out_dir / "checkpoints"


def checkpoint_path(out_dir: Path, step: int) -> Path:
    return checkpoint_dir(out_dir) / f"step-{step:08d}.pt"


def list_checkpoints(out_dir: Path) -> list[Path]:
    directory = checkpoint_dir(out_dir)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if _NAME.match(p.name))


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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": CHECKPOINT_FORMAT, "step": step, **payload}, tmp)
    os.replace(tmp, path)
    if keep > 0:
        for old in list_checkpoints(out_dir)[:-keep]:
            old.unlink()
    return path


def load_checkpoint(path: str | os.PathLike) -> dict:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path}: checkpoint format {state.get('format')} but this trainer reads "
            f"{CHECKPOINT_FORMAT}; resume with the corpusmill version that wrote it"
        )
    return state
