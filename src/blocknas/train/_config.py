"""The training recipe: one frozen, validated object built from a config mapping."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from blocknas.errors import ConfigError
from blocknas.train._recipes import RECIPES
from blocknas.train._tta import TTA

__all__ = ["TrainConfig"]

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
# Names that mean the same key; the reference data config calls mixed precision ``fp16``.
_ALIASES = {"fp16": "amp"}


class TrainConfig(BaseModel):
    """How a model is trained. Every field has a default; ``None`` defaults are resolved from
    the optimizer when the object is built, so a saved config always holds concrete numbers.

    Example::

        cfg = TrainConfig.from_mapping({"epochs": 20, "lr": 0.05}, source="data.yaml")
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # A named preset of the keys below (blocknas.train._recipes): it fills in the keys the
    # config does not set. Kept in the saved config to say where the values came from.
    recipe: Literal["default", "fast"] = "default"
    optimizer: Literal["sgd", "adamw"] = "sgd"
    # Peak learning rate (the one-cycle maximum; the cosine start). None: 0.1 for SGD, 1e-3 AdamW.
    lr: float | None = Field(default=None, gt=0)
    momentum: float = Field(default=0.9, ge=0, lt=1)
    nesterov: bool = True
    # Applied to conv/linear weights only, never to norm or bias parameters. None: 5e-4 for SGD
    # (the usual CIFAR figure), 0.05 for AdamW (decoupled decay needs a larger factor).
    weight_decay: float | None = Field(default=None, ge=0)
    schedule: Literal["onecycle", "cosine", "linear"] = "onecycle"
    # Linear warm-up as a share of all steps; 5 % is the reference one-cycle recipe.
    warmup_fraction: float = Field(default=0.05, ge=0, lt=1)
    warmup_epochs: float | None = Field(default=None, ge=0)
    label_smoothing: float = Field(default=0.0, ge=0, lt=1)
    batch_size: int = Field(default=128, gt=0)
    epochs: int = Field(default=30, gt=0)
    # Decay of an exponential moving average of the weights, evaluated instead of the raw ones.
    ema: float | None = Field(default=None, gt=0, lt=1)
    grad_clip: float | None = Field(default=None, gt=0)
    compile: bool = False
    # Mixed precision (float16 autocast and a gradient scaler); used on CUDA only.
    amp: bool = True
    # "auto" is channels_last on CPU too: it measured faster there for every convnet tried.
    channels_last: Literal["auto"] | bool = "auto"
    device: str = "auto"
    seed: int = 0
    # Which validation figure picks the best epoch (the search objective uses macro-F1).
    best_metric: Literal["f1", "accuracy"] = "f1"
    # Test-time augmentation of every evaluation (validation, test): logits averaged over the
    # mirror image ("flip", 2 passes) and one-pixel shifts ("flip_translate", 6 passes); "auto"
    # is "flip_translate" when the training augmentation flips images, else "none". Off by default: a
    # mirrored digit or letter is another class.
    tta: Literal["auto"] | TTA = "none"

    @model_validator(mode="before")
    @classmethod
    def _apply_recipe(cls, values: Any) -> Any:
        """Fill in the recipe's keys that the values do not set themselves."""
        if isinstance(values, Mapping):
            recipe = values.get("recipe", "default")
            if isinstance(recipe, str) and recipe in RECIPES:
                return {**RECIPES[recipe], **values}
        return values

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not _DEVICE.match(value):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, not {value!r}")
        return value

    @model_validator(mode="after")
    def _resolve(self) -> TrainConfig:
        if self.warmup_epochs is not None and self.warmup_epochs >= self.epochs:
            raise ValueError(
                f"warmup_epochs ({self.warmup_epochs}) must be below epochs ({self.epochs})"
            )
        adamw = self.optimizer == "adamw"
        if self.lr is None:
            object.__setattr__(self, "lr", 1e-3 if adamw else 0.1)
        if self.weight_decay is None:
            object.__setattr__(self, "weight_decay", 0.05 if adamw else 5e-4)
        return self

    @property
    def peak_lr(self) -> float:
        assert self.lr is not None  # resolved by the validator
        return self.lr

    @property
    def decay(self) -> float:
        assert self.weight_decay is not None  # resolved by the validator
        return self.weight_decay

    @property
    def warmup(self) -> float:
        """Warm-up as a share of all optimisation steps."""
        if self.warmup_epochs is not None:
            return self.warmup_epochs / self.epochs
        return self.warmup_fraction

    @classmethod
    def from_mapping(
        cls,
        values: Mapping[str, Any] | None,
        *,
        source: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        override_sources: Mapping[str, str] | None = None,
    ) -> TrainConfig:
        """Validate training keys (as found in a data config's training section or a
        ``train.yaml``) and raise :class:`ConfigError` naming the key and the problem.

        ``overrides`` (e.g. ``{"epochs": 5}`` from the command line) replace the keys of
        ``values`` they name, under any alias (``amp`` replaces ``fp16``). Each is checked on
        its own first, so an error about one names where it came from, ``override_sources[key]``
        (e.g. ``"--epochs"``), rather than the file it corrects.
        """
        data = _canonical(values or {}, source)
        named = override_sources or {}
        given: dict[str, str] = {}
        for key, value in (overrides or {}).items():
            where = named.get(key, f"override {key!r}")
            name = _canonical({key: value}, where).popitem()[0]
            if name in given:
                raise ConfigError(f"{given[name]} and {where} set the same training key {name!r}")
            given[name] = where
            try:  # alone, against the defaults: a key-level error is this override's own
                cls.model_validate({name: value})
            except ValidationError as exc:
                if any(e["loc"] for e in exc.errors()):
                    raise ConfigError(_describe(exc), source=where) from None
            data[name] = value
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            # What is left is a check across keys (warmup_epochs below epochs): name both
            # the file and the overrides that took part.
            across = bool(given) and not exc.errors()[0]["loc"]
            blame = ", ".join(filter(None, [source, *given.values()])) if across else source
            raise ConfigError(_describe(exc), source=blame) from None

    def to_dict(self) -> dict[str, Any]:
        """Plain, YAML- and checkpoint-safe mapping of every resolved key."""
        return self.model_dump(mode="python")


def _canonical(values: Mapping[str, Any], source: str | None) -> dict[str, Any]:
    """Keys lower-cased and aliases resolved; a key given twice or unknown is a ConfigError."""
    data: dict[str, Any] = {}
    for key, value in values.items():
        name = _ALIASES.get(str(key).lower(), str(key).lower())
        if name in data:
            raise ConfigError(f"training key {key!r} is given twice (as {name!r})", source=source)
        data[name] = value
    unknown = sorted(set(data) - set(TrainConfig.model_fields))
    if unknown:
        known = ", ".join(sorted(TrainConfig.model_fields))
        raise ConfigError(f"unknown training key(s) {unknown}; known keys: {known}", source=source)
    return data


def _describe(exc: ValidationError) -> str:
    """One line for the first offending key; a union's alternatives are joined with "or"."""
    errors = exc.errors()
    loc = errors[0]["loc"]
    if not loc:  # a check across keys (model validator)
        return str(errors[0]["msg"]).removeprefix("Value error, ")
    key = loc[0]
    same = [e for e in errors if e["loc"] and e["loc"][0] == key]
    reasons = " or ".join(dict.fromkeys(str(e["msg"]).removeprefix("Value error, ") for e in same))
    return f"training key {key!r}: {reasons} (got {same[0]['input']!r})"


assert set(get_args(TrainConfig.model_fields["recipe"].annotation)) == set(RECIPES)
