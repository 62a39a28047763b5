"""MO-ASHA early stopping: config, ranking at a rung, storage records, workers and samplers."""

from __future__ import annotations

import math
import multiprocessing
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from blocknas.errors import ConfigError
from blocknas.search.early_stopping import (
    BRACKET_ATTR,
    CHECKPOINT_ATTR,
    MOASHA,
    ORIGIN_ATTR,
    PAUSED_AT_RUNG_ATTR,
    RESUME_FROM_ATTR,
    STOPPED_AT_RUNG_ATTR,
    STOPPED_RUNG_VALUES_ATTR,
    EarlyStoppingConfig,
    forget_inherited_records,
    format_rung_summary,
    mark_paused,
    mark_stopped,
    rung_attr,
    rung_ranks,
    rung_summary,
)
from blocknas.search.storage import CONTINUES_ATTR, _retry_callback, reruns

MAX_MIN = ["maximize", "minimize"]

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _study() -> optuna.Study:
    return optuna.create_study(directions=MAX_MIN, storage=optuna.storages.InMemoryStorage())


# --- config -----------------------------------------------------------------------------------


def test_rungs_are_geometric_up_to_max_epochs() -> None:
    assert EarlyStoppingConfig(min_epochs=1, max_epochs=27).rungs == (1, 3, 9, 27)
    config = EarlyStoppingConfig(min_epochs=2, max_epochs=20, eta=3)
    assert config.rungs == (2, 6, 18)
    assert config.decision_rungs() == (2, 6, 18)
    # R itself is a rung but nobody is ranked there: the trial is finished anyway.
    assert EarlyStoppingConfig(min_epochs=1, max_epochs=27).decision_rungs() == (1, 3, 9)
    two = EarlyStoppingConfig(min_epochs=1, max_epochs=27, brackets=2)
    assert two.decision_rungs(1) == (3, 9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_epochs": 0, "max_epochs": 9}, "min_epochs must be >= 1"),
        ({"min_epochs": 5, "max_epochs": 4}, "must be >= min_epochs"),
        ({"min_epochs": 1, "max_epochs": 9, "eta": 1}, "eta must be >= 2"),
        ({"min_epochs": 1, "max_epochs": 9, "eta": True}, "eta must be an integer"),
        ({"min_epochs": 1, "max_epochs": 9, "brackets": 4}, "brackets must be between 1 and"),
        ({"min_epochs": 1, "max_epochs": 9, "tie_break": "random"}, "tie_break must be one of"),
        ({"min_epochs": 1, "max_epochs": 9, "min_data_fraction": 0.0}, "min_data_fraction"),
        ({"min_epochs": 1, "max_epochs": 9, "enabled": "yes"}, "enabled must be true or false"),
    ],
)
def test_config_rejects_bad_values(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        EarlyStoppingConfig(**kwargs)


def test_config_from_yaml_mapping() -> None:
    config = EarlyStoppingConfig.from_mapping({"min_epochs": 2, "max_epochs": 18, "eta": 3})
    assert (config.min_epochs, config.max_epochs, config.eta, config.enabled) == (2, 18, 3, True)
    # Absent: the default for the training length; off for short trainings.
    assert EarlyStoppingConfig.from_mapping(None, max_epochs=27).enabled
    assert not EarlyStoppingConfig.from_mapping(None, max_epochs=4).enabled
    assert EarlyStoppingConfig.from_mapping(True, max_epochs=4).enabled
    assert not EarlyStoppingConfig.from_mapping(False, max_epochs=27).enabled
    # A section without max_epochs takes the training length.
    assert EarlyStoppingConfig.from_mapping({"eta": 2}, max_epochs=8).rungs == (1, 2, 4, 8)


def test_config_errors_name_the_file_and_key() -> None:
    with pytest.raises(ConfigError, match=r"search\.yaml: early_stopping: unknown keys \['etta'\]"):
        EarlyStoppingConfig.from_mapping({"etta": 3, "max_epochs": 9}, source="search.yaml")
    with pytest.raises(ConfigError, match=r"search\.yaml: early_stopping\.max_epochs is missing"):
        EarlyStoppingConfig.from_mapping({"eta": 3}, source="search.yaml")
    with pytest.raises(ConfigError, match="must be a mapping"):
        EarlyStoppingConfig.from_mapping([1, 2])  # type: ignore[arg-type]


def test_default_schedule() -> None:
    config = EarlyStoppingConfig.default(100)
    # r ≈ R/η³ = 3.7 -> 4: three halvings 4, 12, 36 before R.
    assert config.decision_rungs() == (4, 12, 36)
    assert config.enabled
    assert not EarlyStoppingConfig.default(8).enabled


# --- ranking at a rung ------------------------------------------------------------------------

# Rung of five entries (accuracy ↑, params ↓), rows in trial order; the newest trial is the last.
# Fronts: {1, 3, 4} and {0, 2} (4 = (0.70, 5) dominates 0 and 2; 0 and 2 trade off).
# Crowding inside front 0: 3 and 4 are extremes (inf, tie -> trial order: 3 then 4), 1 is inside.
# Order: 3, 4, 1, 0, 2 -> positions (ranks) of entries 0..4: 3, 2, 4, 0, 1.
RUNG = [[0.50, 10.0], [0.80, 50.0], [0.60, 40.0], [0.90, 100.0], [0.70, 5.0]]


def test_rank_of_each_entry_is_its_position_not_the_entry_at_that_position() -> None:
    ranks = rung_ranks(RUNG, MAX_MIN, "crowding")
    assert ranks.tolist() == [3, 2, 4, 0, 1]
    # The order (entries by position) is a different array: 3, 4, 1, 0, 2. Reading the new
    # trial's rank as order[4] == 2, or as its index 4, would be wrong.
    order = np.argsort(ranks)
    assert order.tolist() == [3, 4, 1, 0, 2]
    assert ranks[4] == 1 != order[4]


def test_decision_uses_the_rank_of_the_new_trial() -> None:
    # η = 3: the top ⌈5/3⌉ = 2 go on (fewer than 5/3 entries ahead). The new trial (entry 4) has
    # rank 1 -> goes on. Taking its index (4) or order[4] (2) as the rank would stop it.
    crowding = {"tie_break": "crowding"}
    eta3 = MOASHA(EarlyStoppingConfig(min_epochs=1, max_epochs=9, eta=3, **crowding), MAX_MIN)
    assert not eta3.decide(RUNG, 4)
    assert eta3.decide(RUNG, 1)  # on the front, but after the cut inside the front (rank 2)
    assert [eta3.decide(RUNG, i) for i in range(5)] == [True, True, True, False, False]
    # η = 2: ⌈5/2⌉ = 3 go on: entries 3, 4 and 1.
    eta2 = MOASHA(EarlyStoppingConfig(min_epochs=1, max_epochs=8, eta=2, **crowding), MAX_MIN)
    assert [eta2.decide(RUNG, i) for i in range(5)] == [True, False, True, False, False]


# A rung where the cut goes through the front: (accuracy ↑, parameters ↓ on log10 between 100
# and 100,000, as a search would scale them). Entry 0 is the smallest model at chance accuracy,
# entry 2 the largest; entry 1 (newest) is a far better trade-off between them.
TRADE_OFF = [[0.12, 150.0], [0.95, 3_000.0], [0.97, 50_000.0]]


def _log_scale(values: np.ndarray) -> np.ndarray:
    acc, params = values[:, 0], np.log10(values[:, 1])
    return np.stack([1.0 - acc, (params - 2.0) / 3.0], axis=1)


def test_hypervolume_tie_break_keeps_the_trade_off_crowding_drops() -> None:
    # Contributions in the scaled space (reference point (1, 1)): entry 1 alone covers accuracy
    # 0.12..0.95 over log-params 3,000..50,000: 0.83 x 0.407 = 0.338; entry 0 covers 0..0.12
    # over 150..3,000: 0.12 x 0.434 = 0.052; entry 2 covers 0.95..0.97 over 50,000..100,000:
    # 0.02 x 0.100 = 0.002.
    ranks = rung_ranks(TRADE_OFF, MAX_MIN, "hypervolume", _log_scale)
    assert ranks.tolist() == [1, 0, 2]
    # Crowding distance ranks both ends (entries 0 and 2) first and the trade-off last.
    assert rung_ranks(TRADE_OFF, MAX_MIN, "crowding").tolist() == [0, 2, 1]
    # η = 3 keeps ⌈3/3⌉ = 1 entry: the trade-off (the newest trial) with the default, the
    # chance-level model with crowding.
    default = EarlyStoppingConfig(min_epochs=1, max_epochs=9, eta=3, form="stopping")
    assert default.tie_break == "hypervolume"
    by_volume = MOASHA(default, MAX_MIN, scale=_log_scale)
    assert [by_volume.decide(TRADE_OFF, i) for i in range(3)] == [True, False, True]
    by_crowding = MOASHA(
        EarlyStoppingConfig(min_epochs=1, max_epochs=9, eta=3, tie_break="crowding"), MAX_MIN
    )
    assert [by_crowding.decide(TRADE_OFF, i) for i in range(3)] == [False, True, True]


def test_hypervolume_tie_break_without_scale_uses_the_rung_range() -> None:
    # Min-max over the rung, reference 10 % beyond the worst: on a linear parameter scale the
    # largest model's accuracy step (0.95 -> 0.97) still counts less than the trade-off.
    ranks = rung_ranks(TRADE_OFF, MAX_MIN)  # default tie-breaker, no scale
    assert int(np.argmin(ranks)) == 1
    # Only the order inside a front changes: a dominated entry stays behind the whole front.
    rung = [*TRADE_OFF, [0.90, 4_000.0]]  # dominated by entry 1
    assert rung_ranks(rung, MAX_MIN, "hypervolume", _log_scale)[3] == 3


def test_epsnet_tie_break_orders_the_cut_front_by_spread() -> None:
    # Front of 5 evenly spaced points: the ε-net starts at the best accuracy (entry 4), then the
    # far end (entry 0), then the middle (entry 2).
    front = [[0.5, 1.0], [0.6, 2.0], [0.7, 3.0], [0.8, 4.0], [0.9, 5.0]]
    ranks = rung_ranks(front, MAX_MIN, "epsnet")
    assert ranks[[4, 0, 2]].tolist() == [0, 1, 2]
    config = EarlyStoppingConfig(min_epochs=1, max_epochs=4, eta=2, tie_break="epsnet")
    asha = MOASHA(config, MAX_MIN)
    # η = 2 keeps ⌈5/2⌉ = 3: entries 4, 0 and 2.
    assert [asha.decide(front, i) for i in range(5)] == [False, True, False, True, False]


# --- decisions through the study storage ------------------------------------------------------


def _record(asha: MOASHA, study: optuna.Study, values: list[float], epoch: int = 1) -> bool:
    return asha.should_stop(study.ask(), epoch, values)


def test_dominated_trial_stops_and_front_trial_goes_on() -> None:
    study = _study()
    asha = MOASHA(EarlyStoppingConfig(min_epochs=1, max_epochs=9, eta=3, form="stopping"), MAX_MIN)
    for values in ([0.80, 10.0], [0.70, 20.0], [0.75, 15.0]):
        _record(asha, study, values)
    # n = 4, top ⌈4/3⌉ = 2: a trial dominated by all three stops, one that dominates everyone
    # goes on.
    assert _record(asha, study, [0.60, 30.0])
    assert not _record(asha, study, [0.90, 5.0])


def test_a_trial_with_fewer_than_n_over_eta_ahead_goes_on() -> None:
    # Rounding the kept share up: with n = 4 and η = 3 the second of four entries has one entry
    # ahead (fewer than 4/3) and goes on; the third has two ahead and stops.
    study = _study()
    asha = MOASHA(EarlyStoppingConfig(min_epochs=1, max_epochs=9, eta=3, form="stopping"), MAX_MIN)
    for values in ([0.90, 5.0], [0.50, 50.0], [0.40, 60.0]):
        _record(asha, study, values)
    assert not _record(asha, study, [0.80, 10.0])  # position 1 of 4
    assert _record(asha, study, [0.45, 55.0])  # position 3 of 5: ⌈5/3⌉ = 2


def test_rung_with_fewer_than_eta_entries_lets_trials_through() -> None:
    study = _study()
    asha = MOASHA(EarlyStoppingConfig(min_epochs=1, max_epochs=9, eta=3, form="stopping"), MAX_MIN)
    assert not _record(asha, study, [0.90, 5.0])
    assert not _record(asha, study, [0.10, 99.0])  # dominated, but n = 2 < η
    assert _record(asha, study, [0.05, 100.0])  # n = 3: only the best one goes on


def test_entries_of_every_state_are_ranked_and_records_are_written() -> None:
    study = _study()
    asha = MOASHA(EarlyStoppingConfig(min_epochs=1, max_epochs=9, eta=3, form="stopping"), MAX_MIN)
    pruned, complete, running = study.ask(), study.ask(), study.ask()
    values = {pruned: [0.7, 3.0], complete: [0.8, 2.0], running: [0.9, 1.0]}
    for trial, rung_values in values.items():  # each one dominates the ones before it
        assert not asha.should_stop(trial, 1, rung_values)
    mark_stopped(pruned, 1)
    study.tell(complete, [0.8, 2.0])
    states = {t.number: t.state for t in study.get_trials()}
    assert states == {0: TrialState.PRUNED, 1: TrialState.COMPLETE, 2: TrialState.RUNNING}
    numbers, table = asha.rung_table(study.get_trials(), 1, 0)
    assert numbers == [0, 1, 2]
    assert table.tolist() == [[0.7, 3.0], [0.8, 2.0], [0.9, 1.0]]
    # A fourth entry competes with all three states: ⌈4/3⌉ = 2 places, taken by the running and
    # the complete one, which both dominate it.
    newcomer = study.ask()
    assert asha.should_stop(newcomer, 1, [0.75, 2.5])
    assert newcomer.user_attrs[rung_attr(1)] == [0.75, 2.5]
    assert newcomer.user_attrs[BRACKET_ATTR] == 0


def test_non_rung_epochs_and_disabled_config_write_nothing() -> None:
    study = _study()
    config = EarlyStoppingConfig(min_epochs=1, max_epochs=9, eta=3, form="stopping")
    asha = MOASHA(config, MAX_MIN)
    trial = study.ask()
    for epoch in (2, 9):  # not a rung; the last epoch
        assert not asha.should_stop(trial, epoch, [0.1, 1.0])
    off = MOASHA(EarlyStoppingConfig(min_epochs=1, max_epochs=9, enabled=False), MAX_MIN)
    assert not off.should_stop(trial, 1, [0.1, 1.0])
    assert trial.user_attrs == {}
    with pytest.raises(ValueError, match="finite"):
        asha.should_stop(trial, 1, [math.nan, 1.0])
    with pytest.raises(ValueError, match="2 finite numbers"):
        asha.should_stop(trial, 1, [0.5])


def test_mark_stopped_leaves_a_pruned_trial_without_values() -> None:
    study = _study()
    asha = MOASHA(EarlyStoppingConfig(min_epochs=1, max_epochs=9, eta=3, form="stopping"), MAX_MIN)
    trial = study.ask()
    asha.should_stop(trial, 3, [0.4, 7.0])
    mark_stopped(trial, 3)
    frozen = study.get_trials()[0]
    assert frozen.state == TrialState.PRUNED
    assert frozen.values is None
    assert frozen.intermediate_values == {}
    assert frozen.user_attrs[STOPPED_AT_RUNG_ATTR] == 3
    assert frozen.user_attrs[STOPPED_RUNG_VALUES_ATTR] == [0.4, 7.0]


def test_rung_summary_counts_reached_and_stopped() -> None:
    study = _study()
    asha = MOASHA(EarlyStoppingConfig(min_epochs=1, max_epochs=9, eta=3, form="stopping"), MAX_MIN)
    for k in range(6):  # each trial is dominated by all earlier ones
        trial = study.ask()
        if asha.should_stop(trial, 1, [0.9 - k / 10, 1.0 + k]):
            mark_stopped(trial, 1)
        elif asha.should_stop(trial, 3, [0.95 - k / 10, 1.0 + k]):
            mark_stopped(trial, 3)
    # Rung 1: trials 0 and 1 pass (n < η), 2 to 5 rank last among n >= 3 entries and stop.
    # Rung 3: only trials 0 and 1 arrive, n < η, both pass.
    summary = rung_summary(study.get_trials())
    assert summary == {1: (6, 4), 3: (2, 0)}
    assert format_rung_summary(summary) == "stopped e1:4/6 e3:0/2"
    assert format_rung_summary({}) == ""


def test_a_lost_trial_rerun_as_a_new_one_counts_once_at_each_rung() -> None:
    study = _study()
    asha = MOASHA(EarlyStoppingConfig(min_epochs=1, max_epochs=9, eta=3, form="stopping"), MAX_MIN)
    lost = study.ask()
    lost.suggest_float("x", 0.0, 1.0)
    assert not asha.should_stop(lost, 1, [0.9, 1.0])
    assert not asha.should_stop(lost, 3, [0.95, 1.0])
    weak = study.ask()
    assert not asha.should_stop(weak, 1, [0.5, 2.0])
    mark_stopped(weak, 1)
    # The worker of the first trial dies: optuna fails it and queues its parameters again as a
    # new trial carrying every user attribute of the lost one.
    study.tell(lost, state=TrialState.FAIL)
    _retry_callback()(study, study.trials[0])  # what the search's storage runs
    rerun = study.ask()
    assert rerun.params == lost.params and rerun.user_attrs[rung_attr(3)] == [0.95, 1.0]
    assert reruns(study.get_trials()) == {lost.number: rerun.number}
    forget_inherited_records(rerun)
    assert rerun.user_attrs[rung_attr(1)] is None and rerun.user_attrs[BRACKET_ATTR] is None
    assert rung_summary(study.get_trials()) == {1: (1, 1)}
    assert asha.rung_table(study.get_trials(), 3, 0)[0] == []
    # Judged against the lost run's record as well (n = 3, one place), the re-run would rank
    # after its own identical entry and stop; it is one entry of two and goes on.
    assert not asha.should_stop(rerun, 1, [0.9, 1.0])
    assert asha.rung_table(study.get_trials(), 1, 0)[0] == [weak.number, rerun.number]
    assert rung_summary(study.get_trials()) == {1: (2, 1)}
    forget_inherited_records(weak)  # not a re-run: untouched
    assert study.trials[weak.number].user_attrs[STOPPED_AT_RUNG_ATTR] == 1


# --- the promotion form -----------------------------------------------------------------------


def _promotion(**changes: Any) -> MOASHA:
    schedule = {"min_epochs": 1, "max_epochs": 9, "eta": 3, "form": "promotion", **changes}
    return MOASHA(EarlyStoppingConfig(**schedule), MAX_MIN)


def _arrive(asha: MOASHA, study: optuna.Study, trial: optuna.Trial, values: list[float],
            epoch: int, folder: Path) -> bool:  # fmt: skip
    """The trial reaches a rung; paused (checkpoint folder with a last.pt, state PRUNED) when
    it does not go on. Returns whether it goes on."""
    if not asha.should_stop(trial, epoch, values):
        return True
    checkpoint = folder / f"{trial.number}-{epoch}"
    checkpoint.mkdir(parents=True)
    (checkpoint / "last.pt").write_bytes(b"")
    mark_paused(trial, epoch, checkpoint)
    study.tell(trial, state=TrialState.PRUNED)
    return False


def _continue(asha: MOASHA, study: optuna.Study) -> optuna.Trial:
    job = asha.promotion(study.get_trials())
    assert job is not None
    params, attrs = job
    study.enqueue_trial(params, user_attrs=attrs)
    return study.ask()


def test_promotion_form_is_a_config_choice() -> None:
    config = EarlyStoppingConfig.from_mapping({"form": "promotion"}, max_epochs=9)
    assert config.form == "promotion" and EarlyStoppingConfig(1, 9).form == "promotion"
    assert EarlyStoppingConfig.from_mapping({"form": "stopping"}, max_epochs=9).form == "stopping"
    with pytest.raises(ConfigError, match=r"early_stopping.form must be one of \['stopping', "):
        EarlyStoppingConfig(1, 9, form="halving")  # type: ignore[arg-type]


def test_a_paused_trial_is_promoted_once_later_arrivals_lift_it_into_the_top(
    tmp_path: Path,
) -> None:
    study, asha = _study(), _promotion()
    trials = [study.ask() for _ in range(3)]
    for trial, values in zip(trials, ([0.5, 10.0], [0.4, 20.0], [0.3, 30.0]), strict=True):
        # n <= 2: nobody is in the top ⌊n/3⌋ = 0, everyone waits; at n = 3 the first one is
        # the only one promotable, not the arriving third.
        assert not _arrive(asha, study, trial, values, 1, tmp_path)
    assert asha.promotable(study.get_trials()) == [0]
    # The stopping form judges the third trial once, as it arrives, and stops it for good.
    stopping = MOASHA(EarlyStoppingConfig(1, 9, eta=3, form="stopping"), MAX_MIN)
    assert stopping.decide([[0.5, 10.0], [0.4, 20.0], [0.3, 30.0]], 2)
    first = _continue(asha, study)
    assert first.params == trials[0].params
    assert first.user_attrs[CONTINUES_ATTR] == 0 and first.user_attrs[ORIGIN_ATTR] == 0
    assert first.user_attrs[RESUME_FROM_ATTR] == str((tmp_path / "0-1").resolve())
    assert asha.promotable(study.get_trials()) == []  # trial 0 is taken
    # Three weaker arrivals: n = 6, top 2, so trial 1 (position 1) is lifted; at n = 9 trial 2.
    for k in range(3):
        assert not _arrive(asha, study, study.ask(), [0.2 - k / 100, 40.0 + k], 1, tmp_path)
    assert asha.promotable(study.get_trials()) == [1]
    assert _continue(asha, study).user_attrs[CONTINUES_ATTR] == 1
    for k in range(3):
        _arrive(asha, study, study.ask(), [0.1 - k / 100, 50.0 + k], 1, tmp_path)
    assert asha.promotable(study.get_trials()) == [2]
    summary = rung_summary(study.get_trials())
    assert summary[1] == (9, 7)  # 9 reached rung 1; 7 wait there (trials 0 and 1 go on)


def test_an_arriving_trial_goes_on_only_when_it_is_the_next_promotion(tmp_path: Path) -> None:
    study, asha = _study(), _promotion()
    for values in ([0.5, 10.0], [0.4, 20.0]):
        _arrive(asha, study, study.ask(), values, 1, tmp_path)
    best = study.ask()
    # n = 3, ⌊3/3⌋ = 1 place: the arriving trial dominates both, it is the one promoted, and it
    # goes on at once instead of waiting.
    assert _arrive(asha, study, best, [0.9, 5.0], 1, tmp_path)
    assert best.user_attrs[rung_attr(1)] == [0.9, 5.0]
    assert asha.promotable(study.get_trials()) == []  # it is running, not waiting


def _waiting(study: optuna.Study, rungs: dict[int, list[float]], folder: Path) -> int:
    """A trial that recorded ``rungs`` and waits (paused) at the last of them."""
    trial = study.ask()
    for epoch, values in rungs.items():
        trial.set_user_attr(rung_attr(epoch), values)
    trial.set_user_attr(BRACKET_ATTR, 0)
    checkpoint = folder / str(trial.number)
    checkpoint.mkdir()
    (checkpoint / "last.pt").write_bytes(b"")
    mark_paused(trial, max(rungs), checkpoint)
    study.tell(trial, state=TrialState.PRUNED)
    return trial.number


def test_a_waiting_trial_of_a_higher_rung_is_promoted_first(tmp_path: Path) -> None:
    study, asha = _study(), _promotion()
    # Three trials wait at rung 3 (the first in its top ⌊3/3⌋ = 1); three at rung 1, behind them.
    top = _waiting(study, {1: [0.9, 1.0], 3: [0.9, 1.0]}, tmp_path)
    for k in (1, 2):
        _waiting(study, {1: [0.9 - k / 20, 1.0 + k], 3: [0.9 - k / 10, 1.0 + k]}, tmp_path)
    for k in range(3):
        _waiting(study, {1: [0.3 - k / 10, 10.0 + k]}, tmp_path)
    assert asha.promotable(study.get_trials()) == [top]
    # A trial arrives at rung 1 ahead of everyone (n = 7, top 2): promotable, but the trial
    # waiting at rung 3 goes first, so it waits too.
    late = study.ask()
    assert not _arrive(asha, study, late, [0.95, 0.5], 1, tmp_path)
    assert asha.promotable(study.get_trials()) == [top, late.number]


def test_promotion_skips_checkpoints_this_machine_cannot_read(tmp_path: Path) -> None:
    study, asha = _study(), _promotion()
    for values in ([0.5, 10.0], [0.4, 20.0], [0.3, 30.0]):
        _arrive(asha, study, study.ask(), values, 1, tmp_path)
    (tmp_path / "0-1" / "last.pt").unlink()  # written on another machine
    assert asha.promotable(study.get_trials()) == [0]
    assert asha.promotion(study.get_trials()) is None
    assert _study_with_stopping_form_promotes_nothing()


def _study_with_stopping_form_promotes_nothing() -> bool:
    study = _study()
    stopping = MOASHA(EarlyStoppingConfig(1, 9, eta=3, form="stopping"), MAX_MIN)
    for values in ([0.5, 10.0], [0.4, 20.0], [0.3, 30.0]):
        if stopping.should_stop(trial := study.ask(), 1, values):
            mark_stopped(trial, 1)
    return stopping.promotion(study.get_trials()) is None


def test_a_continuation_stays_in_the_bracket_of_the_trial_it_continues(tmp_path: Path) -> None:
    asha = _promotion(max_epochs=27, brackets=2)
    study = _study()
    started = [study.ask() for _ in range(12)]
    bracket = {t.number: asha.bracket_for(t.number) for t in started}
    head = next(t for t in started if bracket[t.number] == 1)
    # Bracket 1 decides at rung 3 only; pausing the head there lets a continuation be made.
    assert asha.trial_bracket(head) == 1
    assert asha.should_stop(head, 3, [0.5, 1.0])  # alone: waits
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "last.pt").write_bytes(b"")
    mark_paused(head, 3, folder)
    study.tell(head, state=TrialState.PRUNED)
    params, attrs = asha.continuation(study.trials[head.number])
    study.enqueue_trial(params, user_attrs=attrs)
    follow = study.ask()
    assert asha.bracket_for(follow.number) == 0  # its own number would put it elsewhere
    assert asha.trial_bracket(follow) == 1
    assert follow.user_attrs[RESUME_FROM_ATTR] == str(folder.resolve())
    # What the paused trial recorded about its own run is not carried over.
    assert CHECKPOINT_ATTR not in follow.user_attrs
    assert PAUSED_AT_RUNG_ATTR not in follow.user_attrs
    assert rung_attr(3) not in follow.user_attrs


# --- brackets and data fraction ---------------------------------------------------------------


def test_brackets_follow_hyperband_shares_and_are_ranked_apart() -> None:
    config = EarlyStoppingConfig(min_epochs=1, max_epochs=27, eta=3, brackets=2, form="stopping")
    asha = MOASHA(config, MAX_MIN)
    brackets = np.array([asha.bracket_for(n) for n in range(2000)])
    # Bracket 0 halves 3 times (η³/4), bracket 1 twice (η²/3).
    share_0 = (27 / 4) / (27 / 4 + 9 / 3)
    assert abs(np.mean(brackets == 0) - share_0) < 0.01
    assert all(asha.bracket_for(n) == brackets[n] for n in range(50))  # deterministic

    study = _study()
    numbers_1 = [n for n in range(40) if brackets[n] == 1]
    trials = [study.ask() for _ in range(numbers_1[1] + 1)]
    first_in_1, second_in_1 = trials[numbers_1[0]], trials[numbers_1[1]]
    assert not asha.should_stop(first_in_1, 1, [0.1, 1.0])  # rung 1 is not one of bracket 1
    assert rung_attr(1) not in first_in_1.user_attrs
    for t in trials:  # many strong bracket-0 entries at rung 3
        if brackets[t.number] == 0:
            asha.should_stop(t, 3, [0.99, 0.5])
    # Bracket 1 only has its own two weak entries at rung 3: n = 2 < η, both go on.
    assert not asha.should_stop(first_in_1, 3, [0.1, 1.0])
    assert not asha.should_stop(second_in_1, 3, [0.1, 1.0])


def test_data_fraction_schedule() -> None:
    config = EarlyStoppingConfig(min_epochs=1, max_epochs=27, eta=3, data_fraction=True)
    asha = MOASHA(config, MAX_MIN)
    # Decision rungs 1, 3, 9: epoch 1 is followed by 3 of them (1/27, floored to 0.1),
    # epochs 2-3 by 2 (1/9), epochs 4-9 by 1 (1/3), later epochs by none (full data).
    expected = {1: 0.1, 2: 1 / 9, 3: 1 / 9, 4: 1 / 3, 9: 1 / 3, 10: 1.0, 27: 1.0}
    assert {e: asha.data_fraction_for(e) for e in expected} == pytest.approx(expected)
    plain = MOASHA(EarlyStoppingConfig(min_epochs=1, max_epochs=27), MAX_MIN)
    assert plain.data_fraction_for(1) == 1.0


# --- several workers on one SQLite storage ----------------------------------------------------

N_SHARED_TRIALS = 10
SHARED_CONFIG = {"min_epochs": 1, "max_epochs": 9, "eta": 3, "form": "stopping"}


def _synthetic_rung_values(number: int) -> list[float]:
    # Accuracy drifts up with the trial number (a sampler that learns), sizes are random.
    rng = np.random.default_rng(1000 + number)
    return [float(0.4 + 0.03 * number + rng.uniform(0, 0.2)), float(rng.integers(1, 50))]


def _play_trial(study: optuna.Study, asha: MOASHA, number: int) -> bool:
    trial = study.ask()
    assert trial.number == number
    stop = asha.should_stop(trial, 1, _synthetic_rung_values(number))
    if stop:
        mark_stopped(trial, 1)
    elif number % 3 == 0:
        study.tell(trial, _synthetic_rung_values(number))
    # Other continuing trials stay RUNNING, as if still training.
    return stop


def _worker(url: str, worker: int, n_workers: int, turn: Any, cond: Any, out: Any) -> None:
    study = optuna.load_study(study_name="shared", storage=url)
    asha = MOASHA(EarlyStoppingConfig(**SHARED_CONFIG), MAX_MIN)
    decisions = {}
    for number in range(worker, N_SHARED_TRIALS, n_workers):
        with cond:
            cond.wait_for(lambda number=number: turn.value == number, timeout=120)
        decisions[number] = _play_trial(study, asha, number)
        with cond:
            turn.value += 1
            cond.notify_all()
    out.put(decisions)


def test_two_processes_sharing_sqlite_match_a_single_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    optuna.create_study(study_name="shared", storage=url, directions=MAX_MIN)
    ctx = multiprocessing.get_context("spawn")
    turn, cond, out = ctx.Value("i", 0), ctx.Condition(), ctx.Queue()
    # Trials alternate between the processes, so every decision needs the other one's records.
    workers = [
        ctx.Process(target=_worker, args=(url, w, 2, turn, cond, out), daemon=True)
        for w in range(2)
    ]
    for p in workers:
        p.start()
    decisions: dict[int, bool] = {}
    for _ in workers:
        decisions.update(out.get(timeout=300))
    for p in workers:
        p.join(timeout=60)
        assert p.exitcode == 0

    oracle_study = _study()
    asha = MOASHA(EarlyStoppingConfig(**SHARED_CONFIG), MAX_MIN)
    oracle = {n: _play_trial(oracle_study, asha, n) for n in range(N_SHARED_TRIALS)}
    assert decisions == oracle
    assert 0 < sum(oracle.values()) < N_SHARED_TRIALS  # some stopped, some went on

    shared = optuna.load_study(study_name="shared", storage=url)
    numbers, table = asha.rung_table(shared.get_trials(), 1, 0)
    assert numbers == list(range(N_SHARED_TRIALS))
    assert table.tolist() == [_synthetic_rung_values(n) for n in numbers]


# --- samplers with pruned multi-objective trials ----------------------------------------------


def _train_and_report(study: optuna.Study, asha: MOASHA, trial: optuna.Trial) -> list[float]:
    """Cheap synthetic training: accuracy rises with epochs towards a ceiling set by the params."""
    quality = trial.suggest_float("quality", 0.0, 1.0)
    width = trial.suggest_int("width", 1, 64, log=True)
    ceiling = 0.4 + 0.5 * quality * (1 - math.exp(-width / 8))
    accuracy = 0.0
    for epoch in range(1, asha.config.max_epochs + 1):
        accuracy = ceiling * (1 - math.exp(-epoch / 2))
        if asha.should_stop(trial, epoch, [accuracy, float(width)]):
            mark_stopped(trial, epoch, tell=False)
            raise optuna.TrialPruned()
    return [accuracy, float(width)]


@pytest.mark.parametrize(
    "make_sampler",
    [
        lambda: optuna.samplers.TPESampler(seed=0, n_startup_trials=6),
        lambda: optuna.samplers.TPESampler(seed=0, n_startup_trials=6, multivariate=True),
        lambda: optuna.samplers.NSGAIISampler(seed=0, population_size=6),
    ],
    ids=["tpe", "tpe-multivariate", "nsga2"],
)
def test_samplers_cope_with_pruned_multi_objective_trials(make_sampler: Any) -> None:
    # Crowding keeps both ends of each rung's front, so some trials finish after the first stop.
    config = EarlyStoppingConfig(1, 9, eta=3, tie_break="crowding", form="stopping")
    asha = MOASHA(config, MAX_MIN)
    study = optuna.create_study(
        directions=MAX_MIN, sampler=make_sampler(), storage=optuna.storages.InMemoryStorage()
    )
    # Ask-and-tell for the first half, study.optimize (TrialPruned path) for the second.
    for _ in range(15):
        trial = study.ask()
        try:
            values = _train_and_report(study, asha, trial)
        except optuna.TrialPruned:
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, values)
    study.optimize(lambda t: _train_and_report(study, asha, t), n_trials=15)

    trials = study.get_trials()
    states = [t.state for t in trials]
    assert len(trials) == 30
    assert TrialState.FAIL not in states and TrialState.RUNNING not in states
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned, "the synthetic curves should make MO-ASHA stop some trials"
    assert all(t.values is None and STOPPED_AT_RUNG_ATTR in t.user_attrs for t in pruned)
    first_pruned = min(t.number for t in pruned)
    later_complete = [
        t for t in trials if t.state == TrialState.COMPLETE and t.number > first_pruned
    ]
    assert len(later_complete) >= 2  # sampling went on and finished trials after pruning
    assert len(study.best_trials) >= 1
