"""Retraining chosen trials and the rank correlation between search and full training."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from scipy import stats

from blocknas.errors import BlocknasError
from blocknas.report import (
    load_run_data,
    rank_correlation,
    retrain_top,
    retrain_trial,
    top_trials,
)

from .factory import make_run


class FakeTrainer:
    """train_run stand-in: full-training accuracy = search accuracy + a per-trial shift."""

    def __init__(self, run_dir: Path, shift: dict[int, float] | None = None) -> None:
        self.run = load_run_data(run_dir)
        self.shift = shift or {}
        self.calls: list[dict[str, Any]] = []

    def __call__(self, model: Path, data: Any, out: Path, overrides: Any, **kw: Any) -> None:
        number = int(Path(model).parent.name)
        self.calls.append({"number": number, "data": data, "out": out, "overrides": overrides})
        acc = self.run.trial(number).values["accuracy"] + self.shift.get(number, 0.0)
        out.mkdir(parents=True, exist_ok=True)
        metrics = {"val": {"accuracy": acc + 0.01, "macro_f1": acc},
                   "test": {"accuracy": acc, "macro_f1": acc}}  # fmt: skip
        (out / "metrics.json").write_text(json.dumps(metrics))


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    return make_run(tmp_path / "run", n_trials=12, pruned=1, failed=1)


def test_rank_correlation_is_scipys() -> None:
    search, full = [0.70, 0.80, 0.75, 0.90, 0.85], [0.72, 0.79, 0.81, 0.93, 0.88]
    c = rank_correlation(search, full)
    assert c.kendall_tau == pytest.approx(stats.kendalltau(search, full).statistic)
    assert c.spearman == pytest.approx(stats.spearmanr(search, full).statistic)
    assert rank_correlation(search, search).kendall_tau == pytest.approx(1.0)
    assert rank_correlation(search, [-v for v in search]).spearman == pytest.approx(-1.0)
    assert math.isnan(rank_correlation([0.5], [0.6]).kendall_tau)


def test_retrain_trial_uses_the_trial_recipe(run_dir: Path) -> None:
    fake = FakeTrainer(run_dir)
    result = retrain_trial(run_dir, 2, epochs=7, progress=False, train_fn=fake)
    call = fake.calls[0]
    assert call["data"] == run_dir / "trials/0002/data.yaml"
    assert call["overrides"] == {"device": "auto", "epochs": 7}
    assert result.run_dir == run_dir / "trials/0002/retrain-search-e7"
    assert result.split == "test" and not result.reused
    assert result.accuracy == pytest.approx(fake.run.trial(2).values["accuracy"])
    again = retrain_trial(run_dir, 2, epochs=7, progress=False, train_fn=fake)
    assert again.reused and len(fake.calls) == 1


def test_full_data_drops_the_subset(run_dir: Path) -> None:
    fake = FakeTrainer(run_dir)
    result = retrain_trial(run_dir, 0, full_data=True, progress=False, train_fn=fake)
    data = fake.calls[0]["data"]
    assert data["subset"] is None and data["dataset"] == "digits"
    assert data["train"]["lr"] == 0.05  # the trial's recipe is kept
    assert result.run_dir.name == "retrain-full-e3"


def test_retrain_errors(run_dir: Path) -> None:
    with pytest.raises(BlocknasError, match=r"model\.yaml is missing"):
        retrain_trial(run_dir, 11, progress=False, train_fn=FakeTrainer(run_dir))  # failed
    with pytest.raises(BlocknasError, match="no trial 99"):
        retrain_trial(run_dir, 99, progress=False, train_fn=FakeTrainer(run_dir))


def test_top_trials_spread_over_the_front_then_next_fronts(run_dir: Path) -> None:
    run = load_run_data(run_dir)
    front = {t.number for t in run.front()}
    chosen = top_trials(run, len(front))
    assert {t.number for t in chosen} == front
    more = top_trials(run, len(front) + 2)
    assert len(more) == len(front) + 2 and {t.number for t in more[: len(front)]} == front
    two = top_trials(run, 2)  # the ε-net order starts from both ends of the front
    accs = sorted(t.values["accuracy"] for t in run.front())
    assert {two[0].values["accuracy"], two[1].values["accuracy"]} == {accs[-1], accs[0]}


def test_retrain_top_reports_rank_correlation(run_dir: Path) -> None:
    run = load_run_data(run_dir)
    k = 4
    members = top_trials(run, k)
    # Swap the ranks of two models in full training: τ drops below 1.
    best, second = sorted(members, key=lambda t: -t.values["accuracy"])[:2]
    gap = best.values["accuracy"] - second.values["accuracy"]
    shift = {best.number: -gap - 0.005}
    summary = retrain_top(run_dir, k, progress=False, train_fn=FakeTrainer(run_dir, shift))
    assert [r.trial for r in summary.results] == [t.number for t in members]
    search = [r.search_accuracy for r in summary.results]
    full = [r.accuracy for r in summary.results]
    assert summary.correlation.kendall_tau == pytest.approx(
        stats.kendalltau(search, full).statistic
    )
    assert summary.correlation.kendall_tau < 1.0
    saved = json.loads((run_dir / "retrain.json").read_text())
    assert saved["correlation"]["n"] == k


@pytest.mark.slow
def test_retrain_with_the_real_trainer(run_dir: Path) -> None:
    summary = retrain_top(run_dir, 3, full_data=True, epochs=2, progress=False)
    assert len(summary.results) == 3 and summary.correlation.n == 3
    for r in summary.results:
        assert (r.run_dir / "best.pt").is_file() and 0.0 <= r.accuracy <= 1.0
        assert r.split == "test"
