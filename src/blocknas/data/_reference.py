"""The reference data-config format (upper-case keys) → blocknas's own form (a plain dict).

Semantics kept from the reference:
- ``AUG_TRAIN_PARAMS`` applies to ``randaugment_train`` only; ``level`` defaults to 14 when
  omitted, and any level that is not an int in 1..n_level (null, 0, 14.0, out of range) means a
  random level per op and image, which the own form writes as ``level: null``.
- ``randaugment_train`` ends with Cutout (p 0.8) and a flip; ``simple_augment_train`` is a random
  resized crop on the 1.2× image and a flip.
- ``DATASET`` also picks the normalisation: CIFAR10, CIFAR100, or ImageNet's for TACO.
- ``BATCH_SIZE``, ``EPOCHS``, ``INIT_LR``, ``FP16`` go to the ``train`` mapping.
Differences: the validation split is stratified (the reference's is a plain random split).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from blocknas.data._policies import fixed_level
from blocknas.errors import ConfigError

__all__ = ["REFERENCE_KEYS", "from_reference"]

REFERENCE_KEYS = (
    "DATA_PATH",
    "DATASET",
    "IMG_SIZE",
    "AUG_TRAIN",
    "AUG_TEST",
    "AUG_TRAIN_PARAMS",
    "AUG_TEST_PARAMS",
    "BATCH_SIZE",
    "EPOCHS",
    "VAL_RATIO",
    "INIT_LR",
    "FP16",
)

# DATASET → (own dataset, stats)
_DATASETS = {
    "CIFAR10": ("cifar10", "cifar10"),
    "CIFAR100": ("cifar100", "cifar100"),
    "TACO": ("imagefolder", "imagenet"),
    "IMAGEFOLDER": ("imagefolder", "auto"),
    "DIGITS": ("digits", "auto"),
}
_TRAIN_POLICIES = {"randaugment_train": "randaugment", "simple_augment_train": "simple"}
_TEST_POLICIES = {"simple_augment_test": "simple"}
_TRAIN_KEYS = {"BATCH_SIZE": "batch_size", "EPOCHS": "epochs", "INIT_LR": "lr", "FP16": "fp16"}
_RANDAUGMENT_PARAMS = ("n_select", "level", "n_level")


def _pick(table: Mapping[str, Any], value: Any, key: str, source: str | None) -> Any:
    if isinstance(value, str):
        for name, target in table.items():
            if name.lower() == value.lower():
                return target
    raise ConfigError(
        f"{key}: unsupported value {value!r}; supported: {', '.join(table)}", source=source
    )


def _randaugment_params(params: Any, source: str | None) -> dict[str, Any]:
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ConfigError("AUG_TRAIN_PARAMS must be a mapping or null", source=source)
    unknown = sorted(set(params) - set(_RANDAUGMENT_PARAMS))
    if unknown:
        raise ConfigError(
            f"AUG_TRAIN_PARAMS: unknown key '{unknown[0]}' (known: {', '.join(_RANDAUGMENT_PARAMS)})",
            source=source,
        )
    n_level = params.get("n_level", 31)
    out = {"n_select": params.get("n_select", 2), "n_level": n_level}
    level = params.get("level", 14)
    out["level"] = fixed_level(level, n_level if isinstance(n_level, int) else 31)
    return out


def from_reference(raw: Mapping[str, Any], *, source: str | None = None) -> dict[str, Any]:
    """Converts a reference-format mapping to an own-form mapping (not yet validated)."""
    unknown = sorted(set(raw) - set(REFERENCE_KEYS))
    if unknown:
        raise ConfigError(
            f"unknown key '{unknown[0]}' (reference keys: {', '.join(REFERENCE_KEYS)})",
            source=source,
        )
    out: dict[str, Any] = {}
    if "DATASET" in raw:
        out["dataset"], out["stats"] = _pick(_DATASETS, raw["DATASET"], "DATASET", source)
    if raw.get("DATA_PATH") is not None:
        out["path"] = raw["DATA_PATH"]
    if "IMG_SIZE" in raw:
        out["img_size"] = raw["IMG_SIZE"]
    if "VAL_RATIO" in raw:
        out["val_ratio"] = raw["VAL_RATIO"]

    augment: dict[str, Any] = {}
    train_policy = "randaugment_train"
    if "AUG_TRAIN" in raw:
        train_policy = str(raw["AUG_TRAIN"])
        augment["train"] = _pick(_TRAIN_POLICIES, raw["AUG_TRAIN"], "AUG_TRAIN", source)
    if "AUG_TEST" in raw:
        augment["test"] = _pick(_TEST_POLICIES, raw["AUG_TEST"], "AUG_TEST", source)
    params = raw.get("AUG_TRAIN_PARAMS")
    if train_policy.lower() == "randaugment_train":
        augment.update(_randaugment_params(params, source))
    elif params:
        raise ConfigError(
            f"AUG_TRAIN_PARAMS is accepted only by randaugment_train, not {train_policy}",
            source=source,
        )
    if raw.get("AUG_TEST_PARAMS"):
        raise ConfigError(
            "AUG_TEST_PARAMS must be null: the test policies take none", source=source
        )
    if augment:
        out["augment"] = augment

    train = {own: raw[key] for key, own in _TRAIN_KEYS.items() if key in raw}
    if train:
        out["train"] = train
    return out
