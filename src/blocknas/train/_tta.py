"""Test-time augmentation: a model's logits averaged over flipped (and shifted) views of a batch.

Averaging the predictions of a few label-preserving views is the cheapest accuracy there is for
an image classifier: no training cost, a known inference cost (one forward pass per view). The
CIFAR-10 speed-run line of work (Jordan, 2024, "94% on CIFAR-10 in 3.29 seconds") evaluates with
the horizontal flip and with one-pixel translations for this reason. A horizontal flip is only
label-preserving where mirrored images belong to the same class (natural photographs, not
digits or text), which is why the mode is a switch and ``none`` is the trainer's default.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["TTA", "TTA_VIEWS", "resolve_tta", "tta_logits", "tta_views"]

TTA = Literal["none", "flip", "flip_translate"]
# Forward passes per image of each mode: the cost of evaluation relative to no augmentation.
TTA_VIEWS: dict[str, int] = {"none": 1, "flip": 2, "flip_translate": 6}
assert set(TTA_VIEWS) == set(get_args(TTA))


def resolve_tta(mode: str, train_policy: Any) -> str:
    """``auto`` → ``flip_translate`` when the training augmentation mirrors images (so a mirror
    image keeps its class), else ``none``; any other mode is returned as it is.

    ``flip_translate`` rather than ``flip``: on ResNet-8 after 30 CIFAR-10 epochs it added 0.8–0.9
    points of validation accuracy where the flip alone added 0.2–0.5 (BENCHMARKS.md)."""
    if mode != "auto":
        return mode
    from blocknas.data import mirrors_images

    return "flip_translate" if mirrors_images(train_policy) else "none"


def _shift(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``x`` moved by (dy, dx) pixels (N×C×H×W), edges filled by reflection."""
    pad = max(abs(dy), abs(dx))
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    h, w = x.shape[-2:]
    top, left = pad - dy, pad - dx
    return padded[..., top : top + h, left : left + w]


def tta_views(x: torch.Tensor, mode: str) -> list[torch.Tensor]:
    """The views of a batch that ``mode`` averages over: the batch itself; with ``flip`` its
    mirror image; with ``flip_translate`` also both shifted one pixel up-left and down-right
    (each with its mirror). Images smaller than 2×2 are not shifted."""
    if mode not in TTA_VIEWS:
        raise ValueError(f"unknown test-time augmentation {mode!r}; known: {sorted(TTA_VIEWS)}")
    views = [x]
    if mode == "none":
        return views
    if mode == "flip_translate" and min(x.shape[-2:]) >= 2:
        views += [_shift(x, -1, -1), _shift(x, 1, 1)]
    return [*views, *(v.flip(-1) for v in views)]


def tta_logits(model: nn.Module, x: torch.Tensor, mode: str) -> torch.Tensor:
    """Mean of ``model``'s outputs over :func:`tta_views` of ``x`` (``none``: ``model(x)``).

    Logits are averaged, as in the speed-run evaluations; the result has the shape of
    ``model(x)``. Example::

        logits = tta_logits(model.eval(), images, "flip")
    """
    views = tta_views(x, mode)
    if len(views) == 1:
        return model(x)
    memory_format = (
        torch.channels_last
        if x.dim() == 4
        and x.is_contiguous(memory_format=torch.channels_last)
        and not x.is_contiguous()
        else torch.contiguous_format
    )
    total = model(views[0])
    for view in views[1:]:
        total = total + model(view.contiguous(memory_format=memory_format))
    return total / len(views)
