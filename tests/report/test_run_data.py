"""Reading a run: objectives, trial records, the front, storage errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest

from blocknas.errors import StorageError
from blocknas.report import load_run_data, open_study, study_storage
from blocknas.report.run import architecture_summary

from .factory import make_run


def _dominates(a: np.ndarray, b: np.ndarray, signs: np.ndarray) -> bool:
    a, b = a * signs, b * signs  # to minimisation
    return bool(np.all(a <= b) and np.any(a < b))


def test_records_follow_the_study(run_3d: Path) -> None:
    run = load_run_data(run_3d)
    assert run.objective_names == ["accuracy", "params", "macs"]
    assert run.directions == ["maximize", "minimize", "minimize"]
    assert [t.number for t in run.trials] == list(range(16))
    states = [t.state for t in run.trials]
    assert states.count("PRUNED") == 2 and states.count("FAIL") == 1
    done = run.completed()
    assert 3 not in {t.number for t in done}  # violates a constraint
    assert not run.trial(3).feasible
    t = done[0]
    assert t.values["params"] == t.params and t.model_path == run_3d / "trials/0000/model.yaml"
    assert t.get("accuracy") == t.values["accuracy"] and t.get("f1") == t.metrics["val_f1"]


def test_front_is_exactly_the_non_dominated_trials(run_3d: Path) -> None:
    run = load_run_data(run_3d)
    done = run.completed()
    values = run.values(done)
    signs = np.array([-1.0, 1.0, 1.0])
    expected = {
        t.number
        for i, t in enumerate(done)
        if not any(_dominates(values[j], values[i], signs) for j in range(len(done)) if j != i)
    }
    assert {t.number for t in run.front()} == expected
    assert 0 < len(expected) < len(done)


def test_model_defaults_come_from_the_trials(run_2d: Path) -> None:
    assert load_run_data(run_2d).model_defaults() == {
        "input_channel": 1, "input_size": 8, "num_classes": 10,
    }  # fmt: skip


def test_architecture_summary_lists_rows() -> None:
    text = architecture_summary({"backbone": [
        [1, "Conv", {"out": 16, "kernel": 3, "act": None}], [2, "InvertedResidualv2", [24, 6, 2]],
    ]})  # fmt: skip
    assert text.splitlines() == ["1× Conv(out=16, kernel=3)", "2× InvertedResidualv2(24, 6, 2)"]


def test_storage_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="not a search run folder"):
        study_storage(tmp_path)
    (tmp_path / "storage.txt").write_text("postgresql://user:***@host/db\n")
    with pytest.raises(StorageError, match="masked"):
        study_storage(tmp_path)
    assert study_storage(tmp_path, "sqlite:///x.db") == "sqlite:///x.db"


def test_a_study_must_be_named_when_the_storage_holds_several(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", n_trials=3, pruned=0, failed=0)
    optuna.create_study(storage=study_storage(run), study_name="other")
    with pytest.raises(StorageError, match="2 studies"):
        open_study(run)
    assert open_study(run, study_name="toy").study_name == "toy"
    with pytest.raises(StorageError, match="no study named"):
        open_study(run, study_name="nope")


def test_a_foreign_study_is_refused(tmp_path: Path) -> None:
    optuna.create_study(storage=f"sqlite:///{tmp_path / 'study.db'}", study_name="plain")
    with pytest.raises(StorageError, match="not written by a blocknas search"):
        load_run_data(tmp_path)


def test_a_paused_trial_that_was_continued_is_not_shown_as_stopped() -> None:
    from blocknas.report.run import Objective, RunData, TrialRecord

    acc = {"val_accuracy": 0.4}
    trials = (
        TrialRecord(0, "PRUNED", params=500, metrics=acc),  # paused, then continued by 2
        TrialRecord(1, "PRUNED", params=600, metrics=acc),  # stopped (or still waiting)
        TrialRecord(2, "COMPLETE", {"accuracy": 0.9, "params": 500.0}, params=500, continues=0),
    )
    objectives = (Objective("accuracy", "maximize"), Objective("params", "minimize"))
    run = RunData(None, "toy", objectives, trials)
    assert [t.number for t in run.stopped()] == [1]
    assert [t.number for t in run.completed()] == [2]
