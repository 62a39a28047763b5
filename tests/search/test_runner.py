"""End-to-end searches on digits with tiny spaces: run folder, constraints, failures, early
stopping, resume, warm start, worker processes."""

from __future__ import annotations

import csv
import importlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch
import yaml
from _search_helpers import tiny
from optuna.trial import TrialState

import blocknas
from blocknas.errors import StorageError, TrainingError
from blocknas.search import load_run, load_search_config, run_search

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _search(tmp_path: Path, raw: dict[str, Any], name: str = "run", **kwargs: Any) -> Any:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    kwargs.setdefault("progress", False)
    kwargs.setdefault("report", False)  # the report code has its own tests
    kwargs.setdefault("allow_hook", bool(raw.get("hook")))  # the tests' own hooks
    return run_search(path, out_dir=tmp_path / name, **kwargs)


def _trials(run_dir: Path) -> list[optuna.trial.FrozenTrial]:
    study, _ = load_run(run_dir)
    return study.get_trials(deepcopy=False)


def _hook(tmp_path: Path, body: str) -> str:
    (tmp_path / "hooks.py").write_text("def hook(trial, candidate):\n" + body)
    return "hooks.py:hook"


def test_run_folder_follows_the_contract(tmp_path: Path) -> None:
    result = _search(tmp_path, tiny(n_trials=3))
    run = tmp_path / "run"
    assert result.run_dir == run and (run / "study.db").is_file()
    assert load_search_config(run / "search.yaml").name == "tiny"
    study, _ = load_run(run)
    record = study.user_attrs["blocknas"]
    assert record["version"] == 1 and record["budget"]["n_trials"] == 3
    assert record["objectives"] == [
        {"name": "accuracy", "direction": "maximize"}, {"name": "params", "direction": "minimize"}
    ]  # fmt: skip
    assert Path(record["run_dir"]) == run.resolve()
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(done) == 3
    for t in trials:
        if t.state is not TrialState.COMPLETE:
            continue
        folder = run / "trials" / f"{t.number:04d}"
        for name in ("model.yaml", "train.yaml", "data.yaml", "metrics.json"):
            assert (folder / name).is_file(), name
        attrs = t.user_attrs
        assert yaml.safe_load(attrs["model_yaml"]) == yaml.safe_load(
            (folder / "model.yaml").read_text()
        )
        assert t.values == [attrs["val_accuracy"], attrs["params"]]
        assert 0 < attrs["test_accuracy"] <= 1 and attrs["epochs"] == 2
        assert attrs["macs"] > 0 and attrs["train_seconds"] > 0
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["state"] == "COMPLETE" and len(metrics["epochs"]) == 2
    rows = list(csv.DictReader((run / "pareto.csv").open()))
    assert [int(r["number"]) for r in rows] == [e.number for e in result.pareto]
    assert rows and set(rows[0]) >= {"number", "accuracy", "params", "macs", "model_yaml"}
    assert result.n_complete + result.n_pruned == 3 and 0 < result.hypervolume <= 1


def test_trial_model_retrains_unchanged(tmp_path: Path) -> None:
    from blocknas.search.runner import _threads
    from blocknas.train import train_run

    _search(tmp_path, tiny(n_trials=1))
    torch.set_num_threads(_threads(1))
    folder = tmp_path / "run" / "trials" / "0000"
    trial = _trials(tmp_path / "run")[0]
    model = blocknas.build_model(folder / "model.yaml")
    assert blocknas.profile(model, latency=False).params == trial.user_attrs["params"]
    again = train_run(folder / "model.yaml", folder / "data.yaml", tmp_path / "retrain",
                      progress=False)  # fmt: skip
    assert yaml.safe_load((tmp_path / "retrain" / "train.yaml").read_text()) == yaml.safe_load(
        (folder / "train.yaml").read_text()
    )
    # Same seed, same recipe, same thread count as the search's worker: the same network.
    assert again.val.accuracy == trial.user_attrs["val_accuracy"]
    assert again.test is not None and again.test.accuracy == trial.user_attrs["test_accuracy"]


def test_constraints_prevent_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import blocknas.train

    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a model over the limit was trained")

    monkeypatch.setattr(blocknas.train, "fit", never)
    result = _search(tmp_path, tiny(n_trials=3, constraints={"max_params": 100}))
    trials = _trials(tmp_path / "run")
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    for t in trials:
        assert "params" in t.user_attrs["constraint_violation"]
        assert t.user_attrs["epochs"] == 0 and "val_accuracy" not in t.user_attrs
        assert t.constraints["max_params"] > 0  # what the samplers read (trial.set_constraint)
        assert t.user_attrs["constraints"] == [t.constraints["max_params"]]
        assert t.values is not None and t.values[0] == 0.0
    assert (
        result.pareto == () and len(list(csv.reader((tmp_path / "run" / "pareto.csv").open()))) == 1
    )


def test_failed_trials_keep_their_reason_and_the_search_goes_on(tmp_path: Path) -> None:
    body = (
        "    if trial.number == 0:\n"  # diverges
        "        candidate.train.update(optimizer='sgd', lr=1e12, nesterov=False)\n"
        "    if trial.number == 1:\n"  # shrinks the map below 1x1
        "        candidate.model['backbone'].insert(-3, [1, 'MaxPool', {'kernel': 16}])\n"
    )
    _search(tmp_path, tiny(n_trials=2, hook=_hook(tmp_path, body)))
    trials = _trials(tmp_path / "run")
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.FAIL] + [
        TrialState.COMPLETE
    ] * 2
    assert "diverged" in trials[0].user_attrs["fail_reason"]
    assert trials[1].user_attrs["fail_reason"].startswith("unbuildable")
    assert "below 1×1" in trials[1].user_attrs["fail_reason"]
    metrics = json.loads((tmp_path / "run" / "trials" / "0001" / "metrics.json").read_text())
    assert (
        metrics["state"] == "FAIL" and metrics["fail_reason"] == trials[1].user_attrs["fail_reason"]
    )


def test_a_search_whose_every_trial_fails_stops_with_an_error(tmp_path: Path) -> None:
    body = "    candidate.model['backbone'].insert(-3, [1, 'MaxPool', {'kernel': 16}])\n"
    with pytest.raises(TrainingError, match=r"20 trials in a row failed.*unbuildable"):
        _search(tmp_path, tiny(n_trials=2, hook=_hook(tmp_path, body)))


def test_early_stopping_prunes_at_a_rung(tmp_path: Path) -> None:
    body = "    if trial.number % 2:\n        candidate.train['lr'] = 1e-9\n"  # learns nothing
    raw = tiny(
        n_trials=2, objectives=["accuracy"], train={"optimizer": "adamw", "lr": 0.02},
        early_stopping={"min_epochs": 1, "max_epochs": 3, "eta": 2, "form": "stopping"},
        hook=_hook(tmp_path, body),
    )  # fmt: skip
    _search(tmp_path, raw)
    first, second = _trials(tmp_path / "run")
    assert first.state is TrialState.COMPLETE and first.user_attrs["epochs"] == 3
    assert second.state is TrialState.PRUNED and second.user_attrs["stopped_at_rung"] == 1
    assert second.user_attrs["rung_1"][0] < first.user_attrs["rung_1"][0]
    metrics = json.loads((tmp_path / "run" / "trials" / "0001" / "metrics.json").read_text())
    assert metrics["state"] == "PRUNED" and len(metrics["epochs"]) == 1


def test_data_fraction_trains_the_low_rungs_on_a_share_of_the_data(tmp_path: Path) -> None:
    body = "    if trial.number % 2:\n        candidate.train['lr'] = 1e-9\n"  # learns nothing
    schedule = {"min_epochs": 1, "max_epochs": 3, "eta": 2, "data_fraction": True,
                "form": "stopping"}  # fmt: skip
    raw = tiny(
        n_trials=2, objectives=["accuracy"], train={"optimizer": "adamw", "lr": 0.02},
        early_stopping=schedule, hook=_hook(tmp_path, body),
    )  # fmt: skip
    _search(tmp_path, raw)
    first, second = _trials(tmp_path / "run")
    # Rungs at 1 and 2 of 3 epochs, η = 2: epoch 1 on a quarter of the data, epoch 2 on a
    # half, epoch 3 on all of it; the stopped trial trained the fractions up to its rung.
    fractions = [0.25, 0.5, 1.0]
    assert first.state is TrialState.COMPLETE and second.state is TrialState.PRUNED
    assert first.user_attrs["data_epochs"] == pytest.approx(sum(fractions))
    rung = second.user_attrs["stopped_at_rung"]
    assert second.user_attrs["data_epochs"] == pytest.approx(sum(fractions[:rung]))
    metrics = json.loads((tmp_path / "run" / "trials" / "0000" / "metrics.json").read_text())
    assert [e["data_fraction"] for e in metrics["epochs"]] == fractions
    # The first epoch trained on about a quarter of the images the last one did.
    images = [e["images_per_s"] * e["train_seconds"] for e in metrics["epochs"]]
    assert 0.15 * images[2] < images[0] <= 0.25 * images[2]  # whole batches of a quarter


@pytest.mark.parametrize("sampler", ["tpe", "nsga2"])
def test_promotion_form_resumes_paused_trials_to_the_uninterrupted_curve(
    tmp_path: Path, sampler: str
) -> None:
    from blocknas.search._trial import TrialRunner

    schedule = {"min_epochs": 1, "max_epochs": 4, "eta": 2, "form": "promotion"}
    raw = tiny(n_trials=6, train={"optimizer": "adamw", "lr": 0.02}, sampler=sampler,
               early_stopping=schedule)  # fmt: skip
    result = _search(tmp_path, raw)
    trials = _trials(tmp_path / "run")
    by_number = {t.number: t for t in trials}
    heads = [t for t in trials if "continues" not in t.user_attrs]
    follow = [t for t in trials if "continues" in t.user_attrs]
    assert len(heads) == 6 and all(t.state is not TrialState.FAIL for t in trials)
    # Each continuation resumes a distinct paused trial, with its parameters and checkpoint.
    assert follow and len({t.user_attrs["continues"] for t in follow}) == len(follow)
    for t in follow:
        paused = by_number[t.user_attrs["continues"]]
        assert paused.state is TrialState.PRUNED and paused.params == t.params
        assert t.user_attrs["resume_from"] == paused.user_attrs["checkpoint"]
        trained = t.user_attrs["epochs"] - paused.user_attrs["paused_at_rung"]
        assert t.user_attrs["trained_data_epochs"] == trained
    # Every trial still waiting keeps its checkpoint; one that was continued, or that finished,
    # does not.
    assert result.n_complete + result.n_pruned == len(trials)
    taken = {t.user_attrs["continues"] for t in follow}
    for t in trials:
        folder = tmp_path / "run" / "trials" / f"{t.number:04d}" / "checkpoint"
        if t.user_attrs.get("paused_at_rung") is not None and t.number not in taken:
            assert Path(t.user_attrs["checkpoint"]) == folder.resolve()
            assert (folder / "last.pt").is_file() and (folder / "best.pt").is_file()
        else:
            assert not folder.exists(), t.number
    done = [t for t in follow if t.state is TrialState.COMPLETE]
    assert done, "no paused trial was continued to the end"
    final = done[0]
    assert final.user_attrs["epochs"] == 4
    # The same candidate trained without a pause follows the same curve, epoch for epoch.
    train = {"optimizer": "adamw", "lr": 0.02, "epochs": 4}
    plain = load_search_config(tiny(train=train, sampler=sampler, early_stopping=False))
    runner = TrialRunner(plain)
    study = optuna.create_study(directions=plain.directions)
    study.enqueue_trial(final.params)
    values = runner(study.ask())
    assert values == list(final.values)
    metrics = json.loads(
        (tmp_path / "run" / "trials" / f"{final.number:04d}" / "metrics.json").read_text()
    )
    resumed = [(e["train_loss"], e["val_accuracy"], e["val_loss"]) for e in metrics["epochs"]]
    assert runner.last_result is not None
    alone = [(m.train_loss, m.val_accuracy, m.val_loss) for m in runner.last_result.history]
    assert resumed == alone


def test_a_continuation_keeps_the_latency_measured_for_the_paused_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = importlib.import_module("blocknas.profile")  # blocknas.profile is also a function
    timings = iter(range(1, 1000))  # every measurement differs, as noisy timings do
    monkeypatch.setattr(profile, "measure_latency", lambda *a, **k: float(next(timings)))
    schedule = {"min_epochs": 1, "max_epochs": 4, "eta": 2, "form": "promotion"}
    raw = tiny(n_trials=6, objectives=["accuracy", "latency_ms"], train={"lr": 0.02},
               early_stopping=schedule)  # fmt: skip
    _search(tmp_path, raw)
    trials = _trials(tmp_path / "run")
    by_number = {t.number: t for t in trials}
    follow = [t for t in trials if "continues" in t.user_attrs]
    assert follow, "no paused trial was continued"
    for t in follow:
        paused = by_number[t.user_attrs["continues"]]
        assert t.user_attrs["latency_ms"] == paused.user_attrs["latency_ms"]
        if t.state is TrialState.COMPLETE:
            assert t.values[1] == paused.user_attrs["latency_ms"]
    heads = [t for t in trials if "continues" not in t.user_attrs]
    assert len({t.user_attrs["latency_ms"] for t in heads}) == len(heads) == 6


def test_a_rerun_of_a_lost_trial_trains_as_a_new_one(tmp_path: Path) -> None:
    from blocknas.search._trial import TrialRunner
    from blocknas.search.early_stopping import rung_summary
    from blocknas.search.storage import _retry_callback

    schedule = {"min_epochs": 1, "max_epochs": 3, "eta": 2, "form": "stopping"}
    path = tmp_path / "s.yaml"
    raw = tiny(train={"optimizer": "adamw", "lr": 0.01}, constraints={"max_params": 10**6},
               early_stopping=schedule)  # fmt: skip
    path.write_text(yaml.safe_dump(raw))
    cfg = load_search_config(path)
    runner = TrialRunner(cfg)
    study = optuna.create_study(directions=cfg.directions)
    lost = study.ask()
    values = runner(lost)  # trained, rungs 1 and 2 recorded, then its worker died
    study.tell(lost, state=TrialState.FAIL)
    _retry_callback()(study, study.trials[lost.number])  # what the search's storage runs
    rerun = study.ask()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = runner(rerun)  # alone at its rungs: its lost run's records do not count
    assert [str(w.message) for w in caught if "constraint" in str(w.message)] == []
    assert again == values  # same parameters and seed
    assert rerun.constraints == study.trials[lost.number].constraints
    assert rerun.user_attrs["constraints"] == list(rerun.constraints.values())
    assert rung_summary(study.get_trials()) == {1: (1, 0), 2: (1, 0)}


def test_a_continuation_trains_its_epochs_on_the_data_fractions_of_the_schedule(
    tmp_path: Path,
) -> None:
    schedule = {"min_epochs": 1, "max_epochs": 4, "eta": 2, "data_fraction": True}
    raw = tiny(n_trials=6, train={"optimizer": "adamw", "lr": 0.02}, early_stopping=schedule)
    _search(tmp_path, raw)
    trials = _trials(tmp_path / "run")
    follow = [t for t in trials if "continues" in t.user_attrs]
    assert follow, "no paused trial was continued"
    # Decisions after 1 and 2 of 4 epochs, η = 2: epoch 1 on a quarter, epoch 2 on a half.
    fractions = [0.25, 0.5, 1.0, 1.0]
    for t in follow:
        metrics = json.loads(
            (tmp_path / "run" / "trials" / f"{t.number:04d}" / "metrics.json").read_text()
        )
        epochs = len(metrics["epochs"])
        assert [e["data_fraction"] for e in metrics["epochs"]] == fractions[:epochs]
        paused = next(p for p in trials if p.number == t.user_attrs["continues"])
        resumed_at = paused.user_attrs["paused_at_rung"]
        assert t.user_attrs["trained_data_epochs"] == pytest.approx(
            sum(fractions[resumed_at:epochs])
        )


def test_without_a_run_folder_the_promotion_form_judges_as_the_stopping_form(
    tmp_path: Path,
) -> None:
    from blocknas.search._trial import TrialRunner

    path = tmp_path / "s.yaml"
    raw = tiny(train={"optimizer": "adamw", "lr": 0.01},
               early_stopping={"min_epochs": 1, "max_epochs": 2, "eta": 2})  # fmt: skip
    path.write_text(yaml.safe_dump(raw))
    cfg = load_search_config(path)
    runner = TrialRunner(cfg)  # a worker of a study without a run folder: nowhere to pause
    study = optuna.create_study(directions=cfg.directions)
    first = study.ask()
    # Alone at its rung: the promotion form would make it wait; with nowhere to keep its
    # checkpoint it is judged on arrival, and fewer than η entries let it through.
    values = runner(first)
    assert first.user_attrs["epochs"] == 2 and len(values) == 2
    assert "paused_at_rung" not in first.user_attrs


def test_a_lost_continuation_is_rerun_from_the_same_checkpoint(tmp_path: Path) -> None:
    from blocknas.search._trial import TrialRunner
    from blocknas.search.storage import _retry_callback

    path = tmp_path / "s.yaml"
    raw = tiny(train={"optimizer": "adamw", "lr": 0.01},
               early_stopping={"min_epochs": 1, "max_epochs": 2, "eta": 2})  # fmt: skip
    path.write_text(yaml.safe_dump(raw))
    cfg = load_search_config(path)
    assert cfg.early_stopping.form == "promotion"  # the default
    runner = TrialRunner(cfg, run_dir=tmp_path)
    study = optuna.create_study(directions=cfg.directions)
    head = study.ask()
    with pytest.raises(optuna.TrialPruned, match="paused at the rung of epoch 1"):
        runner(head)  # alone at its rung: nobody is in the top ⌊1/2⌋ = 0, it waits
    study.tell(head, state=TrialState.PRUNED)
    checkpoint = Path(study.trials[head.number].user_attrs["checkpoint"])
    saved = (checkpoint / "last.pt").read_bytes()
    assert runner.promoter is not None
    params, attrs = runner.promoter.continuation(study.trials[head.number])
    study.enqueue_trial(params, user_attrs=attrs)
    lost = study.ask()
    values = runner(lost)  # trains epoch 2, then its worker dies before telling
    study.tell(lost, state=TrialState.FAIL)
    _retry_callback()(study, study.trials[lost.number])  # what the search's storage runs
    rerun = study.ask()
    assert rerun.user_attrs["continues"] == head.number
    assert runner(rerun) == values  # resumed from the same, untouched checkpoint
    assert (checkpoint / "last.pt").read_bytes() == saved
    assert rerun.user_attrs["epochs"] == 2 and rerun.user_attrs["trained_data_epochs"] == 1


@pytest.mark.slow
def test_two_job_processes_continue_each_paused_trial_at_most_once(tmp_path: Path) -> None:
    schedule = {"min_epochs": 1, "max_epochs": 4, "eta": 2}
    raw = tiny(n_trials=8, train={"optimizer": "adamw", "lr": 0.02}, early_stopping=schedule)
    result = _search(tmp_path, raw, n_jobs=2)
    trials = _trials(tmp_path / "run")
    continued = [t.user_attrs["continues"] for t in trials if "continues" in t.user_attrs]
    assert continued and len(set(continued)) == len(continued)
    assert sum("continues" not in t.user_attrs for t in trials) == 8
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert result.n_complete >= 1


def test_resume_continues_numbering(tmp_path: Path) -> None:
    _search(tmp_path, tiny(n_trials=2))
    with pytest.raises(StorageError, match="already holds a search"):
        _search(tmp_path, tiny(n_trials=2))
    result = _search(tmp_path, tiny(n_trials=2), resume=True, n_trials=3)
    trials = _trials(tmp_path / "run")
    assert [t.number for t in trials] == [0, 1, 2]
    assert result.n_complete + result.n_pruned == 3
    changed = tiny(n_trials=2)
    changed["space"]["stages"]["out"] = {"choices": [8, 24]}
    with pytest.raises(StorageError, match="does not match"):
        _search(tmp_path, changed, resume=True)


@pytest.mark.slow
def test_warm_start_enqueues_the_earlier_front(tmp_path: Path) -> None:
    first = _search(tmp_path, tiny(n_trials=3), name="first")
    front = {e.number for e in first.pareto}
    earlier = {t.number: t.params for t in _trials(tmp_path / "first")}
    _search(tmp_path, tiny(n_trials=len(front)), name="second", warm_start=tmp_path / "first")
    trials = _trials(tmp_path / "second")
    sources = {int(t.user_attrs["warm_start"].split("#")[1]): t for t in trials}
    assert set(sources) == front
    for number, t in sources.items():
        assert t.params == earlier[number]


@pytest.mark.slow
def test_two_jobs_are_processes_and_finish_exactly_the_budget(tmp_path: Path) -> None:
    result = _search(tmp_path, tiny(n_trials=4), n_jobs=2)
    trials = _trials(tmp_path / "run")
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 4 == result.n_complete + result.n_pruned
    assert not [t for t in trials if t.state is TrialState.RUNNING]
    pids = {int(t.user_attrs["worker"].rsplit(":", 1)[1]) for t in trials}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2


class _Recording(optuna.samplers.RandomSampler):
    """A sampler object of the caller's: records the trials it proposed parameters for."""

    def __init__(self) -> None:
        super().__init__(seed=0)
        self.numbers: set[int] = set()

    def sample_independent(self, study: Any, trial: Any, name: str, distribution: Any) -> Any:
        self.numbers.add(trial.number)
        return super().sample_independent(study, trial, name, distribution)


def test_a_sampler_object_replaces_the_configs(tmp_path: Path) -> None:
    with pytest.raises(blocknas.ConfigError, match="n_jobs must be 1, got 2"):
        _search(tmp_path, tiny(n_trials=2), sampler=_Recording(), n_jobs=2)
    assert not (tmp_path / "run").exists()  # refused before anything was created
    sampler = _Recording()
    _search(tmp_path, tiny(n_trials=2, sampler="tpe"), sampler=sampler)
    assert sampler.numbers == {t.number for t in _trials(tmp_path / "run")} == {0, 1}


def test_threads_are_restored(tmp_path: Path) -> None:
    before = torch.get_num_threads()
    _search(tmp_path, tiny(n_trials=1))
    assert torch.get_num_threads() == before


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["tpe", "nsga2", "gp", "random"])
def test_every_sampler_runs_with_constraints(tmp_path: Path, sampler: str) -> None:
    options = {"tpe": {"n_startup_trials": 2}, "gp": {"n_startup_trials": 2},
               "nsga2": {"population_size": 2}, "random": {}}[sampler]  # fmt: skip
    raw = tiny(
        n_trials=4, sampler={"name": sampler, **options}, train={"epochs": 1},
        constraints={"max_params": 3000}, early_stopping=False,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # no deprecated optuna API on our side
        result = _search(tmp_path, raw)
    trials = _trials(tmp_path / "run")
    assert result.n_complete + result.n_pruned == 4
    assert all(t.state is TrialState.COMPLETE for t in trials)
    assert all("max_params" in t.constraints for t in trials)
