"""Pure arithmetic of multi-objective asynchronous successive halving (no storage, no optuna)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from blocknas.search.pareto import crowding_distance, epsilon_net_order, non_dominated_sort

TieBreak = Literal["crowding", "epsnet"]

_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0  # Weyl-sequence step: evenly spread fractional parts


def geometric_rungs(min_epochs: int, max_epochs: int, eta: int) -> tuple[int, ...]:
    """r, r·η, r·η², ... up to and including max_epochs when it is reached exactly."""
    rungs = []
    epoch = min_epochs
    while epoch <= max_epochs:
        rungs.append(epoch)
        epoch *= eta
    return tuple(rungs)


def _order_within_front(
    points: np.ndarray, directions: Sequence[Any], tie_break: TieBreak
) -> np.ndarray:
    """Permutation of one front's rows, preferred first. (f, m) -> (f,)."""
    if tie_break == "epsnet":
        return epsilon_net_order(points, directions)
    if tie_break == "crowding":
        # Larger crowding distance first; a stable sort keeps row order (trial order) on ties.
        return np.argsort(-crowding_distance(points), kind="stable")
    raise ValueError(f"tie_break must be 'crowding' or 'epsnet', got {tie_break!r}")


def rung_ranks(
    values: Any, directions: Sequence[Any], tie_break: TieBreak = "crowding"
) -> np.ndarray:
    """Position of every entry of a rung in the MO-ASHA order (0 = best).

    Entries are ordered by Pareto front (non-dominated sorting), then inside each front by the
    tie-breaker: decreasing crowding distance, or the ε-net (greedy farthest-point) order; then by
    row order. The result is the inverse of that ordering permutation: ``ranks[i]`` is where
    entry ``i`` stands, not which entry stands at position ``i``.

    Args:
        values: shape (n, m), the rung values of the n entries (rows in trial order).
        directions: length m.
        tie_break: "crowding" or "epsnet".

    Returns:
        shape (n,), a permutation of ``range(n)``.
    """
    points = np.asarray(values, dtype=float)
    n = len(points)
    if n == 0:
        return np.zeros(0, dtype=np.intp)
    fronts = non_dominated_sort(points, directions)
    order_parts = []
    for front in range(int(fronts.max()) + 1):
        members = np.flatnonzero(fronts == front)
        order_parts.append(members[_order_within_front(points[members], directions, tie_break)])
    order = np.concatenate(order_parts)
    ranks = np.empty(n, dtype=np.intp)
    ranks[order] = np.arange(n)
    return ranks


def n_continuing(n_entries: int, eta: int) -> int:
    """How many of a rung's entries go on: the top ⌊n/η⌋; all of them while n < η."""
    return n_entries if n_entries < eta else n_entries // eta


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
