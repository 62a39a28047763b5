"""Test-time augmentation: the averaged logits, and the switch in the trainer and evaluate."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from blocknas.data import DataSplits
from blocknas.errors import ConfigError
from blocknas.train import TrainConfig, evaluate, fit
from blocknas.train._tta import TTA_VIEWS, tta_logits, tta_views

from .conftest import make_net


def _asymmetric_net() -> nn.Module:
    """A net whose output changes under a flip or a shift (no pooling symmetry)."""
    torch.manual_seed(3)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))


def _shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Reference shift by index arithmetic: out[i, j] = x[i - dy, j - dx], reflected at edges."""
    h, w = x.shape[-2:]

    def reflect(i: int, n: int) -> int:
        return -i if i < 0 else 2 * (n - 1) - i if i >= n else i

    rows = torch.tensor([reflect(i - dy, h) for i in range(h)])
    cols = torch.tensor([reflect(j - dx, w) for j in range(w)])
    return x[..., rows, :][..., cols]


def test_flip_is_the_mean_of_the_plain_and_mirrored_passes() -> None:
    model = _asymmetric_net().eval()
    x = torch.randn(7, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    expected = (model(x) + model(torch.flip(x, dims=[3]))) / 2
    torch.testing.assert_close(tta_logits(model, x, "flip"), expected)
    assert not torch.allclose(expected, model(x))  # the flip changes this model's output


def test_flip_translate_averages_six_views() -> None:
    model = _asymmetric_net().eval()
    x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    views = [x, _shifted(x, -1, -1), _shifted(x, 1, 1)]
    views += [torch.flip(v, dims=[3]) for v in views]
    expected = sum(model(v) for v in views) / 6
    torch.testing.assert_close(tta_logits(model, x, "flip_translate"), expected)
    assert len(tta_views(x, "flip_translate")) == TTA_VIEWS["flip_translate"] == 6


def test_none_is_the_plain_forward_and_unknown_modes_fail() -> None:
    model = _asymmetric_net().eval()
    x = torch.randn(2, 1, 8, 8)
    assert torch.equal(tta_logits(model, x, "none"), model(x))
    with pytest.raises(ValueError, match="unknown test-time augmentation"):
        tta_views(x, "rotate")
    with pytest.raises(ConfigError, match="'tta'"):
        TrainConfig.from_mapping({"tta": "rotate"}, source="t.yaml")


def test_channels_last_views_give_the_same_logits() -> None:
    model = _asymmetric_net().eval()
    x = torch.randn(4, 1, 8, 8)
    cl = x.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(
        tta_logits(model, cl, "flip_translate"), tta_logits(model, x, "flip_translate")
    )


def test_evaluate_and_fit_use_the_switch(digits: DataSplits) -> None:
    cfg = TrainConfig(epochs=2, batch_size=32, lr=0.2, seed=7, device="cpu", tta="flip")
    model = make_net()
    result = fit(model, digits, cfg, progress=False)
    again = evaluate(model, digits.val, mean=digits.mean, std=digits.std, tta="flip")
    plain = evaluate(model, digits.val, mean=digits.mean, std=digits.std)
    # The best epoch's validation figures are those of the flipped evaluation, which differ
    # from the plain one on digits (a mirrored digit is not the same image).
    assert again.confusion == result.val.confusion
    assert plain.confusion != again.confusion
