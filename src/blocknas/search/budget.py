"""Budget planning: how many trials fit a deadline with the workers at hand.

The reference scenario plans by hand: deadline ÷ time per trial × parallel sessions. Here a
short pilot trains a typical candidate (the middle value of every parameter) for one epoch and
measures its time and peak memory; the expected epochs of a trial follow from the early-stopping
schedule (a trial reaching rung i has survived i halvings).
"""

from __future__ import annotations

import math
import os
import resource
import sys
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from blocknas.errors import ConfigError
from blocknas.search.early_stopping import EarlyStoppingConfig

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial

    from blocknas.search.config import SearchConfig

__all__ = ["BudgetPlan", "Pilot", "expected_epochs", "plan_budget", "run_pilot"]


def expected_epochs(stopping: EarlyStoppingConfig) -> float:
    """Mean training compute per trial, in epochs on the whole training set, under successive
    halving: the share 1/η^i of trials that passed i decision rungs trains the epochs up to the
    next rung, each epoch weighted by its data fraction (1 unless ``data_fraction`` is on).
    ``max_epochs`` when disabled."""
    if not stopping.enabled:
        return float(stopping.max_epochs)
    rungs = stopping.decision_rungs(0)
    return sum(
        stopping.data_fraction_at(epoch) * stopping.eta ** -sum(r < epoch for r in rungs)
        for epoch in range(1, stopping.max_epochs + 1)
    )


@dataclass(frozen=True)
class Pilot:
    """What one typical trial costs: fixed seconds (sample, build, profile, evaluate), seconds
    per training epoch, peak resident memory of the process (MiB) and of the device (MiB)."""

    overhead_s: float
    epoch_s: float
    peak_rss_mib: float
    peak_device_mib: float | None = None


@dataclass(frozen=True)
class BudgetPlan:
    """How many trials the deadline holds, and why that may be too few."""

    pilot: Pilot
    epochs_per_trial: float
    trial_s: float
    seconds: float
    n_jobs: int
    trials_fit: int
    warnings: tuple[str, ...] = ()

    def describe(self) -> str:
        p = self.pilot
        mem = f"{p.peak_rss_mib:,.0f} MiB" + (
            f" (device {p.peak_device_mib:,.0f} MiB)" if p.peak_device_mib is not None else ""
        )
        return (
            f"budget: a typical trial takes ~{self.trial_s:.1f} s ({self.epochs_per_trial:.1f} "
            f"epochs × {p.epoch_s:.2f} s + {p.overhead_s:.1f} s) and ~{mem} per worker; "
            f"{self.seconds:.0f} s × {self.n_jobs} worker(s) fit ~{self.trials_fit} trials"
        )


def _middle_sampler() -> optuna.samplers.BaseSampler:
    """A sampler that proposes the middle of every distribution: a typical candidate."""
    import optuna

    class _Middle(optuna.samplers.RandomSampler):
        def sample_independent(
            self, study: optuna.Study, trial: FrozenTrial, param_name: str,
            param_distribution: BaseDistribution,
        ) -> Any:  # fmt: skip
            return _middle(param_distribution)

    return _Middle(seed=0)


def _middle(distribution: BaseDistribution) -> Any:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if isinstance(distribution, CategoricalDistribution):
        return distribution.choices[(len(distribution.choices) - 1) // 2]
    if isinstance(distribution, IntDistribution):
        if distribution.log:
            mid = math.sqrt(distribution.low * distribution.high)
        else:
            mid = (distribution.low + distribution.high) / 2
        step = distribution.step
        return int(distribution.low + step * round((mid - distribution.low) / step))
    assert isinstance(distribution, FloatDistribution)
    if distribution.log:
        return math.sqrt(distribution.low * distribution.high)
    mid = (distribution.low + distribution.high) / 2
    if distribution.step is not None:
        mid = distribution.low + distribution.step * round(
            (mid - distribution.low) / distribution.step
        )
    return mid


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)  # bytes on macOS, KiB else


def run_pilot(cfg: SearchConfig, *, device: str | None = None, tries: int = 4) -> Pilot:
    """Train one typical candidate for two epochs (the middle of every parameter; if that
    cannot train, random candidates) and measure time and memory. Writes nothing.

    The second epoch gives the time per epoch: the first also pays the process's one-time
    start-up (allocator, kernel selection), which later trials do not.
    """
    import optuna

    from blocknas.search._trial import TrialFailed, TrialRunner
    from blocknas.search.objectives import Constraints

    stopping = replace(cfg.early_stopping, enabled=False)
    pilot_cfg = cfg.model_copy(update={"constraints": Constraints(), "early_stopping": stopping})
    overrides: dict[str, Any] = {"epochs": 2, "warmup_epochs": None}
    reason = ""
    for attempt in range(tries):
        sampler = _middle_sampler() if attempt == 0 else optuna.samplers.RandomSampler(seed=attempt)
        study = optuna.create_study(directions=cfg.directions, sampler=sampler)
        runner = TrialRunner(pilot_cfg, device=device, train_overrides=overrides)
        trial = study.ask()
        start = time.perf_counter()
        try:
            runner(trial)
        except (TrialFailed, optuna.TrialPruned) as exc:
            reason = str(exc)
            continue
        total = time.perf_counter() - start
        history = runner.last_result.history if runner.last_result is not None else ()
        trained = sum(m.seconds for m in history)
        return Pilot(
            overhead_s=max(0.0, total - trained),
            epoch_s=history[-1].seconds if history else 0.0,
            peak_rss_mib=_peak_rss_mib(),
            peak_device_mib=_peak_device_mib(),
        )
    raise ConfigError(
        f"budget pilot: none of {tries} candidates could be trained (last: {reason}); "
        "check the search space and training keys"
    )


def _peak_device_mib() -> float | None:
    import torch

    if not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return torch.cuda.max_memory_allocated() / 2**20


def _available_mib() -> float | None:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (ValueError, OSError, AttributeError):
        return None


def plan_budget(
    cfg: SearchConfig,
    pilot: Pilot,
    *,
    seconds: float,
    n_jobs: int,
    n_trials: int | None = None,
) -> BudgetPlan:
    """Trials that fit ``seconds`` with ``n_jobs`` workers, and warnings when they are too few
    for the sampler or the workers do not fit in memory."""
    epochs = expected_epochs(cfg.early_stopping) if cfg.trains else 0.0
    trial_s = pilot.overhead_s + epochs * pilot.epoch_s
    fit = int(seconds / trial_s * n_jobs) if trial_s > 0 else sys.maxsize
    notes: list[str] = []
    startup = cfg.sampler.startup_trials
    sampler = cfg.sampler.name
    if startup and fit < startup:
        what = "population_size" if sampler == "nsga2" else "n_startup_trials"
        notes.append(
            f"only ~{fit} trials fit, fewer than the {startup} that {sampler} proposes before "
            f"it models the results: the search will be close to random (raise --timeout, add "
            f"workers, or lower sampler.{what})"
        )
    elif fit < 10:
        notes.append(f"only ~{fit} trials fit: too few for a useful Pareto front")
    if n_trials is not None and fit < n_trials:
        notes.append(f"the deadline will stop the search after ~{fit} of its {n_trials} trials")
    available = _available_mib()
    if available is not None and n_jobs * pilot.peak_rss_mib > available:
        notes.append(
            f"{n_jobs} workers × ~{pilot.peak_rss_mib:,.0f} MiB exceed the {available:,.0f} MiB "
            "of free memory; use fewer --n-jobs"
        )
    return BudgetPlan(pilot, epochs, trial_s, seconds, n_jobs, fit, tuple(notes))
