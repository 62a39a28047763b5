"""MBConv: EfficientNet's mobile inverted bottleneck with squeeze-and-excitation and Swish."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

import torch
from pydantic import Field
from torch import nn

from blocknas.blocks._common import Swish, make_divisible
from blocknas.blocks._registry import Block, BlockArgs, Reference, Size, register_block

__all__ = ["MBConv", "MBConvArgs"]


class MBConvArgs(BlockArgs):
    expand: Annotated[int, Field(gt=0)] = 6
    out: Annotated[int, Field(gt=0)]
    stride: Literal[1, 2] = 1
    kernel: Literal[3, 5] = 3


def _same_pad(kernel: int, stride: int) -> nn.ZeroPad2d:
    """TensorFlow-style asymmetric 'same' padding: p = max(k - s, 0), the extra pixel right/bottom."""
    p = max(kernel - stride, 0)
    return nn.ZeroPad2d((p // 2, p - p // 2, p // 2, p - p // 2))


@register_block("MBConv")
class MBConv(Block):
    """[1×1 expand → BN → Swish] → k×k depthwise → BN → Swish → SE → 1×1 project → BN (+ residual).

    Hidden h = in·expand; SE squeezes to max(1, in // 4) with Swish and a sigmoid gate.
    Reference args ``[expand, out, stride, kernel]``; there the output channels follow
    ``expand`` (make_divisible(expand·width)) and ``out`` is ignored. Named rows mean what they say.
    """

    Args = MBConvArgs
    reference_args = ("expand", "out", "stride", "kernel")
    examples = ({"expand": 1, "out": 16}, {"expand": 6, "out": 24, "stride": 2, "kernel": 5})
    reference_required = 4
    width_arg = "out"
    reference_always_sequential = True
    reference_zero_repeat = 0

    def __init__(self, in_channels: int, args: MBConvArgs) -> None:
        super().__init__(in_channels, args)
        h = in_channels * args.expand
        r = max(1, in_channels // 4)
        layers: list[nn.Module] = []
        if args.expand != 1:
            layers.append(
                nn.Sequential(nn.Conv2d(in_channels, h, 1, bias=False), nn.BatchNorm2d(h), Swish())
            )
        layers.append(
            nn.Sequential(
                _same_pad(args.kernel, args.stride),
                nn.Conv2d(h, h, args.kernel, args.stride, 0, groups=h, bias=False),
                nn.BatchNorm2d(h),
                Swish(),
            )
        )
        self.conv = nn.Sequential(*layers)
        self.se = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(h, r, 1), Swish(), nn.Conv2d(r, h, 1), nn.Sigmoid()
        )
        self.project = nn.Sequential(
            nn.Conv2d(h, args.out, 1, bias=False), nn.BatchNorm2d(args.out)
        )
        self.residual = args.stride == 1 and in_channels == args.out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        y = self.project(y * self.se(y))
        return x + y if self.residual else y

    @classmethod
    def out_size(cls, size: Size, args: MBConvArgs) -> Size:
        assert size is not None
        p = max(args.kernel - args.stride, 0)
        return tuple((s + p - args.kernel) // args.stride + 1 for s in size)  # type: ignore[return-value]

    @classmethod
    def from_reference(cls, values: Sequence[Any], width: float, repeat: int) -> Reference:
        args = cls._positional(values, repeat)
        t = args["expand"]
        if isinstance(t, bool) or not isinstance(t, int):
            raise ValueError(f"argument 'expand' (t) must be an integer, got {t!r}")
        out = make_divisible(t * width)
        notes = []
        if args["out"] != out:
            notes.append(
                f"channel argument {args['out']} ignored (reference semantics); "
                f"output has {out} channels"
            )
        return Reference({**args, "out": out}, tuple(notes))
