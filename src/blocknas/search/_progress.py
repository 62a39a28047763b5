"""What a running search prints: one line per finished trial and an overall bar that shows the
size of the Pareto front, its hypervolume and the trials stopped at each rung."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from blocknas.search.objectives import front_hypervolume
from blocknas.search.storage import CONTINUES_ATTR, continued, is_continuation

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial
    from rich.console import Console

    from blocknas.search.config import SearchConfig


def _fmt(name: str, value: float) -> str:
    if name in ("accuracy", "f1"):
        return f"{value:.4f}"
    if name == "latency_ms":
        return f"{value:.3f}"
    return f"{value:,.0f}"


def _seconds(t: FrozenTrial) -> float | None:
    if t.datetime_start is None or t.datetime_complete is None:
        return None
    return (t.datetime_complete - t.datetime_start).total_seconds()


def trial_line(t: FrozenTrial, cfg: SearchConfig, *, rerun_as: int | None = None) -> str:
    """``trial   7  COMPLETE  accuracy 0.9861  params 5,234  12.4 s``.

    ``rerun_as``: the trial that runs a lost trial's parameters again, if any
    (:func:`blocknas.search.storage.reruns`).
    """
    from optuna.trial import TrialState

    names = [o.name for o in cfg.objectives]
    state = t.state.name
    detail = ""
    if t.state is TrialState.COMPLETE and t.values is not None:
        detail = "  ".join(f"{n} {_fmt(n, v)}" for n, v in zip(names, t.values, strict=True))
        violation = t.user_attrs.get("constraint_violation")
        if violation:
            state, detail = "COMPLETE", f"not trained: {violation}"
        elif t.user_attrs.get("test_accuracy") is not None:
            detail += f"  (test acc {t.user_attrs['test_accuracy']:.4f})"
    elif t.state is TrialState.PRUNED:
        rung = t.user_attrs.get("stopped_at_rung")
        paused = t.user_attrs.get("paused_at_rung")
        state = (
            f"PRUNED@e{rung}" if rung is not None
            else f"PAUSED@e{paused}" if paused is not None
            else "PRUNED"
        )  # fmt: skip
        values = t.user_attrs.get("stopped_rung_values")
        if values:
            detail = "  ".join(f"{n} {_fmt(n, v)}" for n, v in zip(names, values, strict=False))
    elif t.state is TrialState.FAIL:
        reason = t.user_attrs.get("fail_reason")
        if reason is None:  # a trial fails without a reason only when its worker is gone
            again = f"; re-run as trial {rerun_as}" if rerun_as is not None else ""
            # It ended when it was found lost, so its duration says nothing: left out.
            return f"trial {t.number:4d}  {state:<10} lost: its worker stopped{again}"
        detail = str(reason)
    continues = t.user_attrs.get(CONTINUES_ATTR)
    if continues is not None:
        detail += f"  (continues trial {continues})"
    seconds = _seconds(t)
    took = f"  {seconds:.1f} s" if seconds is not None else ""
    return f"trial {t.number:4d}  {state:<10} {detail}{took}"


def front_summary(trials: Sequence[FrozenTrial], cfg: SearchConfig) -> tuple[int, float]:
    """(size of the Pareto front, its normalised hypervolume) over feasible COMPLETE trials."""
    from optuna.trial import TrialState

    from blocknas.search.study import feasible

    done = [t for t in trials if t.state is TrialState.COMPLETE and t.values and feasible(t)]
    mask, hv = front_hypervolume([t.values for t in done], cfg.objectives)
    return int(mask.sum()), hv


class SearchProgress:
    """Prints trial lines and keeps the overall bar; call :meth:`update` with the study's trials
    whenever some may have finished (from any worker)."""

    def __init__(
        self, cfg: SearchConfig, *, n_trials: int | None, enabled: bool = True,
        console: Console | None = None,
    ) -> None:  # fmt: skip
        self.cfg = cfg
        self.n_trials = n_trials
        self.enabled = enabled
        self.seen: set[int] = set()
        self.front = 0
        self.hypervolume = 0.0
        self.start = time.time()
        self._console = console
        self._progress: Any = None
        self._task: Any = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(highlight=False)
        return self._console

    def __enter__(self) -> SearchProgress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), console=self.console, transient=True,
            )  # fmt: skip
            self._progress.start()
            self._task = self._progress.add_task("search", total=self.n_trials)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def print(self, text: str) -> None:
        if self.enabled:
            self.console.print(text, markup=False, highlight=False)

    def update(self, trials: Sequence[FrozenTrial]) -> None:
        from optuna.trial import TrialState

        from blocknas.search.early_stopping import format_rung_summary, rung_summary
        from blocknas.search.storage import reruns

        finished = [t for t in trials if t.state.is_finished() and t.number not in self.seen]
        again = reruns(trials) if finished else {}
        for t in sorted(finished, key=lambda t: t.number):
            self.seen.add(t.number)
            self.print(trial_line(t, self.cfg, rerun_as=again.get(t.number)))
        if not finished:
            return
        self.front, self.hypervolume = front_summary(trials, self.cfg)
        if self._progress is not None:
            counted = sum(  # candidates, as the budget counts them
                t.state in (TrialState.COMPLETE, TrialState.PRUNED) and not is_continuation(t)
                for t in trials
            )
            stops = format_rung_summary(rung_summary(trials))
            text = f"front {self.front} · HV {self.hypervolume:.4f}" + (
                f" · {stops}" if stops else ""
            )
            self._progress.update(self._task, completed=counted, description=text)

    def summary(self, trials: Sequence[FrozenTrial]) -> str:
        """One line: trials by state, front size, hypervolume, stops per rung, wall time."""
        from optuna.trial import TrialState

        from blocknas.search.early_stopping import format_rung_summary, rung_summary

        counts = {s: sum(t.state is s for t in trials) for s in TrialState}
        taken = continued(trials)
        resumed = sum(t.state is TrialState.PRUNED and t.number in taken for t in trials)
        front, hv = front_summary(trials, self.cfg)
        parts = [
            f"{counts[TrialState.COMPLETE]} complete",
            f"{counts[TrialState.PRUNED] - resumed} stopped early",
            *([f"{resumed} paused and continued"] if resumed else []),
            f"{counts[TrialState.FAIL]} failed",
            f"Pareto front {front}",
            f"hypervolume {hv:.4f}",
        ]
        stops = format_rung_summary(rung_summary(trials))
        if stops:
            parts.append(stops)
        parts.append(f"{time.time() - self.start:.0f} s")
        return " | ".join(parts)
