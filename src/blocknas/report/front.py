"""The Pareto front in the report's terms: 2-D fronts for plots and hypervolume over time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from blocknas.report.run import RunData, TrialRecord

__all__ = [
    "HypervolumePoint",
    "front_2d",
    "hypervolume_bounds",
    "hypervolume_history",
    "hypervolume_x",
]


@dataclass(frozen=True)
class HypervolumePoint:
    """The hypervolume of the front right after ``trial`` completed, ``seconds`` after the
    search's first trial started (None when the storage holds no times)."""

    trial: int
    seconds: float | None
    hypervolume: float


def front_2d(
    trials: Sequence[TrialRecord], y: str, x: str, *, y_direction: str = "maximize"
) -> list[TrialRecord]:
    """Trials on the front of (``y``, ``x`` minimised), sorted by ``x`` ascending: the step
    line of a trade-off plot. Trials missing either value are left out."""
    from blocknas.search.pareto import pareto_mask

    pts = [(t, t.get(y), t.get(x)) for t in trials]
    usable = [(t, a, b) for t, a, b in pts if a is not None and b is not None]
    if not usable:
        return []
    values = np.array([[a, b] for _, a, b in usable], dtype=float)
    mask = pareto_mask(values, [y_direction, "minimize"])
    on = [(t, b, a) for (t, a, b), m in zip(usable, mask, strict=True) if m]
    on.sort(key=lambda tba: (tba[1], -tba[2] if y_direction == "maximize" else tba[2]))
    return [t for t, _, _ in on]


def hypervolume_bounds(run: RunData) -> tuple[list[float], list[float], list[int]]:
    """Lower and upper bounds per objective and the log-scaled columns for the normalised
    hypervolume of this run.

    Accuracy-like objectives (maximised, all values in [0, 1]) span [0, 1]. Other objectives span
    the run's observed range, the upper bound 10 % past the worst value so that every trial adds
    volume; size objectives are measured on a log scale. Hypervolumes with these bounds compare
    the stages of one run, not different runs.
    """
    values = run.values(run.completed())
    lower, upper, logs = [], [], []
    for j, obj in enumerate(run.objectives):
        col = values[:, j] if len(values) else np.zeros(0)
        if obj.direction == "maximize" and col.size and col.min() >= 0 and col.max() <= 1:
            lower.append(0.0)
            upper.append(1.0)
            continue
        lo = float(col.min()) if col.size else 0.0
        hi = float(col.max()) if col.size else 1.0
        log = obj.log_scale and col.size > 0 and lo > 0
        if log:
            logs.append(j)
        # The 10 % margin goes past the worst value: above for a minimised objective, below
        # for a maximised one (on the log scale, a factor of 1.1).
        if obj.direction == "minimize":
            hi = hi * 1.1 if log else hi + (0.1 * (hi - lo) or 1.0)
        else:
            lo = lo / 1.1 if log else lo - (0.1 * (hi - lo) or 1.0)
        lower.append(lo)
        upper.append(hi)
    return lower, upper, logs


def _search_objectives(run: RunData) -> Any:
    """The search's own objectives (with their hypervolume ranges) when the study records
    them and they match its objectives, else None."""
    raw = run.search_config.get("objectives")
    if not raw:
        return None
    try:
        from blocknas.search.objectives import parse_objectives
    except ImportError:
        return None
    try:
        objectives = parse_objectives(raw)
    except ValueError:
        return None
    return objectives if [o.name for o in objectives] == run.objective_names else None


def hypervolume_history(run: RunData) -> list[HypervolumePoint]:
    """The normalised hypervolume of the front of all trials completed so far, after each
    completed trial, in the order the trials completed (trial-number order when the storage
    holds no times): the search's progress against wall time.

    The bounds are the search's objective ranges when the study records them (the same
    hypervolume the search prints), else those of :func:`hypervolume_bounds`.
    """
    from blocknas.search.pareto import normalized_hypervolume, pareto_mask

    done = run.completed()
    if not done:
        return []
    directions = run.directions
    objectives = _search_objectives(run)
    if objectives is not None:
        from blocknas.search.objectives import front_hypervolume

        def measure(front: np.ndarray) -> float:
            return float(front_hypervolume(front.tolist(), objectives)[1])
    else:
        lower, upper, logs = hypervolume_bounds(run)

        def measure(front: np.ndarray) -> float:
            return normalized_hypervolume(
                front, directions, lower=lower, upper=upper, log_columns=logs
            )

    # Wall time: trials finish out of number order when several workers run.
    timed = all(t.completed is not None for t in done)
    if timed:
        done = sorted(done, key=lambda t: (t.completed, t.number))
    starts = [t.started for t in run.trials if t.started is not None]
    origin = min(starts) if timed and starts else None
    values = run.values(done)
    history = []
    front = np.zeros((0, values.shape[1]))
    for trial, row in zip(done, values, strict=True):
        front = np.vstack([front, row])
        front = front[pareto_mask(front, directions)]  # keeps the running front small
        seconds = None
        if origin is not None and trial.completed is not None:
            seconds = max(0.0, (trial.completed - origin).total_seconds())
        history.append(HypervolumePoint(trial.number, seconds, measure(front)))
    return history


def hypervolume_x(history: Sequence[HypervolumePoint]) -> tuple[list[float], str]:
    """The x values and axis label of a hypervolume plot: minutes since the search started when
    every point has a time, else the trial number."""
    if history and all(h.seconds is not None for h in history):
        return [
            h.seconds / 60 for h in history if h.seconds is not None
        ], "minutes since the search started"
    return [float(h.trial) for h in history], "trial number"
