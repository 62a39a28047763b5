"""``pareto.png``: accuracy against size for every trial, the front, the baselines, and the
hypervolume over time (matplotlib, no pyplot global state)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from blocknas.report.baselines import Baseline
from blocknas.report.front import front_2d, hypervolume_history, hypervolume_x
from blocknas.report.run import RunData, TrialRecord

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["AXIS_LABELS", "plot_pareto", "tradeoff_axes"]

AXIS_LABELS = {
    "params": "parameters",
    "macs": "MACs",
    "latency_ms": "CPU latency, batch 1 (ms)",
    "accuracy": "validation accuracy",
    "f1": "validation macro-F1",
    "val_accuracy": "validation accuracy",
}
_CMAP = "viridis"  # dark to light: later trials are lighter


def tradeoff_axes(run: RunData) -> list[str]:
    """The size axes to plot accuracy against: parameters always, MACs and latency when they
    are objectives of the search."""
    names = run.objective_names
    return ["params"] + [x for x in ("macs", "latency_ms") if x in names]


def plot_pareto(
    run: RunData, baselines: Sequence[Baseline] = (), path: str | Path | None = None
) -> Figure:
    """One panel per trade-off axis plus the hypervolume over time; saved to ``path`` (PNG)
    when given. Returns the figure."""
    from matplotlib.figure import Figure

    axes_x = tradeoff_axes(run)
    n = len(axes_x) + 1
    cols = 2 if n == 4 else n
    rows = (n + cols - 1) // cols
    fig = Figure(figsize=(6.0 * cols, 4.6 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, x in zip(axes, axes_x, strict=False):
        _tradeoff(fig, ax, run, x, baselines)
    _hypervolume(axes[len(axes_x)], run)
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(f"{run.study_name}: {len(run.completed())} completed trials")
    if path is not None:
        fig.savefig(path, dpi=110, format="png")  # PNG whatever the name (a temporary one)
    return fig


def _xy(trials: Sequence[TrialRecord], x: str, y: str) -> tuple[list[float], list[float]]:
    """x and y values of the trials that have both."""
    pairs = [(a, b) for t in trials if (a := t.get(x)) is not None and (b := t.get(y)) is not None]
    return [a for a, _ in pairs], [b for _, b in pairs]


def _tradeoff(fig: Figure, ax: Axes, run: RunData, x: str, baselines: Sequence[Baseline]) -> None:
    y = run.quality
    done = [t for t in run.completed() if t.get(x) is not None and t.get(y) is not None]
    last = max((t.number for t in run.trials), default=1)
    if done:
        xs, ys = _xy(done, x, y)
        points = ax.scatter(
            xs, ys, c=[t.number for t in done],
            cmap=_CMAP, vmin=0, vmax=max(last, 1), s=22, alpha=0.85, zorder=2,
        )  # fmt: skip
        from matplotlib.ticker import MaxNLocator

        bar = fig.colorbar(points, ax=ax, label="trial number")
        bar.locator = MaxNLocator(integer=True)
        bar.update_ticks()
    _others(ax, run, x, y)
    front = front_2d(done, y, x)
    if front:
        xs, ys = _xy(front, x, y)
        ax.step(xs, ys, where="post", color="crimson", lw=1.6, zorder=3, label="Pareto front",
                marker="o", mfc="none", ms=7)  # fmt: skip
    full = {t.number for t in run.front()}
    on_step = {t.number for t in front}
    ring = [t for t in done if t.number in full and t.number not in on_step]
    if ring:  # front members over all objectives that this projection hides
        ax.scatter(*_xy(ring, x, y), s=60, facecolors="none",
                   edgecolors="crimson", lw=1.0, zorder=3, label="front (all objectives)")  # fmt: skip
    _baselines(ax, baselines, x, y)
    ax.set_xscale("log")
    low, high = ax.get_xlim()
    if low > 0 and high / low >= 10:  # whole decades are labelled: minor labels would collide
        from matplotlib.ticker import NullFormatter

        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(AXIS_LABELS.get(x, x))
    ax.set_ylabel(AXIS_LABELS.get(y, y))
    ax.grid(True, which="both", alpha=0.25)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=8)
    values = [v for t in done if (v := t.get(y)) is not None]
    if values and max(values) <= 1.0:  # a fraction: the axis need not pass 100 %
        ax.set_ylim(top=min(ax.get_ylim()[1], 1.0 + 0.02 * (1.0 - min(values))))


def _others(ax: Axes, run: RunData, x: str, y: str) -> None:
    """Trials off the front's footing: stopped early (accuracy at the stop) and infeasible."""
    stopped = [t for t in run.stopped() if t.get(x) is not None and t.get(y) is not None]
    if stopped:
        last = max((t.number for t in run.trials), default=1)
        ax.scatter(*_xy(stopped, x, y), c=[t.number for t in stopped],
                   cmap=_CMAP, vmin=0, vmax=max(last, 1), s=14, marker="v", alpha=0.45,
                   zorder=1, label="stopped early")  # fmt: skip
    bad = run.infeasible()
    if bad:
        ax.scatter(*_xy(bad, x, y), marker="x", c="grey",
                   s=18, zorder=1, label="constraint violated")  # fmt: skip


def _baselines(ax: Axes, baselines: Sequence[Baseline], x: str, y: str) -> None:
    for b in baselines:
        bx, by = b.get(x), b.get(y)
        if bx is None:
            continue
        if by is not None:
            ax.scatter([bx], [by], marker="D", s=55, c="black", zorder=4)
            ax.annotate(b.name, (bx, by), textcoords="offset points", xytext=(6, 4), fontsize=8)
        else:  # profiled but not trained: its size is known, its accuracy is not
            ax.axvline(bx, color="black", ls=":", lw=1.0, zorder=1)
            ax.annotate(f"{b.name} (not trained)", (bx, 0.98), xycoords=("data", "axes fraction"),
                        rotation=90, fontsize=7, ha="right", va="top")  # fmt: skip


def _hypervolume(ax: Axes, run: RunData) -> None:
    history = hypervolume_history(run)
    xs, label = hypervolume_x(history)
    if history:
        hvs = [h.hypervolume for h in history]
        ax.step(xs, hvs, where="post", color="teal")
        ax.plot(xs, hvs, ".", color="teal", ms=4)
    ax.set_xlabel(label)
    ax.set_ylabel("normalised hypervolume")
    ax.set_title("hypervolume of the front so far", fontsize=10)
    ax.grid(True, alpha=0.25)
