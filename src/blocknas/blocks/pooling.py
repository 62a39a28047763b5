"""Pooling blocks: MaxPool, AvgPool and GlobalAvgPool."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any

import torch
from pydantic import Field
from torch import nn

from blocknas.blocks._registry import (
    Block,
    BlockArgs,
    Reference,
    RepeatStride,
    Size,
    register_block,
)

__all__ = ["AvgPool", "GlobalAvgPool", "MaxPool", "PoolArgs"]

Pos = Annotated[int, Field(gt=0)]


class PoolArgs(BlockArgs):
    kernel: Pos = 2
    stride: Pos | None = None  # None: the kernel size
    padding: Annotated[int, Field(ge=0)] = 0
    ceil_mode: bool = False


def _pool_len(size: int, k: int, s: int, p: int, ceil_mode: bool) -> int:
    span = size + 2 * p - k
    out = (math.ceil(span / s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1  # the last window must start inside the input (PyTorch's rule)
    return out


class _Pool(Block):
    Args = PoolArgs
    changes_channels = False
    reference_args = ("kernel", "stride", "ceil_mode")
    examples = ({}, {"kernel": 3, "stride": 2, "padding": 1}, {"kernel": 3, "ceil_mode": True})
    reference_required = 3
    reference_extra_ignored = True
    repeat_stride = RepeatStride.EACH
    layer: type[nn.MaxPool2d] | type[nn.AvgPool2d] = nn.MaxPool2d

    def __init__(self, in_channels: int, args: PoolArgs) -> None:
        super().__init__(in_channels, args)
        self.pool = self.layer(
            args.kernel, args.stride or args.kernel, args.padding, ceil_mode=args.ceil_mode
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x)

    @classmethod
    def out_size(cls, size: Size, args: PoolArgs) -> Size:
        assert size is not None
        s = args.stride or args.kernel
        return tuple(_pool_len(n, args.kernel, s, args.padding, args.ceil_mode) for n in size)  # type: ignore[return-value]

    @classmethod
    def validate_input(cls, in_channels: int, size: Size, args: PoolArgs) -> None:
        super().validate_input(in_channels, size, args)
        if args.padding > args.kernel // 2:
            raise ValueError(f"padding {args.padding} exceeds half the kernel {args.kernel}")

    @classmethod
    def from_reference(cls, values: Sequence[Any], width: float, repeat: int) -> Reference:
        if 1 <= len(values) < 3:
            # The reference fails to build with fewer than three arguments; read it leniently.
            args = dict(zip(("kernel", "stride"), values, strict=False))
            return Reference(args, ("fewer than 3 arguments: stride = kernel, ceil_mode = false",))
        args = cls._positional(values, repeat)
        return Reference(args, ())


@register_block("MaxPool")
class MaxPool(_Pool):
    """Max pooling. Reference args ``[kernel, stride, ceil_mode]``; each repeated copy keeps its stride."""

    layer = nn.MaxPool2d


@register_block("AvgPool")
class AvgPool(_Pool):
    """Average pooling. Reference args ``[kernel, stride, ceil_mode]``."""

    layer = nn.AvgPool2d


class GlobalPoolArgs(BlockArgs):
    output_size: Pos = 1


@register_block("GlobalAvgPool")
class GlobalAvgPool(Block):
    """Adaptive average pooling to ``output_size``×``output_size`` (4-D output). Reference ``[output_size]``."""

    Args = GlobalPoolArgs
    changes_channels = False
    reference_args = ("output_size",)
    examples = ({}, {"output_size": 2})
    single = True

    def __init__(self, in_channels: int, args: GlobalPoolArgs) -> None:
        super().__init__(in_channels, args)
        self.pool = nn.AdaptiveAvgPool2d(args.output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x)

    @classmethod
    def out_size(cls, size: Size, args: GlobalPoolArgs) -> Size:
        return args.output_size, args.output_size
