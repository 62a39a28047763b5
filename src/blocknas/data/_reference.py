"""The reference data-config format (upper-case keys) → blocknas's own form (a plain dict).

Semantics kept from the reference:
- ``AUG_TRAIN_PARAMS`` applies to ``randaugment_train`` only; ``level`` defaults to 14 when
  omitted, and any level that is not an int in 1..n_level (null, 0, 14.0, out of range) means a
  random level per op and image, which the own form writes as ``level: null``.
- ``randaugment_train`` ends with Cutout (p 0.8) and a flip; ``simple_augment_train`` is a random
  resized crop on the 1.2× image and a flip.
- ``DATASET`` also picks the normalisation: CIFAR10, CIFAR100, or ImageNet's for TACO.
- ``BATCH_SIZE``, ``EPOCHS``, ``INIT_LR``, ``FP16`` go to the ``train`` mapping.
- ``VAL_RATIO: 0.0``, the template's default, is accepted: a dataset with its own ``val/``
  folder (TACO) loads, any other is refused when loaded, naming ``VAL_RATIO``.
Extensions (not in the template):
- ``SEED`` (common in forks) is the run's one seed: it becomes both the data's ``seed``
  (subset and splits) and the trainer's ``train.seed`` (initialisation, shuffling, augmentation).
- ``MAX_IMAGE_PIXELS`` is ``max_image_pixels``, the decompression-bomb limit of image folders.
Differences: the validation split is stratified (the reference's is a plain random split).
Errors name the reference key the file uses (:data:`REFERENCE_NAMES`), not the own form's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

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
    "SEED",
    "MAX_IMAGE_PIXELS",
)

#: Own-form key (as pydantic reports it) → the reference key a user wrote.
REFERENCE_NAMES = {
    "dataset": "DATASET",
    "stats": "DATASET",
    "path": "DATA_PATH",
    "img_size": "IMG_SIZE",
    "val_ratio": "VAL_RATIO",
    "seed": "SEED",
    "max_image_pixels": "MAX_IMAGE_PIXELS",
    "augment": "AUG_TRAIN_PARAMS",
    "augment.train": "AUG_TRAIN",
    "augment.test": "AUG_TEST",
    **{f"augment.{k}": f"AUG_TRAIN_PARAMS.{k}" for k in ("n_select", "level", "n_level")},
    "train.batch_size": "BATCH_SIZE",
    "train.epochs": "EPOCHS",
    "train.lr": "INIT_LR",
    "train.fp16": "FP16",
    "train.seed": "SEED",
}

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
# The trainer validates the train keys but knows only its own names: they are validated here
# too, with the same types (lax, so ``INIT_LR: 1e-3``, a string to YAML, is still 0.001), so
# that a wrong value is reported under the key the file uses.
_TRAIN_TYPES: dict[str, Any] = {
    "BATCH_SIZE": TypeAdapter(Annotated[int, Field(gt=0)]),
    "EPOCHS": TypeAdapter(Annotated[int, Field(gt=0)]),
    "INIT_LR": TypeAdapter(Annotated[float, Field(gt=0, allow_inf_nan=False)]),
    "FP16": TypeAdapter(bool),
    "SEED": TypeAdapter(int),
}


def _train_value(raw: Mapping[str, Any], key: str, source: str | None) -> Any:
    try:
        return _TRAIN_TYPES[key].validate_python(raw[key])
    except ValidationError as exc:
        msg = exc.errors()[0]["msg"]
        raise ConfigError(f"{key}: {msg} (got {raw[key]!r})", source=source) from None


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
        if out["dataset"] == "imagefolder" and raw.get("DATA_PATH") is None:
            raise ConfigError(
                f"DATASET {raw['DATASET']} needs DATA_PATH (the folder of train/ val/ test/ "
                "or of class folders)",
                source=source,
            )
    if raw.get("DATA_PATH") is not None:
        out["path"] = raw["DATA_PATH"]
    for key, own in (("IMG_SIZE", "img_size"), ("VAL_RATIO", "val_ratio"), ("SEED", "seed")):
        if key in raw:
            out[own] = raw[key]
    if "MAX_IMAGE_PIXELS" in raw:
        out["max_image_pixels"] = raw["MAX_IMAGE_PIXELS"]

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

    train = {own: _train_value(raw, key, source) for key, own in _TRAIN_KEYS.items() if key in raw}
    if "SEED" in raw:
        train["seed"] = _train_value(raw, "SEED", source)
    if train:
        out["train"] = train
    return out
