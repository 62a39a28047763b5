"""Progress lines: number, state, objectives, reason, time."""

from __future__ import annotations

import datetime as dt
import io

import optuna
from _search_helpers import tiny
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial
from rich.console import Console

from blocknas.search import load_search_config
from blocknas.search._progress import SearchProgress, front_summary, trial_line

CFG = load_search_config(tiny())
T0 = dt.datetime(2026, 1, 1, 12, 0, 0)


def _trial(number: int, state: TrialState, values: list[float] | None = None, **attrs: object):
    t = create_trial(
        state=state, values=values, params={"x": 1}, distributions={"x": IntDistribution(0, 2)},
        user_attrs=dict(attrs),
    )  # fmt: skip
    t.number = number
    t.datetime_start, t.datetime_complete = T0, T0 + dt.timedelta(seconds=12.5)
    return t


def test_lines_per_state() -> None:
    done = trial_line(_trial(7, TrialState.COMPLETE, [0.98611, 5234], test_accuracy=0.99), CFG)
    assert done.split() == ["trial", "7", "COMPLETE", "accuracy", "0.9861", "params", "5,234",
                            "(test", "acc", "0.9900)", "12.5", "s"]  # fmt: skip
    pruned = trial_line(_trial(8, TrialState.PRUNED, stopped_at_rung=3,
                               stopped_rung_values=[0.5, 900]), CFG)  # fmt: skip
    assert "PRUNED@e3" in pruned and "accuracy 0.5000" in pruned
    failed = trial_line(_trial(9, TrialState.FAIL, fail_reason="unbuildable: too small"), CFG)
    assert "FAIL" in failed and "unbuildable: too small" in failed
    over = trial_line(_trial(10, TrialState.COMPLETE, [0.0, 1e6],
                             constraint_violation="params 1,000,000 > max_params 10"), CFG)  # fmt: skip
    assert "not trained: params 1,000,000" in over


def test_a_lost_trial_says_so_and_names_its_rerun() -> None:
    lost = _trial(3, TrialState.FAIL)  # no fail_reason: its worker died or was interrupted
    assert trial_line(lost, CFG).split()[2:] == ["FAIL", "lost:", "its", "worker", "stopped"]
    rerun = _trial(4, TrialState.COMPLETE, [0.9, 2000])
    rerun.system_attrs.update({"failed_trial": 3, "retry_history": [3]})
    out = io.StringIO()
    SearchProgress(CFG, n_trials=2, console=Console(file=out, width=200)).update([lost, rerun])
    first, second = out.getvalue().splitlines()
    assert first.endswith("lost: its worker stopped; re-run as trial 4")
    assert second.split()[1:3] == ["4", "COMPLETE"]


def test_front_summary_skips_infeasible_trials() -> None:
    good = _trial(0, TrialState.COMPLETE, [0.9, 2000])
    small = _trial(1, TrialState.COMPLETE, [0.5, 500])
    worse = _trial(2, TrialState.COMPLETE, [0.4, 3000])
    over = _trial(3, TrialState.COMPLETE, [0.0, 100])
    over.set_constraint("max_params", 5.0)
    size, hv = front_summary([good, small, worse, over], CFG)
    assert size == 2 and 0 < hv < 1
    assert front_summary([good, small], CFG) == (size, hv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_paused_and_continued_trials() -> None:
    paused = _trial(2, TrialState.PRUNED, paused_at_rung=1, stopped_rung_values=[0.4, 900])
    line = trial_line(paused, CFG)
    assert "PAUSED@e1" in line and "accuracy 0.4000" in line
    follow = _trial(5, TrialState.COMPLETE, [0.9, 900], continues=2)
    assert trial_line(follow, CFG).split()[-5:] == ["(continues", "trial", "2)", "12.5", "s"]
    waiting = _trial(3, TrialState.PRUNED, paused_at_rung=1, stopped_rung_values=[0.3, 500])
    summary = SearchProgress(CFG, n_trials=2, enabled=False).summary([paused, waiting, follow])
    # Trial 2 went on as trial 5; trial 3 still waits at its rung, which counts as stopped.
    assert summary.startswith("1 complete | 1 stopped early | 1 paused and continued | 0 failed")
