"""Picks: each answers its question over the completed trials, with ratios to a baseline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from blocknas.errors import BlocknasError
from blocknas.report import Baseline, load_run_data, picks
from blocknas.report.run import Objective, TrialRecord
from blocknas.search.pareto import knee_point

BASE = Baseline("base", Path("base.yaml"), params=10_000, macs=1_000_000, latency_ms=2.0,
                metrics={"val_accuracy": 0.85})  # fmt: skip


def _t(number: int, acc: float, params: int, macs: int | None = None) -> TrialRecord:
    values = {"accuracy": acc, "params": float(params)}
    return TrialRecord(number, "COMPLETE", values, params=params, macs=macs, latency_ms=1.0)


TRIALS = [_t(0, 0.80, 500), _t(1, 0.90, 8000), _t(2, 0.86, 3000), _t(3, 0.845, 1200),
          _t(4, 0.90, 6000), _t(5, 0.70, 100)]  # fmt: skip


def test_best_accuracy_prefers_the_smaller_of_equals() -> None:
    pick = picks.best_accuracy(TRIALS, baseline=BASE)
    assert pick.trial.number == 4 and pick.accuracy == 0.90
    assert pick.ratios is not None
    assert pick.ratios.params == pytest.approx(0.6) and pick.ratios.latency_ms == 0.5
    assert pick.ratios.macs is None  # the trial's MACs are unknown


def test_smallest_within_uses_percentage_points() -> None:
    # 0.85 − 1 point = 0.84: trial 3 (0.845, 1200 params) is the smallest that qualifies.
    assert picks.smallest_within(TRIALS, 0.85, 1.0).trial.number == 3
    # 0.85 − 0.1 point = 0.849: trial 3 no longer qualifies, trial 2 (3000) does.
    assert picks.smallest_within(TRIALS, 0.85, 0.1).trial.number == 2
    with pytest.raises(BlocknasError, match=r"no trial reaches accuracy 0\.9400.*best is 0\.9000"):
        picks.smallest_within(TRIALS, 0.95, 1.0, of="base")


def test_budgets_pick_the_most_accurate_that_fits() -> None:
    assert picks.max_params(TRIALS, 3000).trial.number == 2
    assert picks.max_params(TRIALS, 2999).trial.number == 3
    with pytest.raises(BlocknasError, match="no completed trial fits"):
        picks.max_params(TRIALS, 50)
    with pytest.raises(BlocknasError, match="at least one limit"):
        picks.within_budget(TRIALS)
    # A limit on an unknown quantity excludes the trial rather than guessing.
    with pytest.raises(BlocknasError):
        picks.within_budget(TRIALS, max_macs=10**9)


def test_knee_is_pareto_knee_point_over_the_trials() -> None:
    objectives = [Objective("accuracy", "maximize"), Objective("params", "minimize")]
    pick = picks.knee(TRIALS, objectives, baseline=BASE)
    values = np.array([[t.values["accuracy"], t.values["params"]] for t in TRIALS])
    expected = knee_point(values, ["maximize", "minimize"], log_columns=[1])
    assert pick.trial.number == TRIALS[expected].number
    assert pick.trial.number not in (4, 5)  # neither extreme of this front


def test_picks_on_a_study(run_3d: Path) -> None:
    run = load_run_data(run_3d)
    done = run.completed()
    best = picks.best_accuracy(done)
    assert best.accuracy == max(t.values["accuracy"] for t in done)
    knee = picks.knee(done, run.objectives)
    assert knee.trial.number in {t.number for t in run.front()}
    assert knee.to_dict()["trial"] == knee.trial.number
