"""MBConv: EfficientNet's mobile inverted bottleneck with squeeze-and-excitation and Swish."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

import torch
from pydantic import Field
from torch import nn

from blocknas.blocks._common import Swish, make_divisible
from blocknas.blocks._reading import (
    DEFAULT_READING,
    VARIANT_KEY,
    MBConvVariant,
    ReferenceReading,
)
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


def _conv_bn_swish(
    c_in: int, c_out: int, kernel: int, stride: int, *, groups: int
) -> nn.Sequential:
    return nn.Sequential(
        _same_pad(kernel, stride),
        nn.Conv2d(c_in, c_out, kernel, stride, 0, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
        Swish(),
    )


class _SqueezeExcite(nn.Module):
    """``se`` = [global average pool, 1×1 conv h→r, Swish, 1×1 conv r→h, sigmoid], as a gate."""

    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.se = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, reduced, 1),
            Swish(),
            nn.Conv2d(reduced, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.se(x)


@register_block("MBConv")
class MBConv(Block):
    """[1×1 expand → BN → Swish] → k×k depthwise → BN → Swish → SE → 1×1 project → BN (+ residual).

    Hidden h = in·expand; SE squeezes to max(1, in // 4) with Swish and a sigmoid gate.
    Reference args ``[expand, out, stride, kernel]``; by default (the template's reading) the output
    channels follow ``expand`` (make_divisible(expand·width)) and ``out`` is ignored; the
    ``channels`` variant (``mbconv_variant: channels``) takes them from ``out`` as several forks do.
    Named rows mean what they say.
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
        # One ``conv`` sequence, as the format names the sub-layers for checkpoints: each
        # ConvBNAct is a [pad, conv, BN, Swish] sub-sequence (the 1×1 expand gets a zero pad).
        layers: list[nn.Module] = []
        if args.expand != 1:
            layers.append(_conv_bn_swish(in_channels, h, 1, 1, groups=1))
        layers += [
            _conv_bn_swish(h, h, args.kernel, args.stride, groups=h),
            _SqueezeExcite(h, r),
            nn.Conv2d(h, args.out, 1, bias=False),
            nn.BatchNorm2d(args.out),
        ]
        self.conv = nn.Sequential(*layers)
        self.residual = args.stride == 1 and in_channels == args.out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return x + y if self.residual else y

    @classmethod
    def out_size(cls, size: Size, args: MBConvArgs) -> Size:
        assert size is not None
        p = max(args.kernel - args.stride, 0)
        return tuple((s + p - args.kernel) // args.stride + 1 for s in size)  # type: ignore[return-value]

    @classmethod
    def from_reference(
        cls,
        values: Sequence[Any],
        width: float,
        repeat: int,
        reading: ReferenceReading = DEFAULT_READING,
    ) -> Reference:
        args = cls._positional(values, repeat)
        t = args["expand"]
        if isinstance(t, bool) or not isinstance(t, int):
            raise ValueError(f"argument 'expand' (t) must be an integer, got {t!r}")
        if reading.mbconv_variant is MBConvVariant.CHANNELS:
            # The forks' reading: the channel argument, scaled like any other block's.
            return super().from_reference(values, width, repeat, reading)
        out = make_divisible(t * width)
        notes = []
        if args["out"] != out:
            notes.append(
                f"channel argument {args['out']} ignored (reference semantics); "
                f"output has {out} channels; for the forks' reading (output from the channel "
                f"argument) set '{VARIANT_KEY}: {MBConvVariant.CHANNELS.value}' in the file "
                f"or pass --mbconv-variant {MBConvVariant.CHANNELS.value}"
            )
        return Reference({**args, "out": out}, tuple(notes))

    @classmethod
    def reading_in_force(cls, reading: ReferenceReading) -> str | None:
        v = reading.mbconv_variant
        return f"MBConv reference rows follow {VARIANT_KEY}: {v.value} ({v.rule})"
