"""Checkpoint files: written atomically, read with ``weights_only=True``.

A checkpoint holds only tensors and plain containers (dict, list, str, int, float, bool, None),
so the safe unpickler can read it and a file from elsewhere cannot run code.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from blocknas._io import atomic_file
from blocknas.errors import TrainingError

__all__ = [
    "FORMAT",
    "load_checkpoint",
    "load_weights",
    "rng_state",
    "save_checkpoint",
    "set_rng_state",
]

FORMAT = "blocknas-checkpoint/1"


def save_checkpoint(payload: dict[str, Any], path: Path) -> None:
    """Write ``payload`` to ``path`` atomically: a reader sees the old file or the new one,
    never a partial write, even if the process is interrupted or the disk is full."""
    with atomic_file(path, "wb") as fh:
        torch.save({"format": FORMAT, **payload}, fh)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors and plain data only).
    A file that is missing, empty, truncated, or holds anything but plain data is a one-line
    :class:`TrainingError` naming it; nothing in the file is executed."""
    if not path.exists():
        raise TrainingError(f"checkpoint {path} does not exist")
    if not path.is_file():
        raise TrainingError(f"checkpoint {path} is not a file")
    if path.stat().st_size == 0:
        raise TrainingError(f"checkpoint {path} is empty (0 bytes): the write that made it was "
                            "cut short")  # fmt: skip
    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol of a foreign file
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower():
            # torch's message suggests weights_only=False, i.e. running the file's code: never.
            raise TrainingError(
                f"{path} is not a plain weights checkpoint: it holds Python objects or code, "
                "which blocknas does not load"
            ) from None
        raise TrainingError(f"cannot read checkpoint {path}: the file is damaged") from None
    except OSError as exc:
        raise TrainingError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    except Exception:
        raise TrainingError(
            f"cannot read checkpoint {path}: the file is truncated or damaged (or not a "
            "checkpoint)"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise TrainingError(f"{path} is not a blocknas checkpoint (format {FORMAT})")
    weights = payload.get("model")
    if not isinstance(weights, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()
    ):
        raise TrainingError(f"{path} holds no model weights (a 'model' mapping of tensors)")
    return payload


def load_weights(model: nn.Module, path: Path, what: str | Path = "the model") -> None:
    """Load a checkpoint's weights into ``model``; weights of another architecture are a
    one-line :class:`TrainingError` instead of torch's list of every mismatched tensor."""
    try:
        model.load_state_dict(load_checkpoint(path)["model"])
    except RuntimeError as exc:
        # torch lists every mismatched tensor on its own line; the first one says enough.
        first = next((line.strip() for line in str(exc).splitlines()[1:] if line.strip()), "")
        first = first if len(first) <= 160 else first[:157] + "..."
        raise TrainingError(f"{path} does not hold weights of {what}: {first}") from None


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
