"""Inverted residual blocks: MobileNetV2's (InvertedResidualv2) and MobileNetV3's (InvertedResidualv3)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

import torch
from pydantic import Field
from torch import nn

from blocknas.blocks._common import HardSigmoid, HardSwish, conv_out, make_divisible
from blocknas.blocks._reading import DEFAULT_READING, ReferenceReading
from blocknas.blocks._registry import Block, BlockArgs, Reference, Size, register_block

__all__ = ["IRv2Args", "IRv3Args", "InvertedResidualv2", "InvertedResidualv3", "SqueezeExcite"]

Pos = Annotated[int, Field(gt=0)]


def _conv_bn(cin: int, cout: int, kernel: int, stride: int, groups: int, act: nn.Module | None):
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act is not None:
        layers.append(act)
    return layers


class IRv2Args(BlockArgs):
    out: Pos
    expand: Annotated[float, Field(gt=0)] = 6
    stride: Literal[1, 2] = 1


@register_block("InvertedResidualv2")
class InvertedResidualv2(Block):
    """[1×1 expand → BN → ReLU6] → 3×3 depthwise → BN → ReLU6 → 1×1 project → BN (+ residual).

    Hidden width h = round(in·expand) (half to even). Reference args ``[out, expand, stride]``.
    """

    Args = IRv2Args
    reference_args = ("out", "expand", "stride")
    examples = ({"out": 16, "expand": 1}, {"out": 24, "expand": 6, "stride": 2})
    reference_required = 3
    width_arg = "out"
    reference_always_sequential = True
    reference_zero_repeat = 0

    def __init__(self, in_channels: int, args: IRv2Args) -> None:
        super().__init__(in_channels, args)
        hidden = round(in_channels * args.expand)
        layers: list[nn.Module] = []
        if args.expand != 1:
            layers.append(nn.Sequential(*_conv_bn(in_channels, hidden, 1, 1, 1, nn.ReLU6())))
        layers.append(nn.Sequential(*_conv_bn(hidden, hidden, 3, args.stride, hidden, nn.ReLU6())))
        layers += _conv_bn(hidden, args.out, 1, 1, 1, None)
        self.conv = nn.Sequential(*layers)
        self.residual = args.stride == 1 and in_channels == args.out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return x + y if self.residual else y

    @classmethod
    def out_size(cls, size: Size, args: IRv2Args) -> Size:
        assert size is not None
        return conv_out(size[0], 3, args.stride, 1), conv_out(size[1], 3, args.stride, 1)

    @classmethod
    def validate_input(cls, in_channels: int, size: Size, args: IRv2Args) -> None:
        super().validate_input(in_channels, size, args)
        if round(in_channels * args.expand) < 1:
            raise ValueError(f"hidden width round({in_channels}·{args.expand}) is 0")


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: pool → 1×1 (bias) → act → 1×1 (bias) → gate, times the input."""

    def __init__(self, channels: int, reduced: int, act: nn.Module, gate: nn.Module) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, reduced, 1)
        self.relu = act
        self.fc2 = nn.Conv2d(reduced, channels, 1)
        self.hardsigmoid = gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * self.hardsigmoid(self.fc2(self.relu(self.fc1(s))))


class IRv3Args(BlockArgs):
    kernel: Pos = 3
    expand: Annotated[float, Field(gt=0)] = 4
    out: Pos
    se: bool = False
    hardswish: bool = False
    stride: Literal[1, 2] = 1
    # Explicit hidden width (MobileNetV3's "expanded channels"); None: make_divisible(in·expand).
    hidden: Pos | None = None
    # Where SE sits in the expanded layout: before the second activation (the reference format's
    # order, set for positional rows) or after it (MobileNetV3's, the named form's default).
    se_before_act: bool = False


@register_block("InvertedResidualv3")
class InvertedResidualv3(Block):
    """MobileNetV3 block. Hidden h = make_divisible(in·expand); SE squeezes to make_divisible(h // 4).

    Reference args ``[kernel, expand, out, se, hardswish, stride]`` with se / hardswish as 0/1.
    """

    Args = IRv3Args
    reference_args = ("kernel", "expand", "out", "se", "hardswish", "stride")
    examples = (
        {"out": 16, "expand": 1},
        {"kernel": 5, "expand": 3, "out": 40, "se": True, "hardswish": True, "stride": 2},
        {"kernel": 3, "hidden": 72, "out": 24, "se": True},
    )
    reference_required = 6
    width_arg = "out"
    reference_always_sequential = True
    reference_zero_repeat = 0

    def __init__(self, in_channels: int, args: IRv3Args) -> None:
        super().__init__(in_channels, args)
        h = self.hidden_width(in_channels, args)

        def nl() -> nn.Module:
            return HardSwish() if args.hardswish else nn.ReLU()

        se: nn.Module = nn.Identity()
        if args.se:
            se = SqueezeExcite(h, make_divisible(h // 4), nn.ReLU(), HardSigmoid())
        dw = _conv_bn(h, h, args.kernel, args.stride, h, None)
        project = _conv_bn(h, args.out, 1, 1, 1, None)
        if in_channels == h:
            layers = [*dw, nl(), se, *project]
        else:
            middle = [se, nl()] if args.se_before_act else [nl(), se]
            layers = [*_conv_bn(in_channels, h, 1, 1, 1, nl()), *dw, *middle, *project]
        self.conv = nn.Sequential(*layers)
        self.residual = args.stride == 1 and in_channels == args.out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return x + y if self.residual else y

    @staticmethod
    def hidden_width(in_channels: int, args: IRv3Args) -> int:
        return args.hidden or make_divisible(in_channels * args.expand)

    @classmethod
    def out_size(cls, size: Size, args: IRv3Args) -> Size:
        assert size is not None
        p = (args.kernel - 1) // 2
        return conv_out(size[0], args.kernel, args.stride, p), conv_out(
            size[1], args.kernel, args.stride, p
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
        args = dict(ref.args)
        for flag in ("se", "hardswish"):
            # The reference writes 0/1 flags; anything else is left for validation to reject.
            if args.get(flag) in (0, 1) and not isinstance(args.get(flag), float):
                args[flag] = bool(args[flag])
        args["se_before_act"] = True
        return Reference(args, ref.notes)
