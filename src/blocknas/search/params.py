"""Declarative parameters of a search space: what a YAML value such as ``{int: [1, 4]}`` means.

A parameter spec is one of

* a plain value (``3``, ``ReLU``, ``[0]``) or ``{value: x}``: fixed, never sampled;
* ``{choices: [a, b, ...]}``: categorical (values: null, bool, int, float or str);
* ``{int: [low, high], step: 1, log: false}``: integer range, both ends included;
* ``{float: [low, high], step: null, log: false}``: float range (``log: true`` samples the
  logarithm uniformly, for learning rates and weight decays);
* ``{branches: {name: {key: spec, ...}, ...}}``: a conditional choice: the branch name is sampled
  and only the chosen branch's keys are sampled after it (e.g. ``optimizer: {branches: {sgd:
  {lr: ...}, adamw: {lr: ...}}}``).

Each sampled parameter gets one hierarchical name (``train/lr``, ``train/optimizer/sgd/lr``)
that belongs to exactly one spec, so no sampler ever sees one name with two ranges.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, model_validator

if TYPE_CHECKING:
    import optuna

__all__ = [
    "Branches",
    "Choice",
    "Fixed",
    "FloatRange",
    "IntRange",
    "ParamSpec",
    "dump_spec",
    "parse_spec",
    "spec_values",
    "suggest",
]

_SPEC_KEYS = {
    "value": "a fixed value",
    "choices": "a list of values to choose from",
    "int": "[low, high] integer range",
    "float": "[low, high] float range",
    "branches": "a mapping of branch name to that branch's parameters",
}
_RANGE_OPTIONS = {"step", "log"}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Fixed(_Frozen):
    """A value that is never sampled."""

    value: Any


class Choice(_Frozen):
    """A categorical parameter. A single choice is a fixed value and is not sampled."""

    choices: tuple[bool | int | float | str | None, ...]

    @model_validator(mode="after")
    def _check(self) -> Choice:
        if not self.choices:
            raise ValueError("choices must not be empty")
        if len(set(map(repr, self.choices))) != len(self.choices):
            raise ValueError(f"choices repeat a value: {list(self.choices)}")
        return self


class IntRange(_Frozen):
    """An integer in [low, high], both included."""

    low: int
    high: int
    step: int = 1
    log: bool = False

    @model_validator(mode="after")
    def _check(self) -> IntRange:
        _check_range(self.low, self.high, self.step, self.log)
        return self


class FloatRange(_Frozen):
    """A float in [low, high]."""

    low: float
    high: float
    step: float | None = None
    log: bool = False

    @model_validator(mode="after")
    def _check(self) -> FloatRange:
        _check_range(self.low, self.high, self.step, self.log)
        return self


class Branches(_Frozen):
    """A conditional choice: the branch name is sampled, then only that branch's parameters."""

    branches: dict[str, dict[str, ParamSpec]]

    @model_validator(mode="after")
    def _check(self) -> Branches:
        if not self.branches:
            raise ValueError("branches must not be empty")
        return self


ParamSpec = Fixed | Choice | IntRange | FloatRange | Branches
Branches.model_rebuild()


def _check_range(low: float, high: float, step: float | None, log: bool) -> None:
    if low > high:
        raise ValueError(f"low ({low}) must not exceed high ({high})")
    if step is not None and step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    if log and low <= 0:
        raise ValueError(f"a log range needs low > 0, got {low}")
    if log and step not in (None, 1):
        raise ValueError("a log range cannot have a step")


def parse_spec(raw: Any, *, allow_branches: bool = False) -> ParamSpec:
    """Turn a YAML value into a spec; raises ValueError with a short, user-facing message."""
    if isinstance(raw, ParamSpec):
        return raw
    if not isinstance(raw, Mapping):
        return Fixed(value=raw)
    kinds = [k for k in raw if k in _SPEC_KEYS]
    if len(kinds) != 1:
        forms = "; ".join(f"{k}: {v}" for k, v in _SPEC_KEYS.items())
        raise ValueError(f"a parameter is a plain value or a mapping with one of: {forms}")
    kind = kinds[0]
    extra = set(map(str, raw)) - {kind} - (_RANGE_OPTIONS if kind in ("int", "float") else set())
    if extra:
        raise ValueError(f"unknown option(s) {sorted(extra)} for a {kind!r} parameter")
    if kind == "value":
        return Fixed(value=raw["value"])
    if kind == "choices":
        if not isinstance(raw["choices"], list):
            raise ValueError(f"choices must be a list, got {raw['choices']!r}")
        return Choice(choices=tuple(raw["choices"]))
    if kind == "branches":
        if not allow_branches:
            raise ValueError("branches are allowed in the train, data and augment sections only")
        return _parse_branches(raw["branches"])
    bounds = raw[kind]
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise ValueError(f"{kind} must be [low, high], got {bounds!r}")
    cls = IntRange if kind == "int" else FloatRange
    return cls.model_validate(
        {"low": bounds[0], "high": bounds[1], **{k: raw[k] for k in _RANGE_OPTIONS if k in raw}}
    )


def _parse_branches(raw: Any) -> Branches:
    if not isinstance(raw, Mapping) or not raw:
        raise ValueError("branches must be a non-empty mapping of branch name to parameters")
    branches: dict[str, dict[str, ParamSpec]] = {}
    for name, params in raw.items():
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise ValueError(f"branch {name!r} must map parameter names to values, got {params!r}")
        branches[str(name)] = {
            str(k): parse_spec(v, allow_branches=True) for k, v in params.items()
        }
    return Branches(branches=branches)


def dump_spec(spec: ParamSpec) -> Any:
    """The YAML form of a spec; :func:`parse_spec` reads it back to an equal spec."""
    if isinstance(spec, Fixed):
        return {"value": spec.value} if isinstance(spec.value, Mapping) else spec.value
    if isinstance(spec, Choice):
        return {"choices": list(spec.choices)}
    if isinstance(spec, IntRange | FloatRange):
        kind = "int" if isinstance(spec, IntRange) else "float"
        out: dict[str, Any] = {kind: [spec.low, spec.high]}
        if spec.step not in (None, 1) or (kind == "float" and spec.step is not None):
            out["step"] = spec.step
        if spec.log:
            out["log"] = True
        return out
    return {
        "branches": {
            name: {k: dump_spec(v) for k, v in params.items()}
            for name, params in spec.branches.items()
        }
    }


def spec_values(spec: ParamSpec) -> list[Any]:
    """A few representative values of a spec (ends of ranges, every choice), for validation."""
    if isinstance(spec, Fixed):
        return [spec.value]
    if isinstance(spec, Choice):
        return list(spec.choices)
    if isinstance(spec, IntRange | FloatRange):
        return [spec.low, spec.high]
    return list(spec.branches)


def suggest(trial: optuna.Trial, name: str, spec: ParamSpec) -> Any:
    """The value of ``spec`` for this trial, sampled under ``name`` unless it is fixed.

    For :class:`Branches` the branch name is returned; the caller samples the branch's keys
    (see :func:`blocknas.search.space.suggest_section`).
    """
    if isinstance(spec, Fixed):
        return spec.value
    if isinstance(spec, Choice):
        if len(spec.choices) == 1:
            return spec.choices[0]
        return trial.suggest_categorical(name, list(spec.choices))
    if isinstance(spec, IntRange):
        if spec.low == spec.high:
            return spec.low
        return trial.suggest_int(name, spec.low, spec.high, step=spec.step, log=spec.log)
    if isinstance(spec, FloatRange):
        if spec.low == spec.high:
            return spec.low
        if spec.step is not None:
            # optuna needs (high - low) to be a multiple of step; round the top end down to one.
            n = math.floor((spec.high - spec.low) / spec.step + 1e-9)
            high = spec.low + n * spec.step
            return trial.suggest_float(name, spec.low, high, step=spec.step)
        return trial.suggest_float(name, spec.low, spec.high, log=spec.log)
    names = list(spec.branches)
    if len(names) == 1:
        return names[0]
    return trial.suggest_categorical(name, names)
