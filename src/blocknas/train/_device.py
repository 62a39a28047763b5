"""Where a run executes, and the device-dependent choices that follow from it."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from blocknas.errors import ConfigError
from blocknas.train._config import TrainConfig

__all__ = ["Placement", "check_device", "resolve_placement"]


@dataclass(frozen=True)
class Placement:
    """The device and the memory-format / precision choices made for it."""

    device: torch.device
    channels_last: bool
    amp: bool  # float16 autocast + gradient scaler

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format


def check_device(name: str) -> torch.device:
    """The device a user named (``auto``, ``cpu``, ``cuda``, ``cuda:1``), checked to exist here."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError(
            f"device {name!r} is not a device name (auto, cpu, cuda, cuda:1, ...)"
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} asked for, but CUDA is not available")
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"device {name!r} asked for, but only {torch.cuda.device_count()} "
                "CUDA device(s) exist"
            )
        device = torch.device("cuda", index)
    elif device.type != "cpu":
        raise ConfigError(f"device {name!r}: blocknas runs on cpu or cuda devices")
    return device


def resolve_placement(cfg: TrainConfig) -> Placement:
    """Turn ``device``/``channels_last``/``amp`` into concrete choices.

    ``channels_last: auto`` is on for CPU and CUDA alike: on CPU (torch 2.14, x86-64) it measured
    1.3-2.5x faster per training step than contiguous tensors for every convnet tried, from an
    8×8 digits net to MobileNetV2 (benchmarks/train_throughput.py, BENCHMARKS.md). Mixed
    precision is a CUDA feature here; on CPU ``amp`` is ignored.
    """
    device = check_device(cfg.device)
    on_cuda = device.type == "cuda"
    channels_last = cfg.channels_last is not False  # "auto" or True
    return Placement(device=device, channels_last=channels_last, amp=cfg.amp and on_cuda)
