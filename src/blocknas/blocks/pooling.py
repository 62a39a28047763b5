"""Pooling blocks: MaxPool, AvgPool and GlobalAvgPool."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import torch
from pydantic import Field
from torch import nn

from blocknas.blocks._reading import DEFAULT_READING, ReferenceReading
from blocknas.blocks._registry import (
    Block,
    BlockArgs,
    Reference,
    RepeatStride,
    Size,
    register_block,
)

__all__ = ["AvgPool", "AvgPoolArgs", "GlobalAvgPool", "MaxPool", "MaxPoolArgs", "PoolArgs"]

Pos = Annotated[int, Field(gt=0)]


class PoolArgs(BlockArgs):
    kernel: Pos = 2
    stride: Pos | None = None  # None: the kernel size
    padding: Annotated[int, Field(ge=0)] = 0
    ceil_mode: bool = False


class MaxPoolArgs(PoolArgs):
    dilation: Pos = 1


class AvgPoolArgs(PoolArgs):
    count_include_pad: bool = True
    divisor_override: Pos | None = None


def _pool_len(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    span = size + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1  # the last window must start inside the input or left padding (PyTorch's rule)
    return out


class _Pool(Block):
    """Reference rows are nn.MaxPool2d / nn.AvgPool2d's positional arguments, passed straight on."""

    Args = PoolArgs
    changes_channels = False
    reference_required = 1  # [2]: kernel 2, stride 2, as nn.MaxPool2d(2)
    repeat_stride = RepeatStride.EACH

    def __init__(self, in_channels: int, args: PoolArgs) -> None:
        super().__init__(in_channels, args)
        self.pool = self._layer(args)

    @classmethod
    def _layer(cls, args: Any) -> nn.Module:
        raise NotImplementedError

    @classmethod
    def _dilation(cls, args: Any) -> int:
        return 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x)

    @classmethod
    def out_size(cls, size: Size, args: PoolArgs) -> Size:
        assert size is not None
        s, d = args.stride or args.kernel, cls._dilation(args)
        return tuple(_pool_len(n, args.kernel, s, args.padding, d, args.ceil_mode) for n in size)  # type: ignore[return-value]

    @classmethod
    def validate_input(cls, in_channels: int, size: Size, args: PoolArgs) -> None:
        super().validate_input(in_channels, size, args)
        if args.padding > args.kernel // 2:
            raise ValueError(f"padding {args.padding} exceeds half the kernel {args.kernel}")

    @classmethod
    def from_reference(
        cls,
        values: Sequence[Any],
        width: float,
        repeat: int,
        reading: ReferenceReading = DEFAULT_READING,
    ) -> Reference:
        if len(values) >= 3 and isinstance(values[2], bool):
            # One fork's generator writes [kernel, stride, ceil_mode]; torch itself refuses a
            # bool padding, so a bool there can only mean that layout.
            if len(values) > 3:
                raise ValueError(
                    f"a bool third argument is read as ceil_mode ([kernel, stride, ceil_mode]), "
                    f"so nothing may follow it; got {len(values)} arguments"
                )
            kernel, stride, ceil_mode = values
            note = (
                f"third argument {ceil_mode} read as ceil_mode ([kernel, stride, ceil_mode]); "
                "padding 0"
            )
            return Reference({"kernel": kernel, "stride": stride, "ceil_mode": ceil_mode}, (note,))
        args = cls._positional(values, repeat)
        indices = args.pop("return_indices", None)
        if indices:  # torch only tests its truth
            raise ValueError(
                f"argument 'return_indices' = {indices!r}: a pool that also returns its indices "
                "cannot feed the next row; leave it false"
            )
        return Reference(args, ())


@register_block("MaxPool")
class MaxPool(_Pool):
    """Max pooling. Reference args as nn.MaxPool2d: ``[kernel, stride=kernel, padding=0, dilation=1,
    return_indices=False, ceil_mode=False]``, or ``[kernel, stride, ceil_mode]`` when the third is a
    bool; each repeated copy keeps its stride."""

    Args = MaxPoolArgs
    reference_args = ("kernel", "stride", "padding", "dilation", "return_indices", "ceil_mode")
    examples = (
        {},
        {"kernel": 3, "stride": 2, "padding": 1},
        {"kernel": 3, "ceil_mode": True},
        {"kernel": 2, "stride": 1, "dilation": 2},
    )

    @classmethod
    def _layer(cls, args: MaxPoolArgs) -> nn.Module:
        s = args.stride or args.kernel
        return nn.MaxPool2d(args.kernel, s, args.padding, args.dilation, ceil_mode=args.ceil_mode)

    @classmethod
    def _dilation(cls, args: MaxPoolArgs) -> int:
        return args.dilation


@register_block("AvgPool")
class AvgPool(_Pool):
    """Average pooling. Reference args as nn.AvgPool2d: ``[kernel, stride=kernel, padding=0,
    ceil_mode=False, count_include_pad=True, divisor_override=None]``, or
    ``[kernel, stride, ceil_mode]`` when the third is a bool."""

    Args = AvgPoolArgs
    reference_args = (
        "kernel", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override",
    )  # fmt: skip
    examples = (
        {},
        {"kernel": 3, "stride": 2, "padding": 1, "count_include_pad": False},
        {"kernel": 3, "ceil_mode": True, "divisor_override": 4},
    )

    @classmethod
    def _layer(cls, args: AvgPoolArgs) -> nn.Module:
        s = args.stride or args.kernel
        return nn.AvgPool2d(
            args.kernel, s, args.padding, args.ceil_mode, args.count_include_pad,
            args.divisor_override,
        )  # fmt: skip


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
