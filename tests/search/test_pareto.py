"""Pareto utilities on small hand-checkable cases and against brute-force definitions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from blocknas.search.pareto import (
    crowding_distance,
    epsilon_net_order,
    hypervolume,
    hypervolume_contributions,
    knee_point,
    non_dominated_sort,
    normalize_for_hypervolume,
    normalized_hypervolume,
    pareto_mask,
)

MAX_MIN = ["maximize", "minimize"]


def _dominates(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(a <= b) and np.any(a < b))


def _brute_force_ranks(points: np.ndarray) -> np.ndarray:
    """Front ranks of minimisation points straight from the definition, O(n³)."""
    ranks = np.full(len(points), -1)
    rank = 0
    while (ranks < 0).any():
        left = np.flatnonzero(ranks < 0)
        front = [i for i in left if not any(_dominates(points[j], points[i]) for j in left)]
        ranks[front] = rank
        rank += 1
    return ranks


def _inclusion_exclusion_hv(points: np.ndarray, reference: np.ndarray) -> float:
    """Exact hypervolume of minimisation points as a union of boxes, O(2^n)."""
    total = 0.0
    for size in range(1, len(points) + 1):
        for subset in itertools.combinations(range(len(points)), size):
            corner = points[list(subset)].max(axis=0)
            total += (-1) ** (size + 1) * float(np.prod(np.clip(reference - corner, 0, None)))
    return total


def _grid_hv(points: np.ndarray, reference: np.ndarray) -> float:
    """Exact hypervolume by coordinate compression: sum the grid cells some box covers."""
    axes = [np.unique(np.append(points[:, j], reference[j])) for j in range(points.shape[1])]
    total = 0.0
    for cell in itertools.product(*(range(len(a) - 1) for a in axes)):
        low = np.array([axes[j][c] for j, c in enumerate(cell)])
        high = np.array([axes[j][c + 1] for j, c in enumerate(cell)])
        if np.any(np.all(points <= low, axis=1)):
            total += float(np.prod(high - low))
    return total


# --- non-dominated sorting -------------------------------------------------------------------


def test_ranks_mixed_directions_by_hand() -> None:
    # (accuracy ↑, params ↓): a=(0.9, 50) and c=(0.6, 10) are on the front, b=(0.8, 60) is
    # dominated by a only, d=(0.5, 70) by a, b and c, so the fronts are {a, c}, {b}, {d}.
    values = [[0.9, 50], [0.8, 60], [0.6, 10], [0.5, 70]]
    assert non_dominated_sort(values, MAX_MIN).tolist() == [0, 1, 0, 2]
    assert pareto_mask(values, MAX_MIN).tolist() == [True, False, True, False]


def test_flipping_a_direction_changes_the_front() -> None:
    values = [[1.0, 1.0], [2.0, 2.0]]
    assert non_dominated_sort(values, ["minimize", "minimize"]).tolist() == [0, 1]
    assert non_dominated_sort(values, ["maximize", "maximize"]).tolist() == [1, 0]
    assert non_dominated_sort(values, ["maximize", "minimize"]).tolist() == [0, 0]


def test_tie_in_one_objective_is_still_dominance() -> None:
    # Same accuracy, smaller model: (0.9, 10) dominates (0.9, 20).
    assert non_dominated_sort([[0.9, 20], [0.9, 10]], MAX_MIN).tolist() == [1, 0]


def test_duplicates_share_their_rank() -> None:
    values = [[0.9, 10], [0.9, 10], [0.8, 20], [0.8, 20]]
    assert non_dominated_sort(values, MAX_MIN).tolist() == [0, 0, 1, 1]
    assert pareto_mask(values, MAX_MIN).tolist() == [True, True, False, False]


def test_single_objective_ranks_are_dense_ranks() -> None:
    assert non_dominated_sort([[3.0], [1.0], [3.0], [2.0]], ["minimize"]).tolist() == [2, 0, 2, 1]


def test_three_objectives_by_hand() -> None:
    # All minimised. p0 and p1 trade off, p2 is dominated by p0 only, p3 by everyone.
    values = [[1, 2, 3], [3, 2, 1], [1, 3, 3], [4, 4, 4]]
    assert non_dominated_sort(values, ["minimize"] * 3).tolist() == [0, 0, 1, 2]


@pytest.mark.parametrize("m", [2, 3, 4])
def test_ranks_match_definition_on_random_points(m: int) -> None:
    rng = np.random.default_rng(m)
    # Few distinct levels so ties and duplicates are common.
    points = rng.integers(0, 5, size=(40, m)).astype(float)
    expected = _brute_force_ranks(points)
    assert non_dominated_sort(points, ["minimize"] * m).tolist() == expected.tolist()
    assert pareto_mask(points, ["minimize"] * m).tolist() == (expected == 0).tolist()
    flipped = non_dominated_sort(-points, ["maximize"] * m)
    assert flipped.tolist() == expected.tolist()


def test_empty_and_invalid_input() -> None:
    assert non_dominated_sort(np.zeros((0, 2)), MAX_MIN).shape == (0,)
    assert pareto_mask(np.zeros((0, 2)), MAX_MIN).shape == (0,)
    with pytest.raises(ValueError, match="NaN"):
        non_dominated_sort([[np.nan, 1.0]], MAX_MIN)
    with pytest.raises(ValueError, match="directions"):
        non_dominated_sort([[1.0, 1.0]], ["maximize"])
    with pytest.raises(ValueError, match="direction must be"):
        non_dominated_sort([[1.0, 1.0]], ["maximize", "smaller"])


def test_optuna_directions_are_accepted() -> None:
    from optuna.study import StudyDirection

    directions = [StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE]
    values = [[0.9, 50], [0.8, 60]]
    assert non_dominated_sort(values, directions).tolist() == [0, 1]


# --- crowding distance and ε-net --------------------------------------------------------------


def test_crowding_distance_by_hand() -> None:
    # x range 4, y range 5. (1, 2): x neighbours 0 and 3 -> 3/4, y neighbours 1 and 5 -> 4/5.
    # (3, 1): x neighbours 1 and 4 -> 3/4, y neighbours 0 and 2 -> 2/5. Extremes are infinite.
    values = [[0, 5], [1, 2], [3, 1], [4, 0]]
    distance = crowding_distance(values)
    assert np.isinf(distance[[0, 3]]).all()
    assert distance[1] == pytest.approx(0.75 + 0.8)
    assert distance[2] == pytest.approx(0.75 + 0.4)


def test_crowding_distance_duplicates_small_fronts_and_order() -> None:
    assert np.isinf(crowding_distance([[1, 2], [2, 1]])).all()
    with_duplicate = crowding_distance([[0, 5], [1, 2], [1, 2], [3, 1], [4, 0]])
    assert with_duplicate[1] == with_duplicate[2]
    values = np.array([[0, 5], [1, 2], [3, 1], [4, 0]], dtype=float)
    permutation = np.array([2, 0, 3, 1])
    assert np.array_equal(
        crowding_distance(values[permutation]), crowding_distance(values)[permutation]
    )


def test_crowding_distance_skips_constant_objectives() -> None:
    # The second objective has zero range: only the first one counts.
    distance = crowding_distance([[0, 1], [1, 1], [4, 1]])
    assert np.isinf(distance[[0, 2]]).all()
    assert distance[1] == pytest.approx((4 - 0) / 4)


def test_epsilon_net_order_spreads_points() -> None:
    # Points on a line: start at the best x (index 0), then the far end (4), then the middle (2);
    # 1 and 3 are then equally far from the chosen points and the lower index goes first.
    values = [[0, 4], [1, 3], [2, 2], [3, 1], [4, 0]]
    assert epsilon_net_order(values, ["minimize", "minimize"]).tolist() == [0, 4, 2, 1, 3]
    # Maximising the first column makes index 4 the starting point.
    assert epsilon_net_order(values, ["maximize", "minimize"]).tolist()[:3] == [4, 0, 2]


# --- hypervolume ------------------------------------------------------------------------------


def test_hypervolume_of_one_rectangle_mixed_directions() -> None:
    # accuracy 0.9 above reference 0, params 2 below reference 10: 0.9 × 8.
    assert hypervolume([[0.9, 2.0]], MAX_MIN, [0.0, 10.0]) == pytest.approx(7.2)


def test_hypervolume_of_two_overlapping_rectangles() -> None:
    # Boxes [1,4]×[3,4] (area 3) and [2,4]×[1,4] (area 6) share [2,4]×[3,4] (area 2).
    points = [[1.0, 3.0], [2.0, 1.0]]
    assert hypervolume(points, ["minimize"] * 2, [4.0, 4.0]) == pytest.approx(7.0)


def test_dominated_duplicate_and_outside_points_add_nothing() -> None:
    base = hypervolume([[1.0, 3.0], [2.0, 1.0]], ["minimize"] * 2, [4.0, 4.0])
    more = [[1.0, 3.0], [2.0, 1.0], [3.0, 3.0], [2.0, 1.0], [5.0, 0.0], [4.0, 0.5]]
    assert hypervolume(more, ["minimize"] * 2, [4.0, 4.0]) == pytest.approx(base)
    assert hypervolume([[5.0, 5.0]], ["minimize"] * 2, [4.0, 4.0]) == 0.0
    assert hypervolume(np.zeros((0, 2)), ["minimize"] * 2, [4.0, 4.0]) == 0.0


def test_hypervolume_contributions_are_the_exclusive_areas() -> None:
    # Boxes [1,4]×[3,4] and [2,4]×[1,4] overlap in [2,4]×[3,4]: only-first = [1,2]×[3,4] = 1,
    # only-second = [2,4]×[1,3] = 4. A dominated point (3, 3) covers nothing on its own; a point
    # beyond the reference neither.
    points = [[1.0, 3.0], [2.0, 1.0], [3.0, 3.0], [5.0, 0.0]]
    got = hypervolume_contributions(points, ["minimize"] * 2, [4.0, 4.0])
    assert got == pytest.approx([1.0, 4.0, 0.0, 0.0])
    # Directions are honoured: the same boxes with the first column maximised (negated).
    flipped = [[-x, y] for x, y in points]
    assert hypervolume_contributions(flipped, MAX_MIN, [-4.0, 4.0]) == pytest.approx(got)
    # Each contribution is what removing the point costs.
    total = hypervolume(points, ["minimize"] * 2, [4.0, 4.0])
    for i, c in enumerate(got):
        rest = [p for j, p in enumerate(points) if j != i]
        assert total - hypervolume(rest, ["minimize"] * 2, [4.0, 4.0]) == pytest.approx(c)
    assert hypervolume_contributions(np.zeros((0, 2)), ["minimize"] * 2, [4.0, 4.0]).size == 0


def test_hypervolume_three_objectives_by_hand() -> None:
    # Boxes of volume 2·2·1 = 4 and 1·1·2 = 2 overlapping in [2,3]×[2,3]×[2,3] (volume 1).
    points = [[1.0, 1.0, 2.0], [2.0, 2.0, 1.0]]
    assert hypervolume(points, ["minimize"] * 3, [3.0, 3.0, 3.0]) == pytest.approx(5.0)


def test_hypervolume_of_a_flat_third_objective_is_area_times_height() -> None:
    rng = np.random.default_rng(1)
    xy = rng.random((12, 2))
    area = hypervolume(xy, ["minimize"] * 2, [1.0, 1.0])
    xyz = np.column_stack([xy, np.full(12, 0.25)])
    assert hypervolume(xyz, ["minimize"] * 3, [1.0, 1.0, 1.0]) == pytest.approx(area * 0.75)


@pytest.mark.parametrize(("m", "seed"), [(2, 0), (3, 0), (3, 1), (3, 2), (4, 3)])
def test_hypervolume_matches_exact_brute_force(m: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    points = rng.integers(0, 6, size=(7, m)).astype(float)  # ties and dominated points included
    reference = np.full(m, 6.0)
    expected = _inclusion_exclusion_hv(points, reference)
    assert expected == pytest.approx(_grid_hv(points, reference))
    assert hypervolume(points, ["minimize"] * m, reference) == pytest.approx(expected)
    assert hypervolume(-points, ["maximize"] * m, -reference) == pytest.approx(expected)


def test_hypervolume_larger_3d_set_matches_grid() -> None:
    rng = np.random.default_rng(7)
    points = rng.integers(0, 8, size=(25, 3)).astype(float)
    reference = np.full(3, 8.0)
    assert hypervolume(points, ["minimize"] * 3, reference) == pytest.approx(
        _grid_hv(points, reference)
    )


def test_normalized_hypervolume_uses_log_scale_for_sizes() -> None:
    # accuracy 0.8 in [0, 1]; params 1e4 in [1e3, 1e6] on log10: (6 - 4) / (6 - 3) of the range.
    value = normalized_hypervolume(
        [[0.8, 1e4]], MAX_MIN, lower=[0.0, 1e3], upper=[1.0, 1e6], log_columns=[1]
    )
    assert value == pytest.approx(0.8 * 2 / 3)
    linear = normalized_hypervolume([[0.8, 1e4]], MAX_MIN, lower=[0.0, 1e3], upper=[1.0, 1e6])
    assert linear == pytest.approx(0.8 * (1e6 - 1e4) / (1e6 - 1e3))
    best = normalized_hypervolume([[1.0, 1e3]], MAX_MIN, lower=[0, 1e3], upper=[1, 1e6])
    assert best == pytest.approx(1.0)


def test_normalize_for_hypervolume_orientation_and_errors() -> None:
    scaled = normalize_for_hypervolume(
        [[1.0, 1e6], [0.0, 1e3], [0.5, 2e6]],
        MAX_MIN,
        lower=[0, 1e3],
        upper=[1, 1e6],
        log_columns=[1],
    )
    assert scaled[0].tolist() == pytest.approx([0.0, 1.0])
    assert scaled[1].tolist() == pytest.approx([1.0, 0.0])
    assert scaled[2, 1] > 1.0  # worse than the worst bound stays outside [0, 1]
    with pytest.raises(ValueError, match="> 0"):
        normalize_for_hypervolume(
            [[0.5, 0.0]], MAX_MIN, lower=[0, 1], upper=[1, 10], log_columns=[1]
        )
    with pytest.raises(ValueError, match="greater"):
        normalize_for_hypervolume([[0.5, 5.0]], MAX_MIN, lower=[1, 1], upper=[0, 10])


# --- knee point -------------------------------------------------------------------------------


def test_knee_point_is_the_balanced_front_point() -> None:
    # The dominated point 3 is ignored; point 1 is close to the best of both objectives.
    values = [[0.9, 100.0], [0.85, 10.0], [0.5, 1.0], [0.8, 50.0]]
    assert knee_point(values, MAX_MIN) == 1


def test_knee_point_log_scale_changes_the_answer() -> None:
    # Linear size: point 1 (0.55, 30) looks tiny next to 1000. On log10 it sits mid-range and
    # its low accuracy makes it the least balanced point.
    values = [[0.9, 1000.0], [0.55, 30.0], [0.5, 1.0]]
    assert knee_point(values, MAX_MIN) == 1
    assert knee_point(values, MAX_MIN, log_columns=[1]) != 1


def test_knee_point_of_a_single_point_and_empty() -> None:
    assert knee_point([[0.5, 3.0]], MAX_MIN) == 0
    with pytest.raises(ValueError):
        knee_point(np.zeros((0, 2)), MAX_MIN)
