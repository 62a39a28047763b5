"""Optimizer and per-step learning-rate schedule of the training recipe."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR

from blocknas.train._config import TrainConfig

__all__ = ["build_optimizer", "build_scheduler", "param_groups"]

_NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two groups: weights that decay, and norm / bias parameters that must not.

    Decaying a norm layer's scale or any bias only pulls it towards zero without regularising
    the function (they do not set the model's capacity), so they are excluded, as in the
    usual ImageNet recipes. Any other 1-D parameter (a PReLU slope) is treated the same way.
    """
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    seen: set[int] = set()
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            exempt = isinstance(module, _NORMS) or name == "bias" or param.ndim <= 1
            (no_decay if exempt else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD (momentum, optionally Nesterov) or AdamW over :func:`param_groups`."""
    groups = param_groups(model, cfg.decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.peak_lr)
    return torch.optim.SGD(
        groups, lr=cfg.peak_lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0
    )


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    cfg: TrainConfig,
    steps_per_epoch: int,
    *,
    total_steps: int | None = None,
) -> LRScheduler:
    """A schedule stepped once per batch, over ``cfg.epochs · steps_per_epoch`` steps, or
    ``total_steps`` when the epochs differ in length (some train on a fraction of the data).

    ``onecycle``: torch's OneCycleLR with the warm-up share as ``pct_start`` (the reference
    recipe: peak ``lr``, 5 % warm-up, cosine annealing).
    ``cosine``: linear warm-up from 0 to ``lr``, then cosine decay to 0.
    ``linear``: linear warm-up from 0 to ``lr``, then linear decay to 0 (the triangular
    schedule of the short CIFAR-10 speed-run recipes, which spend more steps near the peak than
    a cosine does).
    """
    total = max(2, total_steps if total_steps is not None else cfg.epochs * steps_per_epoch)
    if cfg.schedule == "onecycle":
        return OneCycleLR(
            optimizer,
            max_lr=cfg.peak_lr,
            total_steps=total,
            # OneCycleLR divides by the warm-up length in steps minus one: keep it above 1.
            pct_start=max(cfg.warmup, 1.5 / total),
            # Momentum cycling is part of one-cycle but has no meaning for AdamW's betas here.
            cycle_momentum=cfg.optimizer == "sgd" and cfg.momentum > 0,
        )
    warmup = round(cfg.warmup * total)
    return LambdaLR(optimizer, _WarmupAnneal(warmup, total, linear=cfg.schedule == "linear"))


class _WarmupAnneal:
    """LR factor at step s: linear from 1/(w+1) to 1 over w steps, then half a cosine (or a
    straight line, ``linear``) to 0.

    A class rather than a closure so LambdaLR's state_dict stores its plain values.
    """

    def __init__(self, warmup: int, total: int, *, linear: bool = False) -> None:
        self.warmup = warmup
        self.total = total
        self.linear = linear

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        progress = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        if self.linear:
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))
