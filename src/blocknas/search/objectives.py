"""Objectives (what a search optimises) and hard constraints (what it must never exceed).

Objective names: ``accuracy`` and ``f1`` (validation split, maximised), ``params``, ``macs`` and
``latency_ms`` (measured CPU latency at batch 1, minimised). Hard constraints ``max_params``,
``max_macs`` and ``max_latency_ms`` are checked before any training: the first two from the
spec's arithmetic before the model is built, the latency on the built model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "OBJECTIVES",
    "Constraints",
    "Measured",
    "Objective",
    "front_hypervolume",
    "hypervolume_scale",
    "parse_objectives",
]


@dataclass(frozen=True)
class _Kind:
    direction: Literal["minimize", "maximize"]
    lower: float  # default hypervolume bounds, in the objective's units
    upper: float
    log: bool  # sizes span orders of magnitude: hypervolume on log10
    needs_training: bool
    description: str


OBJECTIVES: dict[str, _Kind] = {
    "accuracy": _Kind("maximize", 0.0, 1.0, False, True, "validation accuracy (fraction)"),
    "f1": _Kind("maximize", 0.0, 1.0, False, True, "validation macro-F1"),
    "params": _Kind("minimize", 1e3, 1e7, True, False, "learnable parameters"),
    "macs": _Kind("minimize", 1e4, 1e10, True, False, "multiply-accumulates at batch 1"),
    "latency_ms": _Kind("minimize", 0.01, 1e3, True, False, "CPU latency at batch 1 (ms)"),
}
_ALIASES = {"macro_f1": "f1", "val_accuracy": "accuracy", "latency": "latency_ms"}


class Objective(BaseModel):
    """One objective: its name, direction, and the range its hypervolume is measured over."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    direction: Literal["minimize", "maximize"]
    lower: float
    upper: float
    log: bool
    needs_training: bool


def parse_objectives(raw: Any) -> tuple[Objective, ...]:
    """``[accuracy, params]`` or ``[{name: params, range: [500, 100000]}, ...]``.

    Default: accuracy and params. ``range`` sets the hypervolume bounds (log10 for sizes).
    """
    if raw is None:
        raw = ["accuracy", "params"]
    if not isinstance(raw, list) or not raw:
        raise ValueError("give a non-empty list of objective names")
    out: list[Objective] = []
    for item in raw:
        entry = {"name": item} if isinstance(item, str) else item
        if not isinstance(entry, Mapping) or "name" not in entry:
            raise ValueError(
                f"an objective is a name or {{name: ..., range: [lo, hi]}}, got {item!r}"
            )
        extra = sorted(set(entry) - {"name", "range"})
        if extra:
            raise ValueError(f"unknown objective option(s) {extra}; options: name, range")
        name = _ALIASES.get(str(entry["name"]), str(entry["name"]))
        if name not in OBJECTIVES:
            raise ValueError(f"unknown objective {entry['name']!r}; known: {', '.join(OBJECTIVES)}")
        kind = OBJECTIVES[name]
        lower, upper = kind.lower, kind.upper
        if "range" in entry:
            bounds = entry["range"]
            if (
                not isinstance(bounds, list)
                or len(bounds) != 2
                or not all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)
                or not bounds[0] < bounds[1]
                or (kind.log and bounds[0] <= 0)
            ):
                raise ValueError(f"{name}: range must be [low, high] with 0 < low < high")
            lower, upper = float(bounds[0]), float(bounds[1])
        out.append(
            Objective(
                name=name,
                direction=kind.direction,
                lower=lower,
                upper=upper,
                log=kind.log,
                needs_training=kind.needs_training,
            )
        )
    names = [o.name for o in out]
    if len(set(names)) != len(names):
        raise ValueError(f"an objective is listed twice: {names}")
    return tuple(out)


@dataclass(frozen=True)
class Measured:
    """What is known of a model before training."""

    params: int
    macs: int
    latency_ms: float | None


class Constraints(BaseModel):
    """Hard limits, checked before training; a violating architecture is never trained."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_params: int | None = Field(default=None, gt=0)
    max_macs: int | None = Field(default=None, gt=0)
    max_latency_ms: float | None = Field(default=None, gt=0)

    @property
    def active(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.model_dump().items() if v is not None}

    @property
    def needs_latency(self) -> bool:
        return self.max_latency_ms is not None

    def values(self, measured: Measured) -> dict[str, float]:
        """Relative excess per constraint, (value − limit) / limit: ≤ 0 feasible (optuna's rule).

        Relative values keep constraints of very different scales comparable for the samplers
        that add violations up (TPE, NSGA-II).
        """
        got = {
            "max_params": measured.params,
            "max_macs": measured.macs,
            "max_latency_ms": measured.latency_ms,
        }
        out = {}
        for key, limit in self.active.items():
            value = got[key]
            # Latency is not measured for a model refused from its parameters or MACs (it is
            # never built): counted as on the limit, the other constraint makes it infeasible.
            out[key] = 0.0 if value is None else (float(value) - limit) / limit
        return out

    def describe_violation(self, measured: Measured) -> str | None:
        """``"params 12,345 > max_params 10,000"`` for each violated limit, or None."""
        got = {"max_params": measured.params, "max_macs": measured.macs,
               "max_latency_ms": measured.latency_ms}  # fmt: skip
        parts = []
        for key, limit in self.active.items():
            value = got[key]
            if value is not None and value > limit:
                label = key.removeprefix("max_")
                fmt = "{:,.3f}" if key == "max_latency_ms" else "{:,.0f}"
                parts.append(f"{label} {fmt.format(value)} > {key} {fmt.format(limit)}")
        return "; ".join(parts) or None


def front_hypervolume(
    values: Sequence[Sequence[float]], objectives: Sequence[Objective]
) -> tuple[np.ndarray, float]:
    """Pareto mask and normalised hypervolume (in [0, 1]) of objective vectors.

    Args:
        values: shape (n, m), objective values of feasible finished trials.
        objectives: the m objectives (directions, bounds, log scale).

    Returns:
        (shape (n,) bool front mask, hypervolume).
    """
    from blocknas.search.pareto import hypervolume, pareto_mask

    arr = np.asarray(values, dtype=float).reshape(len(values), len(objectives))
    if len(arr) == 0:
        return np.zeros(0, dtype=bool), 0.0
    mask = pareto_mask(arr, [o.direction for o in objectives])
    m = len(objectives)
    hv = hypervolume(hypervolume_scale(objectives)(arr[mask]), ["minimize"] * m, [1.0] * m)
    return mask, float(hv)


def hypervolume_scale(objectives: Sequence[Objective]) -> Callable[[np.ndarray], np.ndarray]:
    """The map of objective values (n, m) to the normalised hypervolume space of a search.

    Each objective between its bounds (sizes on log10), oriented so that 0 is the best bound
    and 1 the reference point: what :func:`front_hypervolume` measures, and what early
    stopping weighs a rung's trials by.
    """
    from blocknas.search.pareto import normalize_for_hypervolume

    directions = [o.direction for o in objectives]
    logs = [j for j, o in enumerate(objectives) if o.log]
    lower = [o.lower for o in objectives]
    upper = [o.upper for o in objectives]

    def scale(values: np.ndarray) -> np.ndarray:
        # A size below the lower bound would make log10 invalid; clipping keeps it at the best
        # bound.
        clipped = np.array(values, dtype=float).reshape(-1, len(objectives))
        for j in logs:
            clipped[:, j] = np.maximum(clipped[:, j], lower[j])
        return normalize_for_hypervolume(
            clipped, directions, lower=lower, upper=upper, log_columns=logs
        )

    return scale
