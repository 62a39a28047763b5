"""Convolution blocks: Conv, FixedConv, DWConv (conv → BN → activation)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar

import torch
from pydantic import Field, field_validator
from torch import nn

from blocknas.blocks._common import check_activation, conv_out, make_activation, pair
from blocknas.blocks._reading import DEFAULT_READING, ReferenceReading
from blocknas.blocks._registry import (
    Block,
    BlockArgs,
    Reference,
    RepeatStride,
    Size,
    register_block,
)

__all__ = ["Conv", "ConvArgs", "DWConv", "DWConvArgs", "FixedConv"]

Pos = Annotated[int, Field(gt=0)]
Kernel = Pos | Annotated[list[Pos], Field(min_length=1, max_length=2)]
Padding = (
    Annotated[int, Field(ge=0)]
    | Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1, max_length=2)]
)


class DWConvArgs(BlockArgs):
    out: Pos
    kernel: Kernel = 3
    stride: Pos = 1
    padding: Padding | None = None  # None: "same" for odd kernels (kernel // 2 per side)
    act: str | None = "ReLU"

    _act = field_validator("act")(lambda cls, v: check_activation(v))


class ConvArgs(DWConvArgs):
    groups: Pos = 1


def resolve_padding(kernel: int | list[int], padding: int | list[int] | None) -> tuple[int, int]:
    """Per-dimension padding: None means kernel // 2; an int or [p] pads all sides; [ph, pw]."""
    if padding is None:
        kh, kw = pair(kernel)
        return kh // 2, kw // 2
    return pair(padding)


class _ConvBNAct(Block):
    """Conv (no bias) → BatchNorm → activation, with sub-modules ``conv``, ``bn``, ``act``."""

    width_arg: ClassVar[str | None] = "out"
    repeat_stride = RepeatStride.LAST
    reference_required = 2
    reference_required_repeated = 3

    def __init__(self, in_channels: int, args: Any) -> None:
        super().__init__(in_channels, args)
        self.conv = nn.Conv2d(
            in_channels,
            args.out,
            pair(args.kernel),
            args.stride,
            resolve_padding(args.kernel, args.padding),
            groups=self.groups(in_channels, args),
            bias=False,
        )
        self.bn = nn.BatchNorm2d(args.out)
        self.act = make_activation(args.act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    @classmethod
    def groups(cls, in_channels: int, args: Any) -> int:
        return args.groups

    @classmethod
    def out_size(cls, size: Size, args: Any) -> Size:
        assert size is not None
        kh, kw = pair(args.kernel)
        ph, pw = resolve_padding(args.kernel, args.padding)
        return conv_out(size[0], kh, args.stride, ph), conv_out(size[1], kw, args.stride, pw)

    @classmethod
    def validate_input(cls, in_channels: int, size: Size, args: Any) -> None:
        super().validate_input(in_channels, size, args)
        g = cls.groups(in_channels, args)
        if in_channels % g or args.out % g:
            raise ValueError(
                f"groups {g} must divide both input channels {in_channels} and output {args.out}"
            )

    @classmethod
    def from_reference(
        cls,
        values: Sequence[Any],
        width: float,
        repeat: int,
        reading: ReferenceReading = DEFAULT_READING,
    ) -> Reference:
        ref = super().from_reference(values, width, repeat, reading)
        args, notes = dict(ref.args), list(ref.notes)
        padding = args.get("padding")
        if padding == 0 and not isinstance(padding, bool):
            # Reference semantics: any falsy padding means "same"; [0] is real zero padding.
            args["padding"] = None
            notes.append(
                "padding 0 means 'same' (kernel // 2) in the reference format; [0] is none"
            )
        elif not padding and padding is not None:
            args["padding"] = None
        stride = args.get("stride", 1)
        if repeat > 1 and stride != 1:
            notes.append(f"stride {stride} applies to the last of the {repeat} copies (reference)")
        return Reference(args, tuple(notes))


@register_block("Conv")
class Conv(_ConvBNAct):
    """Convolution → BN → activation. Reference args ``[out, kernel, stride, padding, groups, act]``."""

    Args = ConvArgs
    reference_args = ("out", "kernel", "stride", "padding", "groups", "act")
    classifier = True
    examples = (
        {"out": 16},
        {"out": 24, "kernel": 5, "stride": 2, "act": "Hardswish"},
        {"out": 32, "kernel": [3, 1], "padding": [1, 0], "groups": 4, "act": None},
    )


@register_block("FixedConv")
class FixedConv(Conv):
    """Conv whose output channels are taken literally, never width-scaled or rounded."""

    width_arg = None

    @classmethod
    def out_channels(cls, in_channels: int, args: Any) -> int:
        return int(args.out)

    @classmethod
    def from_reference(
        cls,
        values: Sequence[Any],
        width: float,
        repeat: int,
        reading: ReferenceReading = DEFAULT_READING,
    ) -> Reference:
        ref = super().from_reference(values, width, repeat, reading)
        out = ref.args.get("out")
        if isinstance(out, float) and out.is_integer():
            return Reference({**ref.args, "out": int(out)}, ref.notes)
        return ref


@register_block("DWConv")
class DWConv(_ConvBNAct):
    """Grouped conv with groups = gcd(in, out) → BN → activation (depthwise when in = out).

    Reference args ``[out, kernel, stride, padding, act]``.
    """

    Args = DWConvArgs
    reference_args = ("out", "kernel", "stride", "padding", "act")
    examples = ({"out": 16}, {"out": 32, "kernel": 5, "stride": 2, "act": "ReLU6"})

    @classmethod
    def groups(cls, in_channels: int, args: Any) -> int:
        return math.gcd(in_channels, args.out)
