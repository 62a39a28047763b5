"""BasicBlock: the two-conv residual block of ResNet-18/20/8 (needed by the baseline zoo)."""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field, field_validator
from torch import nn
from torch.nn import functional as F

from blocknas.blocks._common import check_activation, conv_out, make_activation
from blocknas.blocks._registry import Block, BlockArgs, Size, register_block

__all__ = ["BasicBlock", "BasicBlockArgs"]


class BasicBlockArgs(BlockArgs):
    out: Annotated[int, Field(gt=0)]
    stride: Literal[1, 2] = 1
    # How the shortcut matches a change of shape: "conv" is a 1×1 conv + BN (ResNet option B,
    # the MLPerf Tiny ResNet-8); "pad" subsamples and zero-pads channels, parameter-free
    # (option A of He et al. for CIFAR, which gives ResNet-20 its 0.27M parameters).
    shortcut: Literal["conv", "pad"] = "conv"
    act: str | None = "ReLU"

    _act = field_validator("act")(lambda cls, v: check_activation(v))


@register_block("BasicBlock")
class BasicBlock(Block):
    """3×3 conv → BN → act → 3×3 conv → BN, plus the shortcut, then act. Named arguments only."""

    Args = BasicBlockArgs
    width_arg = "out"
    examples = ({"out": 16}, {"out": 32, "stride": 2}, {"out": 32, "stride": 2, "shortcut": "pad"})

    def __init__(self, in_channels: int, args: BasicBlockArgs) -> None:
        super().__init__(in_channels, args)
        out, s = args.out, args.stride
        self.stride = s
        self.conv1 = nn.Conv2d(in_channels, out, 3, s, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out)
        self.act1 = make_activation(args.act)
        self.conv2 = nn.Conv2d(out, out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out)
        self.act2 = make_activation(args.act)
        self.downsample: nn.Module | None = None
        self.pad = 0
        if s != 1 or in_channels != out:
            if args.shortcut == "conv":
                self.downsample = nn.Sequential(
                    nn.Conv2d(in_channels, out, 1, s, bias=False), nn.BatchNorm2d(out)
                )
            else:
                self.pad = out - in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x)))))
        if self.downsample is not None:
            x = self.downsample(x)
        elif self.stride != 1 or self.pad:
            x = x[:, :, :: self.stride, :: self.stride]
            x = F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return self.act2(x + y)

    @classmethod
    def out_size(cls, size: Size, args: BasicBlockArgs) -> Size:
        assert size is not None
        return conv_out(size[0], 3, args.stride, 1), conv_out(size[1], 3, args.stride, 1)

    @classmethod
    def validate_input(cls, in_channels: int, size: Size, args: BasicBlockArgs) -> None:
        super().validate_input(in_channels, size, args)
        if args.shortcut == "pad" and args.out < in_channels:
            raise ValueError(f"a 'pad' shortcut cannot reduce {in_channels} channels to {args.out}")
