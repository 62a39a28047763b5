"""Pure arithmetic of multi-objective asynchronous successive halving (no storage, no optuna)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from blocknas.search.pareto import _to_minimization as to_minimization
from blocknas.search.pareto import (
    crowding_distance,
    epsilon_net_order,
    hypervolume_contributions,
    non_dominated_sort,
)

TieBreak = Literal["hypervolume", "crowding", "epsnet"]
# Maps rung values (n, m), in the objectives' own units and directions, to minimisation space
# where 0 is the best bound and 1 the reference point (see normalize_for_hypervolume).
Scale = Callable[[np.ndarray], np.ndarray]

_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0  # Weyl-sequence step: evenly spread fractional parts


def geometric_rungs(min_epochs: int, max_epochs: int, eta: int) -> tuple[int, ...]:
    """r, r·η, r·η², ... up to and including max_epochs when it is reached exactly."""
    rungs = []
    epoch = min_epochs
    while epoch <= max_epochs:
        rungs.append(epoch)
        epoch *= eta
    return tuple(rungs)


def _rung_space(points: np.ndarray, directions: Sequence[Any], scale: Scale | None) -> np.ndarray:
    """The rung's values in minimisation space with the reference point at 1 in every column.

    With ``scale`` (the search's objective bounds) as given; without, each column min-max
    scaled over the rung's entries and the reference put 10 % of the range beyond the worst.
    """
    if scale is not None:
        return np.asarray(scale(points), dtype=float)
    oriented = to_minimization(points, directions)
    low, high = oriented.min(axis=0), oriented.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    return (oriented - low) / span / 1.1


def _order_within_front(
    points: np.ndarray, directions: Sequence[Any], tie_break: TieBreak, space: np.ndarray
) -> np.ndarray:
    """Permutation of one front's rows, preferred first. (f, m) -> (f,).

    ``space``: the same rows in :func:`_rung_space`, for the hypervolume tie-breaker.
    """
    if tie_break == "hypervolume":
        contributions = hypervolume_contributions(space, ["minimize"] * space.shape[1],
                                                  [1.0] * space.shape[1])  # fmt: skip
        return np.argsort(-contributions, kind="stable")
    if tie_break == "epsnet":
        return epsilon_net_order(points, directions)
    if tie_break == "crowding":
        # Larger crowding distance first; a stable sort keeps row order (trial order) on ties.
        return np.argsort(-crowding_distance(points), kind="stable")
    raise ValueError(f"tie_break must be 'hypervolume', 'crowding' or 'epsnet', got {tie_break!r}")


def rung_ranks(
    values: Any,
    directions: Sequence[Any],
    tie_break: TieBreak = "hypervolume",
    scale: Scale | None = None,
) -> np.ndarray:
    """Position of every entry of a rung in the MO-ASHA order (0 = best).

    Entries are ordered by Pareto front (non-dominated sorting), then inside each front by the
    tie-breaker: decreasing exclusive hypervolume contribution (the volume only that entry
    dominates, with the reference point of ``scale``), decreasing crowding distance, or the
    ε-net (greedy farthest-point) order; then by row order. The result is the inverse of that
    ordering permutation: ``ranks[i]`` is where entry ``i`` stands, not which entry stands at
    position ``i``.

    Args:
        values: shape (n, m), the rung values of the n entries (rows in trial order).
        directions: length m.
        tie_break: "hypervolume", "crowding" or "epsnet".
        scale: for "hypervolume": maps values to minimisation space with the reference point at
            1 (e.g. the search's hypervolume normalisation); default: min-max over the rung.

    Returns:
        shape (n,), a permutation of ``range(n)``.
    """
    points = np.asarray(values, dtype=float)
    n = len(points)
    if n == 0:
        return np.zeros(0, dtype=np.intp)
    space = _rung_space(points, directions, scale) if tie_break == "hypervolume" else points
    fronts = non_dominated_sort(points, directions)
    order_parts = []
    for front in range(int(fronts.max()) + 1):
        members = np.flatnonzero(fronts == front)
        within = _order_within_front(points[members], directions, tie_break, space[members])
        order_parts.append(members[within])
    order = np.concatenate(order_parts)
    ranks = np.empty(n, dtype=np.intp)
    ranks[order] = np.arange(n)
    return ranks


def n_continuing(n_entries: int, eta: int) -> int:
    """How many of a rung's entries go on: the top ⌈n/η⌉, those with fewer than n/η entries
    ranked ahead of them; all of them while n < η.

    Rounding up, not down: a trial is judged once, when it arrives, and one with fewer than n/η
    entries ahead of it is inside the top 1/η of the rung. In the promotion form of ASHA such a
    trial would be promoted once later arrivals filled the rung; rounding down stops it (with n = 4
    or 5 and η = 3 only the first entry would go on). benchmarks/early_stopping_whatif.py
    replays: less hypervolume lost at the same compute cut (BENCHMARKS.md).
    """
    return n_entries if n_entries < eta else -(-n_entries // eta)


def bracket_weights(n_decision_rungs: Sequence[int], eta: int) -> np.ndarray:
    """Share of new trials per bracket, as in Hyperband: ∝ η^s / (s + 1) for s halvings.

    Hyperband starts ⌈(s_max+1)/(s+1)·η^s⌉ configurations in the bracket with s halvings, which
    gives every bracket about the same total budget.
    """
    raw = np.array([eta**s / (s + 1) for s in n_decision_rungs], dtype=float)
    return raw / raw.sum()


def weighted_bracket(trial_number: int, weights: np.ndarray) -> int:
    """Bracket of a trial from its number alone, so every worker agrees without coordination.

    The fractional parts of ``trial_number·φ`` (φ the golden ratio) are evenly spread over
    [0, 1), so consecutive trials visit the brackets in proportion to ``weights``.
    """
    u = (trial_number * _GOLDEN) % 1.0
    cumulative = np.cumsum(weights)
    bracket = int(np.searchsorted(cumulative, u, side="right"))
    return min(bracket, len(weights) - 1)  # guards against rounding in the last cumulative sum
