"""Checkpoint files: written atomically, read with ``weights_only=True``.

A checkpoint holds only tensors and plain containers (dict, list, str, int, float, bool, None),
so the safe unpickler can read it and a file from elsewhere cannot run code.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from blocknas.errors import TrainingError

__all__ = ["FORMAT", "load_checkpoint", "rng_state", "save_checkpoint", "set_rng_state"]

FORMAT = "blocknas-checkpoint/1"


def save_checkpoint(payload: dict[str, Any], path: Path) -> None:
    """Write ``payload`` to ``path`` atomically: a reader sees the old file or the new one,
    never a partial write, even if the process is interrupted."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save({"format": FORMAT, **payload}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors and plain data only)."""
    if not path.is_file():
        raise TrainingError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise TrainingError(f"cannot read checkpoint {path}: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise TrainingError(f"{path} is not a blocknas checkpoint (format {FORMAT})")
    return payload


def rng_state(device: torch.device) -> dict[str, Any]:
    """The generator states a training step consumes (dropout, stochastic blocks)."""
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    """Restore :func:`rng_state`. The states are byte tensors that torch only accepts on the
    CPU; a checkpoint loaded with ``map_location`` a CUDA device holds them there."""
    torch.set_rng_state(state["cpu"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)
