"""2-D fronts for plots and the hypervolume history."""

from __future__ import annotations

import itertools
from pathlib import Path

import optuna
import pytest

from blocknas.report import front_2d, hypervolume_history, load_run_data
from blocknas.report.run import TrialRecord
from blocknas.search.objectives import front_hypervolume, parse_objectives


def _t(number: int, acc: float, params: int) -> TrialRecord:
    return TrialRecord(number, "COMPLETE", {"accuracy": acc, "params": float(params)},
                       params=params)  # fmt: skip


def test_front_2d_is_the_step_line_sorted_by_size() -> None:
    trials = [_t(0, 0.9, 900), _t(1, 0.8, 100), _t(2, 0.7, 500), _t(3, 0.85, 400)]
    assert [t.number for t in front_2d(trials, "accuracy", "params")] == [1, 3, 0]


def test_hypervolume_never_decreases_and_grows_with_the_front(run_3d: Path) -> None:
    run = load_run_data(run_3d)
    history = hypervolume_history(run)
    assert sorted(h.trial for h in history) == [t.number for t in run.completed()]
    hvs = [h.hypervolume for h in history]
    assert all(0.0 <= hv <= 1.0 for hv in hvs)
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(hvs))
    assert hvs[-1] > hvs[0]


def test_hypervolume_uses_the_search_ranges_when_recorded(tmp_path: Path) -> None:
    from .factory import make_run

    run_dir = make_run(tmp_path / "run", n_trials=8, pruned=0, failed=0)
    raw = [{"name": "accuracy", "range": [0.0, 1.0]}, {"name": "params", "range": [50, 1e5]}]
    study = optuna.load_study(study_name="toy", storage=f"sqlite:///{run_dir / 'study.db'}")
    meta = study.user_attrs["blocknas"]
    study.set_user_attr("blocknas", {**meta, "search_config": {"objectives": raw}})
    run = load_run_data(run_dir)
    expected = front_hypervolume(run.values(run.completed()), parse_objectives(raw))[1]
    assert hypervolume_history(run)[-1].hypervolume == pytest.approx(expected)


def test_hypervolume_follows_completion_time_not_trial_number() -> None:
    from datetime import datetime, timedelta

    from blocknas.report.front import hypervolume_x
    from blocknas.report.run import Objective, RunData

    t0 = datetime(2026, 1, 1, 12, 0, 0)
    # Trial 1 (small, accurate) finishes first on another worker; trial 0 finishes later.
    trials = [
        TrialRecord(0, "COMPLETE", {"accuracy": 0.5, "params": 900.0}, params=900,
                    started=t0, completed=t0 + timedelta(seconds=300)),
        TrialRecord(1, "COMPLETE", {"accuracy": 0.9, "params": 100.0}, params=100,
                    started=t0 + timedelta(seconds=5), completed=t0 + timedelta(seconds=120)),
    ]  # fmt: skip
    objectives = (Objective("accuracy", "maximize"), Objective("params", "minimize"))
    run = RunData(None, "toy", objectives, tuple(trials))
    history = hypervolume_history(run)
    assert [h.trial for h in history] == [1, 0]
    assert [h.seconds for h in history] == [120.0, 300.0]
    # Trial 0 is dominated by trial 1: the front, and its hypervolume, stay the same.
    assert history[1].hypervolume == pytest.approx(history[0].hypervolume)
    xs, label = hypervolume_x(history)
    assert xs == [2.0, 5.0] and "minutes" in label
