"""Budget planning: expected epochs under early stopping, trials that fit, the pilot."""

from __future__ import annotations

import pytest
from _search_helpers import tiny

from blocknas.search import expected_epochs, load_search_config, plan_budget, run_pilot
from blocknas.search.budget import Pilot
from blocknas.search.early_stopping import EarlyStoppingConfig


def test_expected_epochs_follow_the_rungs() -> None:
    assert expected_epochs(EarlyStoppingConfig(1, 9, enabled=False)) == 9
    # Everyone trains 1 epoch, a third 2 more (to 3), a ninth 6 more (to 9).
    assert expected_epochs(EarlyStoppingConfig(1, 9, eta=3)) == pytest.approx(1 + 2 / 3 + 6 / 9)
    assert expected_epochs(EarlyStoppingConfig(2, 18, eta=3)) == pytest.approx(2 + 4 / 3 + 12 / 9)
    # With data fractions epoch 1 trains on a ninth (two rungs ahead), epochs 2-3 on a third.
    fractions = EarlyStoppingConfig(1, 9, eta=3, data_fraction=True)
    assert expected_epochs(fractions) == pytest.approx(1 / 9 + 2 / 3 / 3 + 6 / 9)


def test_plan_counts_trials_and_warns_when_too_few() -> None:
    cfg = load_search_config(
        tiny(early_stopping=False, sampler={"name": "tpe", "n_startup_trials": 10})
    )
    pilot = Pilot(overhead_s=1.0, epoch_s=2.0, peak_rss_mib=100.0)
    plan = plan_budget(cfg, pilot, seconds=100.0, n_jobs=2)
    assert plan.trial_s == pytest.approx(5.0)  # 1 s + 2 epochs × 2 s
    assert plan.trials_fit == 40 and plan.warnings == ()
    short = plan_budget(cfg, pilot, seconds=20.0, n_jobs=1, n_trials=30)
    assert short.trials_fit == 4
    assert any("fewer than the 10" in w for w in short.warnings)
    assert any("after ~4 of its 30 trials" in w for w in short.warnings)
    assert "fit ~4 trials" in short.describe()


def test_plan_warns_when_workers_do_not_fit_in_memory() -> None:
    cfg = load_search_config(tiny())
    pilot = Pilot(overhead_s=1.0, epoch_s=1.0, peak_rss_mib=1e9)
    assert any("free memory" in w for w in plan_budget(cfg, pilot, seconds=1e4, n_jobs=4).warnings)


def test_pilot_measures_a_typical_trial() -> None:
    pilot = run_pilot(load_search_config(tiny(constraints={"max_params": 10})))
    assert pilot.epoch_s > 0 and pilot.overhead_s >= 0 and pilot.peak_rss_mib > 10
