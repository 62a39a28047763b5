"""Named training recipes: presets of :class:`TrainConfig` keys under a config's own keys.

A recipe is only defaults. ``recipe: fast`` fills in every key it names that the config does not
set itself, so each element stays an ordinary, documented key that can be switched off on its
own (``--set recipe=fast --set tta=none``). The saved ``train.yaml`` holds the resolved keys, so a
run folder reproduces itself even if a recipe's values change later.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["RECIPES", "recipe_defaults"]

_FAST: dict[str, Any] = {
    # Label smoothing 0.1: ResNet-8 on CIFAR-10 was measured with it (BENCHMARKS.md); 0.2 and a
    # linear schedule (both switches of their own) gained nothing at 30 or 40 epochs.
    "label_smoothing": 0.1,
    # Flip-and-shift test-time augmentation wherever training flips images: 6 forward passes of
    # each validation image, +0.8-0.9 points on ResNet-8 at 30 epochs for no training.
    "tta": "auto",
}

RECIPES: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        # Each key's own default (one-cycle, no smoothing, no test-time augmentation).
        "default": MappingProxyType({}),
        "fast": MappingProxyType(_FAST),
    }
)


def recipe_defaults(name: str) -> Mapping[str, Any]:
    """The keys recipe ``name`` sets; raises KeyError for an unknown name."""
    return RECIPES[name]
