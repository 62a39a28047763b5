"""Fire: SqueezeNet's squeeze 1×1 then parallel 1×1 / 3×3 expands, concatenated."""

from __future__ import annotations

from typing import Annotated, Any

import torch
from pydantic import Field
from torch import nn

from blocknas.blocks._registry import Block, BlockArgs, register_block

__all__ = ["Fire", "FireArgs"]

Pos = Annotated[int, Field(gt=0)]


class FireArgs(BlockArgs):
    squeeze: Pos
    expand1x1: Pos
    expand3x3: Pos


@register_block("Fire")
class Fire(Block):
    """No BN, every conv with bias and ReLU; output expand1x1 + expand3x3 channels (never scaled).

    Reference args ``[squeeze, expand1x1, expand3x3]``.
    """

    Args = FireArgs
    reference_args = ("squeeze", "expand1x1", "expand3x3")
    examples = ({"squeeze": 4, "expand1x1": 8, "expand3x3": 8},)
    reference_required = 3

    def __init__(self, in_channels: int, args: FireArgs) -> None:
        super().__init__(in_channels, args)
        # The convs themselves carry the format's sub-layer names (checkpoint keys
        # ``squeeze.weight``, ...); the ReLUs have no parameters and stay functional.
        self.squeeze = nn.Conv2d(in_channels, args.squeeze, 1)
        self.expand1x1 = nn.Conv2d(args.squeeze, args.expand1x1, 1)
        self.expand3x3 = nn.Conv2d(args.squeeze, args.expand3x3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.relu(self.squeeze(x))
        return torch.cat([torch.relu(self.expand1x1(s)), torch.relu(self.expand3x3(s))], 1)

    @classmethod
    def out_channels(cls, in_channels: int, args: Any) -> int:
        return args.expand1x1 + args.expand3x3
