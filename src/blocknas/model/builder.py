"""ModelSpec → ``nn.Module``. Pure: no file access, no device moves, no global state."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from blocknas.blocks import MBConvVariant
from blocknas.model.spec import ModelSpec, RowSpec, load_model_spec

__all__ = ["BlockNet", "build_from_spec", "build_model"]


class BlockNet(nn.Module):
    """A sequential chain with one entry per backbone row (``layers[i]`` is row i)."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        self.layers = nn.Sequential(*(_build_row(row) for row in spec.rows))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) the model is meant for."""
        return self.spec.input_channel, self.spec.input_size, self.spec.input_size


def _build_row(row: RowSpec) -> nn.Module:
    modules = [row.block(layer.in_channels, layer.args) for layer in row.layers]
    if row.sequential:
        return nn.Sequential(*modules)
    return modules[0]


def build_from_spec(spec: ModelSpec) -> BlockNet:
    """Build the network of a validated spec."""
    return BlockNet(spec)


def build_model(
    source: str | Path | Mapping[str, Any] | ModelSpec,
    num_classes: int | None = None,
    *,
    input_size: int | None = None,
    mbconv_variant: str | MBConvVariant | None = None,
) -> BlockNet:
    """Build a model from a YAML path, a parsed mapping or a :class:`ModelSpec`.

    ``mbconv_variant`` (``"template"`` or ``"channels"``) overrides the file's ``mbconv_variant``
    key: which fork's reading of reference MBConv rows to follow (see :func:`load_model_spec`).

    >>> import blocknas
    >>> net = blocknas.build_model({"input_channel": 3, "backbone": [
    ...     [1, "Conv", {"out": 16, "kernel": 3, "stride": 2}],
    ...     [1, "GlobalAvgPool", {}], [1, "Flatten", {}], [1, "Linear", {"out": 10}]]})
    >>> net(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """
    spec = load_model_spec(
        source, num_classes=num_classes, input_size=input_size, mbconv_variant=mbconv_variant
    )
    return build_from_spec(spec)
