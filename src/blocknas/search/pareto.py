"""Pareto utilities for multi-objective searches: fronts, crowding, hypervolume, knee point.

Every function is pure NumPy. ``values`` is always an array of shape ``(n, m)``: one row per point
(trial), one column per objective; ``directions`` gives ``"maximize"`` or ``"minimize"`` for each
column (``optuna.study.StudyDirection`` members are accepted too). Internally every column is turned
into a quantity to minimise, so "better" means "smaller" there.

Optuna computes fronts and hypervolumes too, but only in private modules (``optuna.study.
_multi_objective``, ``optuna._hypervolume``) whose signatures change between releases; these few
exact algorithms are written here instead so that reports, benchmarks and early stopping depend
on a stable, typed API.

Size objectives (parameters, MACs) span orders of magnitude: a model half as big is as much of a
gain at 100 k parameters as at 10 M. Hypervolume on raw counts would be dominated by the largest
models, so :func:`normalize_for_hypervolume` measures such columns on a log10 scale
(``log_columns``) and maps every column to [0, 1] between user-given bounds, which makes
hypervolumes comparable between runs that share the bounds.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "crowding_distance",
    "epsilon_net_order",
    "hypervolume",
    "hypervolume_contributions",
    "knee_point",
    "non_dominated_sort",
    "normalize_for_hypervolume",
    "normalized_hypervolume",
    "pareto_mask",
]

_DOMINANCE_BLOCK = 256  # rows per block when building the dominance matrix (bounds memory)


def _signs(directions: Sequence[Any], n_objectives: int) -> np.ndarray:
    """Shape (m,): +1 for a minimised column, -1 for a maximised one."""
    if len(directions) != n_objectives:
        raise ValueError(f"got {len(directions)} directions for {n_objectives} objective columns")
    signs = []
    for d in directions:
        name = str(getattr(d, "name", d)).lower()
        if name == "minimize":
            signs.append(1.0)
        elif name == "maximize":
            signs.append(-1.0)
        else:
            raise ValueError(f"direction must be 'maximize' or 'minimize', got {d!r}")
    return np.asarray(signs)


def _as_values(values: Any, *, allow_empty: bool = True) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"values must have shape (n, m), got shape {arr.shape}")
    if arr.shape[1] == 0:
        raise ValueError("values must have at least one objective column")
    if not allow_empty and arr.shape[0] == 0:
        raise ValueError("values must contain at least one point")
    if np.isnan(arr).any():
        raise ValueError("values contain NaN; drop or replace those points first")
    return arr


def _to_minimization(values: Any, directions: Sequence[Any]) -> np.ndarray:
    arr = _as_values(values)
    return arr * _signs(directions, arr.shape[1])


def _front_mask_2d(points: np.ndarray) -> np.ndarray:
    """Non-dominated mask of unique 2-D minimisation points, shape (n, 2) -> (n,), O(n log n)."""
    order = np.lexsort((points[:, 1], points[:, 0]))
    ys = points[order, 1]
    # After a lexicographic sort, a unique point is dominated iff an earlier point has y <= its y.
    prev_min = np.minimum.accumulate(np.concatenate(([np.inf], ys[:-1])))
    mask = np.empty(len(points), dtype=bool)
    mask[order] = ys < prev_min
    return mask


def _ranks_2d(points: np.ndarray) -> np.ndarray:
    """Front ranks of unique 2-D minimisation points, shape (n, 2) -> (n,), O(n log n).

    Points are visited in lexicographic order; every earlier point with y <= the current y dominates
    it (points are unique). ``front_min_y[k]`` is the smallest y seen so far in front k and is
    non-decreasing in k, so the current point joins the first front whose minimum y exceeds its y.
    """
    order = np.lexsort((points[:, 1], points[:, 0]))
    ranks = np.empty(len(points), dtype=np.intp)
    front_min_y: list[float] = []
    for i in order:
        y = float(points[i, 1])
        k = bisect.bisect_right(front_min_y, y)
        if k == len(front_min_y):
            front_min_y.append(y)
        else:
            front_min_y[k] = y
        ranks[i] = k
    return ranks


def _dominance_matrix(points: np.ndarray) -> np.ndarray:
    """``d[i, j]`` is True when point i dominates point j; (n, m) -> (n, n) bool."""
    n = len(points)
    dom = np.empty((n, n), dtype=bool)
    for start in range(0, n, _DOMINANCE_BLOCK):
        block = points[start : start + _DOMINANCE_BLOCK, None, :]
        le = np.all(block <= points[None, :, :], axis=2)
        lt = np.any(block < points[None, :, :], axis=2)
        dom[start : start + _DOMINANCE_BLOCK] = le & lt
    return dom


def _ranks_nd(points: np.ndarray) -> np.ndarray:
    """Front ranks of minimisation points of any dimension by peeling fronts, (n, m) -> (n,)."""
    dom = _dominance_matrix(points)
    n_dominators = dom.sum(axis=0)
    ranks = np.full(len(points), -1, dtype=np.intp)
    rank = 0
    front = np.flatnonzero(n_dominators == 0)
    while front.size:
        ranks[front] = rank
        n_dominators = n_dominators - dom[front].sum(axis=0)
        n_dominators[ranks >= 0] = -1  # already placed: never selected again
        front = np.flatnonzero(n_dominators == 0)
        rank += 1
    return ranks


def non_dominated_sort(values: Any, directions: Sequence[Any]) -> np.ndarray:
    """Front rank of each point: 0 for the Pareto front, 1 for the front once 0 is removed, ...

    Args:
        values: shape (n, m), objective values; NaN is rejected.
        directions: length m, ``"maximize"`` or ``"minimize"`` per column.

    Returns:
        shape (n,), integer ranks. Duplicate points never dominate each other and share a rank.

    Example:
        >>> non_dominated_sort([[0.9, 5.0], [0.8, 6.0], [0.7, 1.0]], ["maximize", "minimize"])
        array([0, 1, 0])
    """
    points = _to_minimization(values, directions)
    if len(points) == 0:
        return np.zeros(0, dtype=np.intp)
    unique, inverse = np.unique(points, axis=0, return_inverse=True)
    if unique.shape[1] == 1:
        unique_ranks = np.arange(len(unique))  # np.unique sorts: each value is its own front
    elif unique.shape[1] == 2:
        unique_ranks = _ranks_2d(unique)
    else:
        unique_ranks = _ranks_nd(unique)
    return np.asarray(unique_ranks[inverse.reshape(-1)], dtype=np.intp)


def pareto_mask(values: Any, directions: Sequence[Any]) -> np.ndarray:
    """Whether each point is on the Pareto front (no other point dominates it).

    Args:
        values: shape (n, m).
        directions: length m.

    Returns:
        shape (n,), bool. Duplicates of a front point are all on the front.
    """
    points = _to_minimization(values, directions)
    if len(points) == 0:
        return np.zeros(0, dtype=bool)
    unique, inverse = np.unique(points, axis=0, return_inverse=True)
    if unique.shape[1] == 2:
        unique_mask = _front_mask_2d(unique)
    else:
        unique_mask = non_dominated_sort(unique, ["minimize"] * unique.shape[1]) == 0
    return np.asarray(unique_mask[inverse.reshape(-1)], dtype=bool)


def crowding_distance(values: Any) -> np.ndarray:
    """NSGA-II crowding distance of the points of one front (larger = less crowded).

    Per objective, points are sorted and each gets the gap between its two neighbours divided by
    the objective's range; the two extreme points get ``inf``. The result is the sum over
    objectives. Objectives with zero range are skipped. Duplicate points get the same distance
    (computed once on the unique points) so the result does not depend on row order. The distance
    does not depend on the optimisation directions.

    Args:
        values: shape (n, m), the points of one front.

    Returns:
        shape (n,), float; all ``inf`` when there are at most two distinct points.
    """
    arr = _as_values(values)
    if len(arr) == 0:
        return np.zeros(0)
    unique, inverse = np.unique(arr, axis=0, return_inverse=True)
    n = len(unique)
    distance = np.zeros(n)
    if n <= 2:
        distance[:] = np.inf
    for j in range(unique.shape[1] if n > 2 else 0):
        column = unique[:, j]
        span = float(column.max() - column.min())
        if not np.isfinite(span) or span == 0.0:
            continue
        order = np.argsort(column, kind="stable")
        sorted_col = column[order]
        distance[order[0]] = distance[order[-1]] = np.inf
        distance[order[1:-1]] += (sorted_col[2:] - sorted_col[:-2]) / span
    return distance[inverse.reshape(-1)]


def _min_max_scale(points: np.ndarray) -> np.ndarray:
    """Scale each column to [0, 1] over the given points; constant columns become 0. (n, m)."""
    low = points.min(axis=0)
    span = points.max(axis=0) - low
    span[span == 0] = 1.0
    return (points - low) / span


def epsilon_net_order(values: Any, directions: Sequence[Any]) -> np.ndarray:
    """Order points so that every prefix is spread out: an ε-net (greedy farthest-point) order.

    Columns are min-max scaled over the given points. The first point is the best one in the first
    objective; each next point is the one whose Euclidean distance to the points already chosen is
    largest. Each prefix of k points is thus, within a factor 2, the k-point subset that covers the
    set with the smallest radius ε. Ties go to the lower index.

    Args:
        values: shape (n, m), typically one Pareto front.
        directions: length m.

    Returns:
        shape (n,), a permutation of ``range(n)``.
    """
    points = _to_minimization(values, directions)
    n = len(points)
    if n == 0:
        return np.zeros(0, dtype=np.intp)
    scaled = _min_max_scale(points)
    order = np.empty(n, dtype=np.intp)
    first = int(np.lexsort(tuple(scaled[:, ::-1].T))[0])  # best in column 0, ties by the others
    order[0] = first
    chosen = np.zeros(n, dtype=bool)
    chosen[first] = True
    nearest = np.linalg.norm(scaled - scaled[first], axis=1)
    for k in range(1, n):
        candidate = np.where(chosen, -np.inf, nearest)
        pick = int(np.argmax(candidate))
        order[k] = pick
        chosen[pick] = True
        nearest = np.minimum(nearest, np.linalg.norm(scaled - scaled[pick], axis=1))
    return order


def _hypervolume_2d(points: np.ndarray, reference: np.ndarray) -> float:
    """Exact 2-D hypervolume of minimisation points that all dominate ``reference``; O(n log n)."""
    order = np.lexsort((points[:, 1], points[:, 0]))
    xs, ys = points[order, 0], points[order, 1]
    prev_min = np.minimum.accumulate(np.concatenate(([np.inf], ys[:-1])))
    keep = ys < prev_min  # the front, sorted by x ascending and y descending
    xs, ys = xs[keep], ys[keep]
    widths = np.diff(np.append(xs, reference[0]))
    return float(np.sum(widths * (reference[1] - ys)))


def _hypervolume_wfg(points: np.ndarray, reference: np.ndarray) -> float:
    """Exact hypervolume by the WFG recursion (While, Bradstreet, Barone 2012), any dimension.

    hv(P) = sum_k [ vol(box(p_k)) - hv(nondominated(limit(P[k+1:], p_k))) ], where ``limit``
    replaces each later point by its componentwise maximum with p_k (the part of its box shared
    with p_k's box). Sorting by the first objective keeps the limited sets small.
    """
    if len(points) == 0:
        return 0.0
    if points.shape[1] == 2:
        return _hypervolume_2d(points, reference)
    if len(points) == 1:
        return float(np.prod(reference - points[0]))
    points = points[np.argsort(points[:, 0], kind="stable")]
    total = 0.0
    for k in range(len(points)):
        p = points[k]
        total += float(np.prod(reference - p))
        rest = np.maximum(points[k + 1 :], p)
        if len(rest):
            rest = np.unique(rest, axis=0)
            rest = rest[_front_mask_nd(rest)]
            total -= _hypervolume_wfg(rest, reference)
    return total


def _front_mask_nd(unique_points: np.ndarray) -> np.ndarray:
    if unique_points.shape[1] == 2:
        return _front_mask_2d(unique_points)
    return np.logical_not(np.any(_dominance_matrix(unique_points), axis=0))


def hypervolume(values: Any, directions: Sequence[Any], reference_point: Sequence[float]) -> float:
    """Exact volume of the objective region dominated by the points and bounded by a reference.

    Points that are not strictly better than the reference point in every objective add nothing.
    Two objectives use an O(n log n) sweep; more use the exact WFG recursion (fast for the few
    hundred front points of a search; exponential in the number of objectives in the worst case).

    Args:
        values: shape (n, m).
        directions: length m.
        reference_point: length m, in the same units and directions as ``values``
            (e.g. accuracy 0.0 for a maximised accuracy, the largest size for a minimised size).

    Returns:
        The hypervolume, >= 0; 0.0 when no point beats the reference point.

    Example:
        >>> hypervolume([[0.9, 2.0]], ["maximize", "minimize"], [0.0, 10.0])  # 0.9 * 8
        7.2
    """
    signs = _signs(directions, np.asarray(reference_point).size)
    points = _as_values(values) * signs if len(values) else np.zeros((0, len(signs)))
    if points.shape[1] != len(signs):
        raise ValueError(
            f"values have {points.shape[1]} columns but reference_point has {len(signs)} entries"
        )
    reference = np.asarray(reference_point, dtype=float) * signs
    if not np.isfinite(reference).all():
        raise ValueError("reference_point must be finite")
    points = points[np.all(points < reference, axis=1)]
    if len(points) == 0:
        return 0.0
    points = np.unique(points, axis=0)
    if points.shape[1] == 1:
        return float(reference[0] - points[:, 0].min())
    if points.shape[1] == 2:
        return _hypervolume_2d(points, reference)
    return _hypervolume_wfg(points[_front_mask_nd(points)], reference)


def hypervolume_contributions(
    values: Any, directions: Sequence[Any], reference_point: Sequence[float]
) -> np.ndarray:
    """Exclusive hypervolume contribution of each point: the volume lost if it were removed.

    The selection criterion of SMS-EMOA (Beume et al., 2007): a point that covers a region no
    other point covers scores high; a point near others, or beyond the reference point, scores 0.
    Computed as ``HV(all) - HV(all but i)`` for each point (n + 1 exact hypervolumes: meant for
    the few points of one front).

    Args:
        values: shape (n, m).
        directions: length m.
        reference_point: length m, as for :func:`hypervolume`.

    Returns:
        shape (n,), floats >= 0; duplicated points contribute 0.
    """
    if len(values) == 0:
        return np.zeros(0)
    arr = _as_values(values)
    total = hypervolume(arr, directions, reference_point)
    out = np.empty(len(arr))
    for i in range(len(arr)):
        rest = np.delete(arr, i, axis=0)
        out[i] = total - hypervolume(rest, directions, reference_point) if len(rest) else total
    return np.maximum(out, 0.0)  # rounding can leave -1e-17


def normalize_for_hypervolume(
    values: Any,
    directions: Sequence[Any],
    *,
    lower: Sequence[float],
    upper: Sequence[float],
    log_columns: Sequence[int] = (),
) -> np.ndarray:
    """Map objectives to [0, 1] minimisation space: 0 = best bound, 1 = worst bound.

    Columns listed in ``log_columns`` (size objectives: parameters, MACs, bytes) are measured as
    log10 of the value, so halving a model's size counts the same at any scale; their values and
    bounds must be > 0. Every column is then scaled linearly between its bounds and oriented so
    that smaller is better; values better than the best bound are clipped to 0, worse values
    keep their position above 1 (they then add nothing to a hypervolume with reference 1).

    Args:
        values: shape (n, m), in the objectives' own units.
        directions: length m.
        lower, upper: length m, the range of each objective in its own units (e.g. accuracy
            0 and 1; the smallest and largest parameter counts of the search space), lower < upper.
        log_columns: indices of the columns to measure on a log10 scale.

    Returns:
        shape (n, m), floats; use with ``reference_point = [1.0] * m`` and all "minimize".
    """
    arr = _as_values(values)
    signs = _signs(directions, arr.shape[1])
    low = np.asarray(lower, dtype=float).copy()
    high = np.asarray(upper, dtype=float).copy()
    if low.shape != (arr.shape[1],) or high.shape != (arr.shape[1],):
        raise ValueError(f"lower and upper need {arr.shape[1]} entries each")
    arr = arr.copy()
    for j in log_columns:
        if not 0 <= j < arr.shape[1]:
            raise ValueError(f"log column {j} is out of range for {arr.shape[1]} objectives")
        if low[j] <= 0 or (arr[:, j] <= 0).any():
            raise ValueError(f"log-scaled column {j} needs values and bounds > 0")
        arr[:, j], low[j], high[j] = np.log10(arr[:, j]), np.log10(low[j]), np.log10(high[j])
    if not (high > low).all():
        raise ValueError("each upper bound must be greater than its lower bound")
    scaled = (arr - low) / (high - low)
    scaled = np.where(signs > 0, scaled, 1.0 - scaled)
    return np.maximum(scaled, 0.0)


def normalized_hypervolume(
    values: Any,
    directions: Sequence[Any],
    *,
    lower: Sequence[float],
    upper: Sequence[float],
    log_columns: Sequence[int] = (),
) -> float:
    """Hypervolume in [0, 1] of the box between the bounds (see :func:`normalize_for_hypervolume`).

    1.0 would be a single point at the best bound of every objective. Two runs are comparable
    when they use the same bounds and log columns.

    Example:
        >>> normalized_hypervolume([[0.8, 1e4]], ["maximize", "minimize"], lower=[0, 1e3],
        ...                        upper=[1, 1e6], log_columns=[1])  # 0.8 * (6 - 4) / (6 - 3)
        0.5333333333333334
    """
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return 0.0
    scaled = normalize_for_hypervolume(
        arr, directions, lower=lower, upper=upper, log_columns=log_columns
    )
    m = scaled.shape[1]
    return hypervolume(scaled, ["minimize"] * m, [1.0] * m)


def knee_point(values: Any, directions: Sequence[Any], *, log_columns: Sequence[int] = ()) -> int:
    """Index of the knee of the Pareto front: the front point closest to the ideal point.

    The front is min-max scaled per objective (after log10 of ``log_columns``), so the ideal point
    (best value of each objective on the front) is the origin and every objective weighs the same;
    the knee is the front point with the smallest Euclidean distance to it, i.e. the best balanced
    trade-off. This definition works for any number of objectives (the "farthest from the line
    through the extremes" definition only exists for two). Ties go to the lower index.

    Args:
        values: shape (n, m), n >= 1.
        directions: length m.
        log_columns: indices of size columns to compare on a log10 scale (values must be > 0).

    Returns:
        Row index into ``values``.
    """
    arr = _as_values(values, allow_empty=False).copy()
    for j in log_columns:
        if (arr[:, j] <= 0).any():
            raise ValueError(f"log-scaled column {j} needs values > 0")
        arr[:, j] = np.log10(arr[:, j])
    points = arr * _signs(directions, arr.shape[1])
    front = np.flatnonzero(pareto_mask(points, ["minimize"] * points.shape[1]))
    scaled = _min_max_scale(points[front])
    return int(front[np.argmin(np.linalg.norm(scaled, axis=1))])
