"""The baseline zoo matches the published architectures' parameter counts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

import blocknas

ZOO = Path(__file__).resolve().parents[2] / "configs" / "models"


@pytest.mark.parametrize(
    ("config", "reference"),
    [
        ("mobilenetv2.yaml", torchvision.models.mobilenet_v2),
        ("mobilenetv3_small.yaml", torchvision.models.mobilenet_v3_small),
    ],
)
def test_parameter_count_equals_torchvision(config: str, reference) -> None:
    ours = blocknas.build_model(ZOO / config, num_classes=10)
    theirs = reference(num_classes=10)
    assert blocknas.profile(ours, latency=False).params == sum(
        p.numel() for p in theirs.parameters()
    )
    assert ours(torch.zeros(2, 3, 224, 224)).shape == (2, 10)


def test_mobilenetv2_layer_shapes_match_torchvision() -> None:
    ours = blocknas.build_model(ZOO / "mobilenetv2.yaml", num_classes=10)
    theirs = torchvision.models.mobilenet_v2(num_classes=10)
    shapes = sorted(tuple(p.shape) for p in ours.parameters())
    assert shapes == sorted(tuple(p.shape) for p in theirs.parameters())


@pytest.mark.parametrize(("config", "low", "high"), [("resnet20.yaml", 265_000, 275_000),
                                                     ("resnet8.yaml", 77_000, 79_000)])  # fmt: skip
def test_cifar_resnets(config: str, low: int, high: int) -> None:
    model = blocknas.build_model(ZOO / config)
    assert low <= blocknas.profile(model, latency=False).params <= high
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
