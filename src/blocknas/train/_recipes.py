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
    # A straight-line decay keeps the rate near its peak for longer than a cosine; in runs of
    # a few epochs that is where the progress is made (the CIFAR-10 speed-run recipes).
    "schedule": "linear",
    "warmup_fraction": 0.1,
    # Stronger smoothing than the usual 0.1 is what the speed-run recipes found best for
    # short runs of small networks.
    "label_smoothing": 0.2,
    # Flip-and-shift test-time augmentation wherever training flips images: 6 forward passes
    # of the validation split per epoch, for accuracy that costs no training.
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
