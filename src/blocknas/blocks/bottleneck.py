"""Bottleneck: 1×1 reduce → 3×3 conv, with an identity shortcut when shapes allow."""

from __future__ import annotations

from typing import Annotated, Any

import torch
from pydantic import Field, field_validator

from blocknas.blocks._common import check_activation
from blocknas.blocks._registry import Block, BlockArgs, Copy, register_block
from blocknas.blocks.conv import Conv, ConvArgs

__all__ = ["Bottleneck", "BottleneckArgs"]


class BottleneckArgs(BlockArgs):
    out: Annotated[int, Field(gt=0)]
    shortcut: bool = True
    groups: Annotated[int, Field(gt=0)] = 1
    expansion: Annotated[float, Field(gt=0)] = 0.5
    act: str | None = "ReLU"

    _act = field_validator("act")(lambda cls, v: check_activation(v))


@register_block("Bottleneck")
class Bottleneck(Block):
    """``conv1`` = 1×1 in→h (act), ``conv2`` = 3×3 h→out (groups, always ReLU); h = int(out·expansion).

    Reference args ``[out, shortcut, groups, expansion, act]``. The second conv's activation is
    ReLU whatever ``act`` says, as in the reference format.
    """

    Args = BottleneckArgs
    reference_args = ("out", "shortcut", "groups", "expansion", "act")
    reference_required = 1
    width_arg = "out"
    reference_always_sequential = True  # a row is a sequence of blocks even when n = 1
    examples = ({"out": 16}, {"out": 32, "shortcut": False, "groups": 2, "expansion": 0.25})

    def __init__(self, in_channels: int, args: BottleneckArgs) -> None:
        super().__init__(in_channels, args)
        hidden = self.hidden(args)
        self.conv1 = Conv(in_channels, ConvArgs(out=hidden, kernel=1, act=args.act))
        self.conv2 = Conv(hidden, ConvArgs(out=args.out, kernel=3, padding=1, groups=args.groups))
        self.add = args.shortcut and in_channels == args.out

    @staticmethod
    def hidden(args: BottleneckArgs) -> int:
        return int(args.out * args.expansion)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.conv1(x))
        return x + y if self.add else y

    @classmethod
    def validate_input(cls, in_channels: int, size: Any, args: BottleneckArgs) -> None:
        super().validate_input(in_channels, size, args)
        hidden = cls.hidden(args)
        if hidden < 1:
            raise ValueError(f"hidden width int({args.out}·{args.expansion}) is 0")
        if hidden % args.groups or args.out % args.groups:
            raise ValueError(f"groups {args.groups} must divide hidden {hidden} and out {args.out}")

    @classmethod
    def copies(cls, n: int, in_channels: int, args: Any, *, reference: bool) -> list[Copy]:
        if not reference:
            return super().copies(n, in_channels, args, reference=False)
        # Reference semantics: the first n-1 blocks keep the input width; only the last maps
        # to the declared output. Repeat 0 still builds one block.
        n = max(n, 1)
        keep = args.model_copy(update={"out": in_channels})
        return [Copy(in_channels, keep) for _ in range(n - 1)] + [Copy(in_channels, args)]
