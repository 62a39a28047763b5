"""Retraining chosen architectures at full fidelity, and the evidence that the search's proxy
(few epochs, a data subset) ranked them right: Kendall τ and Spearman ρ between search-time and
full-training accuracy.

Each retraining is a ``blocknas train`` run folder inside the trial's folder:

    RUN_DIR/trials/NNNN/retrain-<data>-e<epochs>/   model.yaml, data.yaml, train.yaml, best.pt,
                                                    metrics.json

where ``<data>`` is ``search`` (the trial's own ``data.yaml``), ``full`` (the same config with
its training ``subset`` removed: every training image) or ``data-<name>`` (a data config given
by the user); the recipe is the training section of the trial's ``data.yaml``. A finished
folder is reused, an interrupted one resumed, so ``--top K`` can be run again after a stop.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blocknas._io import read_yaml_mapping, trial_dir, write_json
from blocknas.errors import BlocknasError
from blocknas.report.baselines import TrainFn, read_run_metrics
from blocknas.report.run import RunData, TrialRecord, load_run_data

__all__ = [
    "RankCorrelation",
    "RetrainResult",
    "RetrainSummary",
    "full_data_config",
    "rank_correlation",
    "retrain_top",
    "retrain_trial",
    "top_trials",
]


@dataclass(frozen=True)
class RetrainResult:
    """One retrained trial. ``accuracy`` is measured on ``split`` ("test" when the data has a
    test split, else "val"); ``search_accuracy`` is what the search recorded."""

    trial: int
    run_dir: Path
    search_accuracy: float | None
    accuracy: float
    split: str
    metrics: Mapping[str, float]
    reused: bool

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.trial, "run_dir": str(self.run_dir),
                "search_accuracy": self.search_accuracy, "accuracy": self.accuracy,
                "split": self.split, "metrics": dict(self.metrics), "reused": self.reused}  # fmt: skip


@dataclass(frozen=True)
class RankCorrelation:
    """Kendall's τ-b and Spearman's ρ with their two-sided p-values (scipy.stats); NaN with
    fewer than two distinct pairs."""

    kendall_tau: float
    kendall_p: float
    spearman: float
    spearman_p: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        def clean(v: float) -> float | None:
            return None if math.isnan(v) else v

        return {"kendall_tau": clean(self.kendall_tau), "kendall_p": clean(self.kendall_p),
                "spearman": clean(self.spearman), "spearman_p": clean(self.spearman_p),
                "n": self.n}  # fmt: skip


@dataclass(frozen=True)
class RetrainSummary:
    """The retrained trials, their rank correlation, and the front members passed over as
    ``(trial, reason)`` because their folder lacks a file retraining needs."""

    results: tuple[RetrainResult, ...]
    correlation: RankCorrelation
    skipped: tuple[tuple[int, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"results": [r.to_dict() for r in self.results],
                "correlation": self.correlation.to_dict(),
                "skipped": [{"trial": n, "reason": why} for n, why in self.skipped]}  # fmt: skip


def rank_correlation(search: Sequence[float], full: Sequence[float]) -> RankCorrelation:
    """Kendall τ and Spearman ρ between two accuracy lists of the same models.

    >>> rank_correlation([0.8, 0.7, 0.9], [0.85, 0.75, 0.95]).kendall_tau
    1.0
    """
    import warnings

    from scipy import stats

    if len(search) != len(full):
        raise ValueError("both lists must have one accuracy per model")
    n = len(search)
    if n < 2:
        return RankCorrelation(math.nan, math.nan, math.nan, math.nan, n)
    with warnings.catch_warnings():  # constant input: scipy warns and returns NaN, kept as NaN
        warnings.simplefilter("ignore")
        tau = stats.kendalltau(search, full)
        rho = stats.spearmanr(search, full)
    return RankCorrelation(
        float(tau.statistic), float(tau.pvalue), float(rho.statistic), float(rho.pvalue), n
    )


def full_data_config(trial_folder: Path) -> dict[str, Any]:
    """A trial's data config without its training subset (``subset: null``): the same dataset,
    image size, splits, augmentation and training section, on every training image."""
    data = _read_trial_data(trial_folder / "data.yaml")
    data["subset"] = None
    return data


def _resolve(run: RunData | str | Path) -> RunData:
    return run if isinstance(run, RunData) else load_run_data(run)


def retrain_trial(
    run: RunData | str | Path,
    number: int,
    *,
    full_data: bool = False,
    data: Any = None,
    epochs: int | None = None,
    device: str = "auto",
    progress: bool = True,
    train_fn: TrainFn | None = None,
) -> RetrainResult:
    """Train trial ``number``'s architecture again with its recipe (the training section of
    its ``data.yaml``): on the search's data (default), on all training images
    (``full_data``: the subset removed) or on the data config ``data``; ``epochs`` overrides
    the recipe's. ``train_fn`` replaces :func:`blocknas.train.train_run` (same signature)."""
    run = _resolve(run)
    if run.run_dir is None:
        raise BlocknasError("the run has no folder to retrain from")
    trial = run.trial(number)
    folder = trial_dir(run.run_dir, number)
    model = folder / "model.yaml"
    if not model.is_file():
        raise BlocknasError(f"{model} is missing (trial {number} is {trial.state})")
    recipe = _read_trial_data(folder / "data.yaml")
    overrides: dict[str, Any] = {"device": device}
    if epochs is not None:
        overrides["epochs"] = epochs
    if data is not None:
        tag = f"data-{Path(str(data)).stem}" if isinstance(data, str | Path) else "data"
        data_cfg: Any = data
    elif full_data:
        data_cfg, tag = full_data_config(folder), "full"
    else:
        data_cfg, tag = folder / "data.yaml", "search"
    n_epochs = epochs if epochs is not None else (recipe.get("train") or {}).get("epochs")
    out = folder / f"retrain-{tag}-e{n_epochs if n_epochs is not None else 'default'}"
    reused = bool(read_run_metrics(out))
    if not reused:
        _train(model, data_cfg, out, overrides, progress=progress, train_fn=train_fn)
    metrics = read_run_metrics(out)
    if not metrics:
        raise BlocknasError(f"{out}: training finished without final metrics")
    split = "test" if "test_accuracy" in metrics else "val"
    return RetrainResult(
        trial=number, run_dir=out, search_accuracy=trial.get("accuracy"),
        accuracy=metrics[f"{split}_accuracy"], split=split, metrics=metrics, reused=reused,
    )  # fmt: skip


def _train(
    model: Path,
    data_cfg: Any,
    out: Path,
    overrides: dict[str, Any],
    *,
    progress: bool,
    train_fn: TrainFn | None,
) -> None:
    if (out / "last.pt").is_file():
        from blocknas.train import resume_run

        resume_run(out, progress=progress)
        return
    if train_fn is None:
        from blocknas.train import train_run

        train_fn = train_run
    train_fn(model, data_cfg, out, overrides, progress=progress)


def top_trials(run: RunData, k: int) -> list[TrialRecord]:
    """``k`` front members spread along the front (an ε-net order, so that any ``k`` covers
    the front evenly); when the front is smaller, the next fronts fill up. Members whose
    folder lacks model.yaml or data.yaml cannot be retrained and give way to the next ones."""
    return _choose(run, k)[0]


def _choose(run: RunData, k: int) -> tuple[list[TrialRecord], list[tuple[TrialRecord, str]]]:
    """:func:`top_trials`, and the members passed over on the way with the reason for each."""
    import numpy as np

    from blocknas.search.pareto import epsilon_net_order, non_dominated_sort

    if k < 1:
        raise BlocknasError("--top needs at least 1 trial")
    if run.run_dir is None:
        raise BlocknasError("the run has no folder to retrain from")
    done = run.completed()
    if not done:
        raise BlocknasError("no completed trial to retrain")
    # The fronts of every completed trial, as the report shows them; then members that cannot
    # be retrained are skipped in order, so the K retrained are the best K that can be.
    values = run.values(done)
    ranks = non_dominated_sort(values, run.directions)
    chosen: list[TrialRecord] = []
    skipped: list[tuple[TrialRecord, str]] = []
    for rank in range(int(ranks.max()) + 1):
        members = np.flatnonzero(ranks == rank)
        for i in epsilon_net_order(values[members], run.directions):
            trial = done[members[i]]
            missing = _missing_file(trial_dir(run.run_dir, trial.number))
            if missing is None:
                chosen.append(trial)
            else:
                skipped.append((trial, f"{missing} is missing"))
            if len(chosen) == k:
                return chosen, skipped
    if not chosen:
        raise BlocknasError(
            f"no completed trial can be retrained: {len(skipped)} lack model.yaml or data.yaml "
            f"(e.g. {skipped[0][1]})"
        )
    return chosen, skipped


def _missing_file(folder: Path) -> Path | None:
    for name in ("model.yaml", "data.yaml"):
        if not (folder / name).is_file():
            return folder / name
    return None


def retrain_top(
    run: RunData | str | Path,
    k: int,
    *,
    full_data: bool = False,
    data: Any = None,
    epochs: int | None = None,
    device: str = "auto",
    progress: bool = True,
    train_fn: TrainFn | None = None,
    on_result: Callable[[RetrainResult], None] | None = None,
    on_skip: Callable[[int, str], None] | None = None,
) -> RetrainSummary:
    """Retrain ``k`` front members (:func:`top_trials`) and correlate the search's ranking
    with the full-training one. Writes ``RUN_DIR/retrain.json``. ``on_skip(trial, reason)``
    hears, before any training, of each member passed over because it cannot be retrained."""
    run = _resolve(run)
    chosen, skipped = _choose(run, k)
    for trial, reason in skipped:
        if on_skip is not None:
            on_skip(trial.number, reason)
    results = []
    for trial in chosen:
        result = retrain_trial(run, trial.number, full_data=full_data, data=data, epochs=epochs,
                               device=device, progress=progress, train_fn=train_fn)  # fmt: skip
        results.append(result)
        if on_result is not None:
            on_result(result)
    paired = [r for r in results if r.search_accuracy is not None]
    correlation = rank_correlation(
        [r.search_accuracy for r in paired if r.search_accuracy is not None],
        [r.accuracy for r in paired],
    )
    summary = RetrainSummary(
        tuple(results), correlation, tuple((t.number, reason) for t, reason in skipped)
    )
    if run.run_dir is not None:
        write_json(run.run_dir / "retrain.json", summary.to_dict())
    return summary


def _read_trial_data(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise BlocknasError(f"{path} is missing: the trial's data and training config is unknown")
    return read_yaml_mapping(path, "data config")
