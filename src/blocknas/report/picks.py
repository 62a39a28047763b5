"""Picks: which trial to ship. Pure functions over trial records.

The three classic questions — the most accurate model (:func:`best_accuracy`), the smallest
model as accurate as a baseline (:func:`smallest_within`), a good balance (:func:`knee`) — and
hard budgets (:func:`max_params`, :func:`within_budget`). Each returns a :class:`Pick`: the
trial and, when a baseline is given, its parameters, MACs and latency as ratios to the
baseline's (0.25 = a quarter of the baseline's).

Accuracies are fractions in [0, 1]; a tolerance in *points* is a percentage point (1.0 = 0.01).
Ties go to the smaller model, then to the lower trial number, so results do not depend on order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from blocknas.errors import BlocknasError
from blocknas.report.run import Objective, TrialRecord

__all__ = [
    "CostLike",
    "Pick",
    "Ratios",
    "best_accuracy",
    "knee",
    "max_params",
    "ratios",
    "smallest_within",
    "within_budget",
]


class CostLike(Protocol):
    """What a ratio is taken against (a :class:`~blocknas.report.baselines.Baseline`)."""

    @property
    def name(self) -> str: ...
    @property
    def params(self) -> int: ...
    @property
    def macs(self) -> int: ...
    @property
    def latency_ms(self) -> float | None: ...


@dataclass(frozen=True)
class Ratios:
    """A trial's cost divided by a baseline's; None where either is unknown."""

    baseline: str
    params: float | None
    macs: float | None
    latency_ms: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline, "params": self.params, "macs": self.macs,
                "latency_ms": self.latency_ms}  # fmt: skip


@dataclass(frozen=True)
class Pick:
    """A chosen trial, why it was chosen, and its cost relative to a baseline."""

    kind: str
    description: str
    trial: TrialRecord
    metric: str
    ratios: Ratios | None = None

    @property
    def accuracy(self) -> float | None:
        return self.trial.get(self.metric)

    def to_dict(self) -> dict[str, Any]:
        t = self.trial
        return {
            "kind": self.kind,
            "description": self.description,
            "trial": t.number,
            "metric": self.metric,
            "value": self.accuracy,
            "params": t.params,
            "macs": t.macs,
            "latency_ms": t.latency_ms,
            "model_yaml": str(t.model_path) if t.model_path else None,
            "ratios": self.ratios.to_dict() if self.ratios else None,
        }


def ratios(trial: TrialRecord, baseline: CostLike) -> Ratios:
    """``trial``'s params, MACs and latency as ratios to ``baseline``'s."""

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None or b <= 0 else a / b

    return Ratios(
        baseline.name,
        ratio(trial.params, baseline.params),
        ratio(trial.macs, baseline.macs),
        ratio(trial.latency_ms, baseline.latency_ms),
    )


def _scored(trials: Sequence[TrialRecord], metric: str) -> list[tuple[float, TrialRecord]]:
    scored = [(v, t) for t in trials if (v := t.get(metric)) is not None]
    if not scored:
        raise BlocknasError(f"no completed trial has a {metric} value to pick by")
    return scored


def _size(trial: TrialRecord, size: str) -> float:
    value = trial.get(size)
    return float("inf") if value is None else value


def _pick(
    kind: str, description: str, trial: TrialRecord, metric: str, baseline: CostLike | None
) -> Pick:
    return Pick(kind, description, trial, metric, ratios(trial, baseline) if baseline else None)


def best_accuracy(
    trials: Sequence[TrialRecord], *, metric: str = "accuracy", baseline: CostLike | None = None
) -> Pick:
    """The most accurate trial (the smallest one among equals)."""
    _, best = min(_scored(trials, metric), key=lambda vt: (-vt[0], _size(vt[1], "params"),
                                                          vt[1].number))  # fmt: skip
    return _pick("best-accuracy", f"highest {metric}", best, metric, baseline)


def smallest_within(
    trials: Sequence[TrialRecord],
    baseline_accuracy: float,
    tolerance_points: float = 1.0,
    *,
    metric: str = "accuracy",
    size: str = "params",
    of: str | None = None,
    baseline: CostLike | None = None,
) -> Pick:
    """The smallest trial (by ``size``) whose ``metric`` is at least ``baseline_accuracy``
    minus ``tolerance_points`` percentage points. ``of`` names the baseline in the description.

    >>> smallest_within(trials, 0.93, 1.0, of="mobilenetv2")  # doctest: +SKIP
    """
    threshold = baseline_accuracy - tolerance_points / 100.0
    scored = _scored(trials, metric)
    ok = [(v, t) for v, t in scored if v >= threshold - 1e-12]
    source = f"{of}'s {baseline_accuracy:.4f}" if of else f"{baseline_accuracy:.4f}"
    if not ok:
        top, t = max(scored, key=lambda vt: vt[0])
        raise BlocknasError(
            f"no trial reaches {metric} {threshold:.4f} ({source} − {tolerance_points:g} points); "
            f"the best is {top:.4f} (trial {t.number})"
        )
    _, best = min(ok, key=lambda vt: (_size(vt[1], size), -vt[0], vt[1].number))
    text = f"fewest {size} with {metric} ≥ {threshold:.4f} ({source} − {tolerance_points:g} points)"
    return _pick("smallest-within", text, best, metric, baseline)


def knee(
    trials: Sequence[TrialRecord],
    objectives: Sequence[Objective],
    *,
    baseline: CostLike | None = None,
) -> Pick:
    """The knee of the front of ``trials`` over ``objectives``: the front point nearest the
    ideal point once each objective is min-max scaled (sizes on a log scale), see
    :func:`blocknas.search.pareto.knee_point`."""
    import numpy as np

    from blocknas.search.pareto import knee_point

    names = [o.name for o in objectives]
    usable = [t for t in trials if all(n in t.values for n in names)]
    if not usable:
        raise BlocknasError("no completed trial to pick a knee from")
    usable.sort(key=lambda t: t.number)
    values = np.array([[t.values[n] for n in names] for t in usable], dtype=float)
    logs = [i for i, o in enumerate(objectives) if o.log_scale and (values[:, i] > 0).all()]
    index = knee_point(values, [o.direction for o in objectives], log_columns=logs)
    metric = next((n for n in ("accuracy", "f1") if n in names), names[0])
    text = "best balance: the front point nearest the ideal point (" + ", ".join(names) + ")"
    return _pick("knee", text, usable[index], metric, baseline)


def within_budget(
    trials: Sequence[TrialRecord],
    *,
    max_params: int | None = None,
    max_macs: int | None = None,
    max_latency_ms: float | None = None,
    metric: str = "accuracy",
    baseline: CostLike | None = None,
) -> Pick:
    """The most accurate trial within every given limit (a trial whose cost is unknown for a
    limited quantity does not qualify)."""
    given = {"params": max_params, "macs": max_macs, "latency_ms": max_latency_ms}
    limits: dict[str, float] = {k: v for k, v in given.items() if v is not None}
    if not limits:
        raise BlocknasError("give at least one limit (params, MACs or latency)")

    def fits(t: TrialRecord) -> bool:
        return all((v := t.get(k)) is not None and v <= lim for k, lim in limits.items())

    scored = _scored(trials, metric)
    ok = [(v, t) for v, t in scored if fits(t)]
    text = ", ".join(f"{k} ≤ {v:,}" for k, v in limits.items())
    if not ok:
        raise BlocknasError(f"no completed trial fits {text}")
    _, best = min(ok, key=lambda vt: (-vt[0], _size(vt[1], "params"), vt[1].number))
    kind = "max-params" if list(limits) == ["params"] else "within-budget"
    return _pick(kind, f"highest {metric} with {text}", best, metric, baseline)


def max_params(
    trials: Sequence[TrialRecord],
    limit: int,
    *,
    metric: str = "accuracy",
    baseline: CostLike | None = None,
) -> Pick:
    """The most accurate trial with at most ``limit`` parameters."""
    return within_budget(trials, max_params=limit, metric=metric, baseline=baseline)
