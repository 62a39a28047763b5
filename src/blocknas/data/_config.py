"""The data config: YAML (blocknas's own form or the reference form) → a frozen DataConfig.

Own form (lower-case keys)::

    dataset: imagefolder          # digits | cifar10 | cifar100 | imagefolder
    path: ../data/cifar10/train   # relative paths are relative to the config file's folder
    img_size: 32                  # null: the dataset's own size
    subset: 10000                 # a count or a fraction of the training pool, stratified; null: all
    val_ratio: 0.1                # 0: only with a val/ folder of the dataset's own
    test_ratio: 0.2               # held out only where the dataset has no test split of its own
    seed: 0                       # seeds subset and splits: every trial sees the same split
    layout: auto                  # image folders: split (train/ val/ test/), classes, or auto
    max_image_pixels: 100000000   # larger images are refused from their header, before decoding
    augment: {train: randaugment, test: simple, n_select: 2, level: 14, n_level: 31}
    train: {batch_size: 128, epochs: 30, lr: 0.1, fp16: true}   # passed through to the trainer

A file with upper-case keys (DATA_PATH, DATASET, IMG_SIZE, AUG_TRAIN, ...) is read as the
reference format and converted here, at the boundary (:mod:`blocknas.data._reference`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from blocknas._io import read_yaml
from blocknas.errors import ConfigError

__all__ = ["AugmentConfig", "DataConfig", "load_data_config"]

DatasetName = Literal["digits", "cifar10", "cifar100", "imagefolder"]
LayoutName = Literal["auto", "split", "classes"]

#: Larger images are refused before decoding: 100 megapixels is 300 MB of RGB once decoded,
#: above every camera, while a crafted 30000 × 30000 PNG (2.7 GB RGB) compresses to kilobytes.
DEFAULT_MAX_IMAGE_PIXELS = 100_000_000
TrainPolicyName = Literal["randaugment", "simple", "autoaugment", "trivialaugment", "none"]


class AugmentConfig(BaseModel):
    """How batches are augmented. ``test`` is ``simple`` (resize only, done at decode) or ``none``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    train: TrainPolicyName = "randaugment"
    test: Literal["simple", "none"] = "simple"
    n_select: int = Field(default=2, ge=0, le=14, description="RandAugment: distinct ops per image")
    level: int | None = Field(
        default=14, description="RandAugment level 1..n_level; null: random per op"
    )
    n_level: int = Field(default=31, ge=1, description="RandAugment: levels on the magnitude scale")
    cutout: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Cutout probability; null: 0.8 for randaugment, else 0",
    )
    crop_padding: int = Field(
        default=0, ge=0, description="random crop after padding by this many pixels"
    )
    flip: bool = True

    @model_validator(mode="after")
    def _level_in_range(self) -> AugmentConfig:
        if self.level is not None and not 1 <= self.level <= self.n_level:
            raise ValueError(
                f"level must be in 1..n_level ({self.n_level}) or null for a random level, "
                f"not {self.level}"
            )
        return self

    def policy_params(self) -> dict[str, Any]:
        """Keyword arguments of :func:`blocknas.data.build_policy` for the train policy."""
        params: dict[str, Any] = {
            "crop_padding": self.crop_padding,
            "flip": self.flip,
            "cutout": self.cutout,
        }
        if self.train == "randaugment":
            params.update(n_select=self.n_select, level=self.level, n_level=self.n_level)
        return params


class DataConfig(BaseModel):
    """A validated data config (see the module docstring for the keys)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: DatasetName = "digits"
    path: Path | None = Field(default=None, description="dataset root; needed for imagefolder")
    img_size: int | None = Field(default=None, ge=1, le=4096)
    subset: int | float | None = None
    # 0 is the reference template's default: valid where the dataset has its own val/ folder,
    # which is checked when the data is loaded.
    val_ratio: float = Field(default=0.1, ge=0.0, lt=1.0)
    test_ratio: float = Field(default=0.2, ge=0.0, lt=1.0)
    seed: int = 0
    layout: LayoutName = Field(
        default="auto",
        description="image folders: split = path/{train,val,test}/<class>/…, classes = "
        "path/<class>/…, auto = detected from the sub-folders (a run folder records the result)",
    )
    max_image_pixels: int = Field(
        default=DEFAULT_MAX_IMAGE_PIXELS,
        ge=1,
        description="image folders: a file whose header claims more pixels is refused",
    )
    stats: Literal["auto", "cifar10", "cifar100", "imagenet"] = Field(
        default="auto", description="normalisation mean/std; auto: known for cifar, else from train"
    )
    download: bool = Field(default=True, description="cifar: download when absent under path")
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    train: dict[str, Any] = Field(default_factory=dict)
    # Where the config came from and the key each field was written as (the reference form's
    # upper-case names), so errors raised when the data is loaded name what the user wrote.
    _source: str | None = PrivateAttr(default=None)
    _written: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("subset", mode="before")
    @classmethod
    def _subset(cls, v: Any) -> Any:
        if v is None:
            return v
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"subset must be a count, a fraction or null, not {v!r}")
        if isinstance(v, int) and v < 1:
            raise ValueError(f"a subset count must be >= 1, not {v}")
        if isinstance(v, float) and not 0.0 < v <= 1.0:
            raise ValueError(f"a subset fraction must be in (0, 1], not {v}")
        return v

    @model_validator(mode="after")
    def _path_needed(self) -> DataConfig:
        if self.dataset == "imagefolder" and self.path is None:
            raise ValueError("dataset imagefolder needs a path (a folder of class sub-folders)")
        return self

    def to_dict(self) -> dict[str, Any]:
        """The own form as plain YAML-able values (what a run folder stores)."""
        return self.model_dump(mode="json")

    @property
    def source(self) -> str | None:
        """The file this config was read from; None for a mapping."""
        return self._source

    def key_name(self, field: str) -> str:
        """The key ``field`` was written as (``VAL_RATIO`` for ``val_ratio`` in a
        reference-format file), for errors raised when the data is loaded."""
        return self._written.get(field, field)


def _format_errors(exc: ValidationError, names: Mapping[str, str]) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        loc = names.get(loc, loc)
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown key '{loc}'")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def _known_keys_hint(exc: ValidationError) -> str:
    if not any(e["type"] == "extra_forbidden" for e in exc.errors()):
        return ""
    top = ", ".join(DataConfig.model_fields)
    aug = ", ".join(AugmentConfig.model_fields)
    return f" (known keys: {top}; augment: {aug})"


def load_data_config(source: str | Path | Mapping[str, Any] | DataConfig) -> DataConfig:
    """Reads and validates a data config from a YAML file or a mapping.

    A DataConfig is returned as is. Relative ``path`` values in a file are resolved against the
    file's folder (in a mapping, against the working folder when used). A reference-format
    mapping (upper-case keys) is converted first. Errors are :class:`ConfigError` naming the file
    and the key.

    >>> cfg = load_data_config({"dataset": "digits", "augment": {"train": "simple"}})
    """
    if isinstance(source, DataConfig):
        return source
    where: str | None = None
    base: Path | None = None
    if isinstance(source, Mapping):
        raw: Any = dict(source)
    else:
        file = Path(source)
        where = str(file)
        raw = read_yaml(file)
        base = file.resolve().parent
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError("a data config must be a mapping of keys to values", source=where)
    names: Mapping[str, str] = {}
    upper = sorted(str(k) for k in raw if isinstance(k, str) and k.isupper())
    if upper:
        lower = sorted(str(k) for k in raw if not (isinstance(k, str) and k.isupper()))
        if lower:
            raise ConfigError(
                f"mixes reference keys ({', '.join(upper)}) with blocknas keys "
                f"({', '.join(lower)}); use one form",
                source=where,
            )
        from blocknas.data._reference import REFERENCE_NAMES, from_reference

        raw = from_reference(raw, source=where)
        names = REFERENCE_NAMES
    raw = dict(raw)
    if base is not None and raw.get("path") is not None:
        p = Path(str(raw["path"])).expanduser()
        raw["path"] = p if p.is_absolute() else (base / p).resolve()
    try:
        cfg = DataConfig.model_validate(raw)
    except ValidationError as exc:
        hint = "" if names else _known_keys_hint(exc)
        raise ConfigError(_format_errors(exc, names) + hint, source=where) from None
    cfg._source = where
    cfg._written = dict(names)
    return cfg
