"""Arithmetic and small modules shared by several blocks."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "ACTIVATIONS",
    "HardSigmoid",
    "HardSwish",
    "Swish",
    "check_activation",
    "conv_out",
    "make_activation",
    "make_divisible",
    "pair",
]


def make_divisible(v: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor`` (at least ``divisor``), never more than
    10 % below ``v``. ``int(v + 4)`` truncates first, as the reference format does."""
    half = divisor // 2
    w = max(divisor, divisor * (int(v + half) // divisor))
    if w < 0.9 * v:
        w += divisor
    return w


def pair(value: int | list[int] | tuple[int, ...]) -> tuple[int, int]:
    """An int or a 1/2-element list as (height, width)."""
    if isinstance(value, int):
        return value, value
    if len(value) == 1:
        return value[0], value[0]
    return value[0], value[1]


def conv_out(size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    """Output length of a convolution or pooling along one axis (floor mode)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


class HardSwish(nn.Module):
    """x · relu6(x + 3) / 6."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * F.relu6(x + 3.0) / 6.0


class HardSigmoid(nn.Module):
    """relu6(x + 3) / 6."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(x + 3.0) / 6.0


class Swish(nn.Module):
    """x · sigmoid(x)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x)


# Activations a config may name: torch.nn classes built with no arguments, plus the reference's
# own three. A name table, so a config string never reaches getattr() on a module.
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "ReLU": nn.ReLU,
    "ReLU6": nn.ReLU6,
    "Hardswish": nn.Hardswish,
    "Hardsigmoid": nn.Hardsigmoid,
    "SiLU": nn.SiLU,
    "GELU": nn.GELU,
    "Mish": nn.Mish,
    "ELU": nn.ELU,
    "SELU": nn.SELU,
    "CELU": nn.CELU,
    "LeakyReLU": nn.LeakyReLU,
    "PReLU": nn.PReLU,
    "Sigmoid": nn.Sigmoid,
    "Tanh": nn.Tanh,
    "Softplus": nn.Softplus,
    "Softsign": nn.Softsign,
    "Tanhshrink": nn.Tanhshrink,
    "LogSigmoid": nn.LogSigmoid,
    "Softmax": lambda: nn.Softmax(dim=1),
    "LogSoftmax": lambda: nn.LogSoftmax(dim=1),
    "Identity": nn.Identity,
    "HardSwish": HardSwish,
    "HardSigmoid": HardSigmoid,
    "Swish": Swish,
}


def check_activation(name: str | None) -> str | None:
    """Validate an activation name (for pydantic validators); None means identity."""
    if name is not None and name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(sorted(ACTIVATIONS))}")
    return name


def make_activation(name: str | None) -> nn.Module:
    """Build an activation by name; None gives nn.Identity."""
    if name is None:
        return nn.Identity()
    check_activation(name)
    return ACTIVATIONS[name]()


def gcd(a: int, b: int) -> int:
    return math.gcd(a, b)
