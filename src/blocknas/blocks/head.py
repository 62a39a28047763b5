"""Classifier-head blocks: Flatten, Linear and Dropout."""

from __future__ import annotations

from typing import Annotated, Any

import torch
from pydantic import Field, field_validator
from torch import nn

from blocknas.blocks._common import check_activation, make_activation
from blocknas.blocks._registry import Block, BlockArgs, RepeatStride, Size, register_block

__all__ = ["Dropout", "Flatten", "Linear"]


class NoArgs(BlockArgs):
    pass


@register_block("Flatten")
class Flatten(Block):
    """Flattens N×C×1×1 to N×C. The channel count is unchanged, so the map must be 1×1."""

    Args = NoArgs
    examples = ({},)
    changes_channels = False
    single = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(x, 1)

    @classmethod
    def out_size(cls, size: Size, args: Any) -> Size:
        return None

    @classmethod
    def validate_input(cls, in_channels: int, size: Size, args: Any) -> None:
        super().validate_input(in_channels, size, args)
        if size != (1, 1):
            assert size is not None
            raise ValueError(
                f"input is {size[0]}×{size[1]}, but Flatten keeps {in_channels} features only "
                "for a 1×1 map (add GlobalAvgPool before it)"
            )


class LinearArgs(BlockArgs):
    out: Annotated[int, Field(gt=0)]
    act: str | None = None

    _act = field_validator("act")(lambda cls, v: check_activation(v))


@register_block("Linear")
class Linear(Block):
    """Fully connected in→out with bias, then an optional activation. Reference ``[out, act]``.

    Takes N×C features, or an N×C×1×1 map which it flattens.
    """

    Args = LinearArgs
    reference_args = ("out", "act")
    examples = ({"out": 10}, {"out": 32, "act": "ReLU"})
    reference_required = 1
    single = True
    classifier = True

    def __init__(self, in_channels: int, args: LinearArgs) -> None:
        super().__init__(in_channels, args)
        self.linear = nn.Linear(in_channels, args.out)
        self.activation = make_activation(args.act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:  # an N×C×1×1 map (validated at config time)
            x = torch.flatten(x, 1)
        return self.activation(self.linear(x))

    @classmethod
    def out_size(cls, size: Size, args: Any) -> Size:
        return None

    @classmethod
    def validate_input(cls, in_channels: int, size: Size, args: Any) -> None:
        if size is not None and size != (1, 1):
            raise ValueError(
                f"input is a {size[0]}×{size[1]} map; Linear needs N×C or N×C×1×1 "
                "(add GlobalAvgPool and Flatten before it)"
            )

    @classmethod
    def out_channels(cls, in_channels: int, args: Any) -> int:
        return int(args.out)


class DropoutArgs(BlockArgs):
    p: Annotated[float, Field(ge=0, lt=1)] = 0.5


@register_block("Dropout")
class Dropout(Block):
    """Standard dropout on maps or features. Reference ``[p]``."""

    Args = DropoutArgs
    changes_channels = False
    reference_args = ("p",)
    examples = ({}, {"p": 0.1})
    repeat_stride = RepeatStride.EACH
    takes_flat = None

    def __init__(self, in_channels: int, args: DropoutArgs) -> None:
        super().__init__(in_channels, args)
        self.dropout = nn.Dropout(args.p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(x)
