"""The search config: one YAML file, validated once into frozen objects (:class:`SearchConfig`).

Layout (every key but ``space`` has a default)::

    name: digits                  # study name, run-folder prefix
    seed: 0
    data: {dataset: digits}       # a data config (mapping, or a path relative to this file)
    train: {epochs: 12}           # fixed training keys (blocknas.train.TrainConfig)
    objectives: [accuracy, params]
    constraints: {max_params: 10000}
    sampler: tpe                  # or {name: nsga2, population_size: 16}
    n_trials: 60
    timeout: null                 # seconds
    early_stopping: {min_epochs: 2, max_epochs: 18, eta: 3}
    hook: my_space.py:extra       # optional Python hook, see blocknas.search.space
    space:
      width_multiple: {choices: [0.5, 1.0]}
      stem: {Conv: {out: {choices: [8, 16]}, kernel: 3}}
      stages: {count: 2, repeat: {int: [1, 2]}, out: [{choices: [8, 16]}, {choices: [16, 32]}],
               nc: {Conv: {kernel: {choices: [1, 3]}}, DWConv: {}},
               rc: {MaxPool: {}, InvertedResidualv2: {expand: {int: [1, 4]}}}}
      head: {conv: {choices: [0, 32]}, dropout: {float: [0.0, 0.3]}}
      train: {lr: {float: [0.003, 0.1], log: true}}
      augment: {policy: {branches: {none: {}, randaugment: {n_select: {int: [1, 3]}}}}}

Parameter values follow :mod:`blocknas.search.params`. Every problem is a :class:`ConfigError`
naming the file and the key (``space.stages.nc.Conv.kernel: ...``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from blocknas._io import read_yaml
from blocknas.blocks import get_block
from blocknas.errors import ConfigError
from blocknas.search._space_values import check_space_values
from blocknas.search.early_stopping import EarlyStoppingConfig
from blocknas.search.objectives import Constraints, Objective, parse_objectives
from blocknas.search.params import Branches, Fixed, IntRange, ParamSpec, parse_spec, spec_values

__all__ = [
    "Cell",
    "HeadSpace",
    "SamplerConfig",
    "SearchConfig",
    "SearchSpace",
    "StagesSpace",
    "is_plain_name",
    "load_search_config",
]

SAMPLERS = ("tpe", "nsga2", "gp", "random")
_SAMPLER_ALIASES = {"motpe": "tpe", "nsgaii": "nsga2", "nsga-ii": "nsga2"}
_SAMPLER_OPTIONS = {
    "tpe": {"n_startup_trials"},
    "gp": {"n_startup_trials"},
    "nsga2": {"population_size"},
    "random": set(),
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


def _spec(value: Any, *, branches: bool = False) -> ParamSpec:
    return parse_spec(value, allow_branches=branches)


def _specs(raw: Any, *, branches: bool) -> dict[str, ParamSpec]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValueError(f"must be a mapping of key to parameter, got {raw!r}")
    return {str(k): _spec(v, branches=branches) for k, v in raw.items()}


class Cell(_Frozen):
    """Blocks one position may take, each with its own (conditional) arguments.

    Written in YAML as ``{BlockName: {arg: spec, ...}, ...}``; the block is sampled among the
    keys, then only the chosen block's arguments.
    """

    options: dict[str, dict[str, ParamSpec]]

    @model_validator(mode="before")
    @classmethod
    def _from_mapping(cls, raw: Any) -> Any:
        if isinstance(raw, Mapping) and set(raw) == {"options"}:
            return raw
        if not isinstance(raw, Mapping) or not raw:
            raise ValueError("a cell is a mapping of block name to its arguments, e.g. {Conv: {}}")
        options: dict[str, dict[str, ParamSpec]] = {}
        for name, args in raw.items():
            try:
                block = get_block(str(name))
            except KeyError as exc:
                raise ValueError(str(exc.args[0])) from None
            specs = _specs(args, branches=False)
            known = set(block.Args.model_fields)
            unknown = sorted(set(specs) - known)
            if unknown:
                raise ValueError(
                    f"{name}: unknown argument(s) {unknown}; arguments: {', '.join(known)}"
                )
            options[str(name)] = specs
        return {"options": options}


def _per_stage(value: Any, count: int, what: str) -> tuple[Any, ...]:
    if isinstance(value, list):
        if len(value) != count:
            raise ValueError(f"{what}: a per-stage list needs {count} entries, got {len(value)}")
        return tuple(value)
    return (value,) * count


class StagesSpace(_Frozen):
    """``count`` stages; stage s is ``repeat`` × normal cell (stride 1) then a reduction cell
    (stride 2). Each field is one value for every stage or a list with one per stage."""

    count: int = Field(ge=0)
    repeat: tuple[ParamSpec, ...]
    non_decreasing: bool = False
    out: tuple[ParamSpec, ...]
    nc: tuple[Cell, ...]
    rc: tuple[Cell | None, ...]

    @model_validator(mode="before")
    @classmethod
    def _expand(cls, raw: Any) -> Any:
        if not isinstance(raw, Mapping):
            raise ValueError("stages must be a mapping with count, repeat, out, nc, rc")
        data = dict(raw)
        count = data.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"count must be a non-negative integer, got {count!r}")
        for key in ("repeat", "out", "nc"):
            if key not in data:
                raise ValueError(f"missing key {key!r}")
        data.setdefault("rc", None)
        for key in ("repeat", "out", "nc", "rc"):
            items = _per_stage(data[key], count, key)
            if key in ("repeat", "out"):
                items = tuple(_spec(v) for v in items)
            data[key] = items
        return data

    @model_validator(mode="after")
    def _check(self) -> StagesSpace:
        if self.non_decreasing:
            first = self.repeat[0] if self.repeat else None
            if not isinstance(first, IntRange) or any(r != first for r in self.repeat):
                raise ValueError(
                    "non_decreasing needs one {int: [low, high]} repeat for every stage"
                )
        for stage, spec in enumerate(self.repeat, 1):
            for value in spec_values(spec):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"stage {stage} repeat must be integers >= 0, got {value!r}")
        for stage, rc in enumerate(self.rc, 1):
            for name in rc.options if rc is not None else ():
                if "stride" not in get_block(name).Args.model_fields:
                    raise ValueError(
                        f"stage {stage} rc: {name} has no stride, so it cannot reduce the map"
                    )
        return self


class HeadSpace(_Frozen):
    """Classifier head: [1×1 Conv ``conv`` channels, if > 0] → GlobalAvgPool → Flatten →
    [Dropout ``dropout``, if > 0] → Linear(num_classes)."""

    conv: ParamSpec = Fixed(value=0)
    act: ParamSpec = Fixed(value="ReLU")
    dropout: ParamSpec = Fixed(value=0.0)

    @field_validator("conv", "act", "dropout", mode="before")
    @classmethod
    def _parse(cls, value: Any) -> ParamSpec:
        return _spec(value)


class SearchSpace(_Frozen):
    """What is sampled: architecture (stem, stages, head, multiples), training, data, augment."""

    width_multiple: ParamSpec = Fixed(value=1.0)
    depth_multiple: ParamSpec = Fixed(value=1.0)
    stem: Cell | None = None
    stages: StagesSpace | None = None
    head: HeadSpace = HeadSpace()
    train: dict[str, ParamSpec] = {}
    data: dict[str, ParamSpec] = {}
    augment: dict[str, ParamSpec] = {}

    @field_validator("width_multiple", "depth_multiple", mode="before")
    @classmethod
    def _multiple(cls, value: Any) -> ParamSpec:
        return _spec(value)

    @field_validator("train", "data", "augment", mode="before")
    @classmethod
    def _section(cls, value: Any) -> dict[str, ParamSpec]:
        return _specs(value, branches=True)

    @field_validator("head", mode="before")
    @classmethod
    def _head(cls, value: Any) -> Any:
        return {} if value is None else value

    @model_validator(mode="after")
    def _check(self) -> SearchSpace:
        for name, args in (self.stem.options if self.stem is not None else {}).items():
            if "out" in get_block(name).Args.model_fields and "out" not in args:
                raise ValueError(f"stem: {name} needs an 'out' argument (its channels)")
        for which, spec in (("width_multiple", self.width_multiple),
                            ("depth_multiple", self.depth_multiple)):  # fmt: skip
            for value in spec_values(spec):
                if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                    raise ValueError(f"{which} values must be positive numbers, got {value!r}")
        return self

    def section(self, name: str) -> dict[str, ParamSpec]:
        """The ``train``, ``data`` or ``augment`` section."""
        return {"train": self.train, "data": self.data, "augment": self.augment}[name]


class SamplerConfig(_Frozen):
    """Which optuna sampler proposes trials, and its few options."""

    name: Literal["tpe", "nsga2", "gp", "random"] = "tpe"
    # Trials sampled at random before the model is used (TPE: 10 by default, GP: 10).
    n_startup_trials: int | None = Field(default=None, ge=1)
    # NSGA-II generation size (optuna's default 50 is too large for searches of a few dozen).
    population_size: int | None = Field(default=None, ge=2)
    seed: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_raw(cls, raw: Any) -> Any:
        if raw is None:
            return {}
        if isinstance(raw, str):
            raw = {"name": raw}
        if not isinstance(raw, Mapping):
            raise ValueError(f"must be a sampler name or a mapping, got {raw!r}")
        data = dict(raw)
        name = str(data.get("name", "tpe")).lower()
        name = _SAMPLER_ALIASES.get(name, name)
        if name not in SAMPLERS:
            raise ValueError(f"unknown sampler {data.get('name')!r}; known: {', '.join(SAMPLERS)}")
        data["name"] = name
        extra = sorted(set(data) - {"name", "seed"} - _SAMPLER_OPTIONS[name])
        if extra:
            allowed = sorted(_SAMPLER_OPTIONS[name] | {"seed"})
            raise ValueError(f"{name} takes no option(s) {extra}; options: {allowed}")
        return data

    @property
    def startup_trials(self) -> int:
        """Trials the sampler needs before it stops sampling at random."""
        if self.name == "nsga2":
            return self.population_size or 50
        if self.name in ("tpe", "gp"):
            return self.n_startup_trials or 10
        return 0


class SearchConfig(_Frozen):
    """A validated search config. Build it with :func:`load_search_config`."""

    name: str = "search"
    description: str | None = None
    seed: int = 0
    data: dict[str, Any]
    train: dict[str, Any] = {}
    objectives: tuple[Objective, ...] = ()
    constraints: Constraints = Constraints()
    sampler: SamplerConfig = SamplerConfig()
    n_trials: int | None = Field(default=None, ge=1)
    timeout: float | None = Field(default=None, gt=0)
    n_jobs: int = Field(default=1, ge=1)
    early_stopping: EarlyStoppingConfig
    hook: str | None = None
    space: SearchSpace
    # Where relative paths (data path, hook file) are resolved; not part of the YAML.
    base_dir: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not is_plain_name(value):
            raise ValueError(f"name must be a non-empty single word or phrase, got {value!r}")
        return value

    @property
    def max_epochs(self) -> int:
        return self.early_stopping.max_epochs

    @property
    def directions(self) -> list[Literal["minimize", "maximize"]]:
        return [o.direction for o in self.objectives]

    @property
    def trains(self) -> bool:
        """Whether trials are trained (some objective needs a trained model)."""
        return any(o.needs_training for o in self.objectives)

    def to_dict(self) -> dict[str, Any]:
        """The resolved config in its own YAML form: loading it again gives the same config."""
        from blocknas.search._dump import dump_config

        return dump_config(self)


def is_plain_name(value: str) -> bool:
    """Whether ``value`` can name a study and start a run folder's name: not empty, no path
    separator, no control character, no surrounding space, not ``.`` or ``..``."""
    return (
        bool(value)
        and value.strip() == value
        and value not in (".", "..")
        and not any(c in "/\\" or ord(c) < 32 or ord(c) == 127 for c in value)
    )


def load_search_config(source: str | Path | Mapping[str, Any] | SearchConfig) -> SearchConfig:
    """Read and validate a search config from a YAML path or an already-parsed mapping.

    >>> cfg = load_search_config("configs/search/digits.yaml")  # doctest: +SKIP
    >>> cfg.objectives[0].name  # doctest: +SKIP
    'accuracy'
    """
    if isinstance(source, SearchConfig):
        return source
    name: str | None = None
    base: Path | None = None
    if isinstance(source, str | Path):
        path = Path(source)
        name, base = str(path), path.resolve().parent
        raw = read_yaml(path)
    else:
        raw = source
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"a search config must be a mapping, got {type(raw).__name__}", source=name
        )
    return _validate(dict(raw), name, base)


_TOP_KEYS = {
    "name", "description", "seed", "data", "train", "objectives", "constraints", "sampler",
    "n_trials", "timeout", "n_jobs", "early_stopping", "hook", "space", "base_dir",
}  # fmt: skip


def _validate(raw: dict[str, Any], name: str | None, base: Path | None) -> SearchConfig:
    unknown = sorted(set(map(str, raw)) - _TOP_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r}; known keys: {', '.join(sorted(_TOP_KEYS - {'base_dir'}))}",
            source=name,
        )
    if "space" not in raw:
        raise ConfigError("missing key 'space' (what the search samples)", source=name)
    if base is not None and raw.get("base_dir") is None:
        raw["base_dir"] = str(base)
    raw["data"] = _data_section(raw.get("data"), raw.get("base_dir"), name)
    try:
        raw["objectives"] = parse_objectives(raw.get("objectives"))
    except ValueError as exc:
        raise ConfigError(f"objectives: {exc}", source=name) from None
    raw["train"], raw["early_stopping"] = _train_and_stopping(raw, name)
    try:
        cfg = SearchConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc), source=name) from None
    _check_space_types(cfg, name)
    if cfg.space.stem is None and cfg.space.stages is None and cfg.hook is None:
        raise ConfigError(
            "space: no model to sample (give space.stem and/or space.stages, or a hook that "
            "sets the model)",
            source=name,
        )
    check_space_values(cfg.space, name)
    return cfg


def _data_section(value: Any, base: str | None, name: str | None) -> dict[str, Any]:
    """The resolved data config (own form, every key, absolute ``path``), validated by the data
    package. ``value`` is a mapping (relative paths from the search config's folder) or the path
    of a data config file (own or reference form; relative paths from that file's folder)."""
    from blocknas.data import load_data_config

    if value is None:
        value = {"dataset": "digits"}
    if isinstance(value, str):
        path = Path(value)
        if not path.is_absolute() and base is not None:
            path = Path(base) / path
        if not path.is_file():
            raise ConfigError(f"data: no such data config {str(path)!r}", source=name)
        return load_data_config(path).to_dict()
    if not isinstance(value, Mapping):
        raise ConfigError(f"data: must be a mapping or a path, got {value!r}", source=name)
    data = dict(value)
    if data.get("path") is not None and base is not None:
        path = Path(str(data["path"])).expanduser()
        data["path"] = str(path if path.is_absolute() else (Path(base) / path).resolve())
    try:
        return load_data_config(data).to_dict()
    except ConfigError as exc:
        raise ConfigError(f"data: {exc.detail}", source=name) from None


def _train_and_stopping(
    raw: Mapping[str, Any], name: str | None
) -> tuple[dict[str, Any], EarlyStoppingConfig]:
    """Fixed training keys and the early-stopping schedule, whose max_epochs is the training
    length of a trial that is never stopped."""
    from blocknas.train import TrainConfig

    train = raw.get("train") or {}
    if not isinstance(train, Mapping):
        raise ConfigError(f"train: must be a mapping of training keys, got {train!r}", source=name)
    train = dict(train)
    where = f"{name}: train" if name else "train"
    TrainConfig.from_mapping(train, source=where)  # keys and values, without the sampled ones
    stopping = raw.get("early_stopping")
    space = raw.get("space")
    sampled = space.get("train", {}) if isinstance(space, Mapping) else {}
    epochs_spec = sampled.get("epochs") if isinstance(sampled, Mapping) else None
    max_epochs = int(train.get("epochs", TrainConfig().epochs))
    if epochs_spec is not None:
        with contextlib.suppress(TypeError, ValueError):  # reported by the space's validation
            max_epochs = int(max(spec_values(parse_spec(epochs_spec))))
    if isinstance(stopping, Mapping) and "max_epochs" in stopping:
        given = stopping["max_epochs"]
        if "epochs" in train and given != train["epochs"]:
            raise ConfigError(
                f"early_stopping.max_epochs ({given}) and train.epochs ({train['epochs']}) "
                "differ; give one of them (a trial that is never stopped trains max_epochs)",
                source=name,
            )
        if isinstance(given, int) and not isinstance(given, bool) and epochs_spec is None:
            train["epochs"] = given
    es = EarlyStoppingConfig.from_mapping(stopping, max_epochs=max_epochs, source=name)
    return train, es


def _describe(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"] if p not in ("options",))
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "missing":
        msg = "missing key"
    return f"{loc}: {msg}" if loc else msg


def _check_space_types(cfg: SearchConfig, name: str | None) -> None:
    """Check each cell argument's possible values against the block's typed arguments, so that a
    typo such as ``kernel: {choices: ["3"]}`` is reported now rather than failing every trial."""
    space = cfg.space
    cells: list[tuple[str, Cell]] = []
    if space.stem is not None:
        cells.append(("space.stem", space.stem))
    if space.stages is not None:
        for s in range(space.stages.count):
            cells.append((f"space.stages.nc (stage {s + 1})", space.stages.nc[s]))
            rc = space.stages.rc[s]
            if rc is not None:
                cells.append((f"space.stages.rc (stage {s + 1})", rc))
    for where, cell in cells:
        for block_name, args in cell.options.items():
            _check_block_args(block_name, args, f"{where}.{block_name}", name)
    for section in ("train", "data", "augment"):
        _check_branch_names(space.section(section), f"space.{section}", name)


def _check_block_args(
    block_name: str, args: Mapping[str, ParamSpec], where: str, name: str | None
) -> None:
    block = get_block(block_name)
    fields = block.Args.model_fields
    base: dict[str, Any] = {}
    if "out" in fields:
        base["out"] = 8
    for arg, spec in args.items():
        base[arg] = spec_values(spec)[0]
    for arg, spec in args.items():
        for value in spec_values(spec):
            try:
                block.Args.model_validate({**base, arg: value})
            except ValidationError as exc:
                err = exc.errors()[0]
                msg = str(err["msg"]).removeprefix("Value error, ")
                # The failing argument may be another one's first value, taken as the base.
                loc = err["loc"]
                bad, got = (loc[0], err.get("input")) if loc and loc[0] in args else (arg, value)
                raise ConfigError(f"{where}.{bad}: value {got!r}: {msg}", source=name) from None


def _check_branch_names(specs: Mapping[str, ParamSpec], where: str, name: str | None) -> None:
    for key, spec in specs.items():
        if isinstance(spec, Branches):
            for branch, sub in spec.branches.items():
                clash = sorted(set(sub) & set(specs))
                if clash:
                    raise ConfigError(
                        f"{where}.{key}.{branch}: key(s) {clash} are also given outside the "
                        "branch; give each key in one place",
                        source=name,
                    )
                _check_branch_names(sub, f"{where}.{key}.{branch}", name)
