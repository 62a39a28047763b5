"""``blocknas retrain``: train a chosen architecture at full fidelity; with --top K, K front
members and the rank correlation between search-time and full-training accuracy."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from blocknas.cli import app
from blocknas.cli._threads_option import TrainingThreads, use_training_threads
from blocknas.errors import BlocknasError

if TYPE_CHECKING:
    from blocknas.report import RetrainResult


def _line(r: RetrainResult) -> str:
    search = "–" if r.search_accuracy is None else f"{r.search_accuracy:.4f}"
    again = " (reused)" if r.reused else ""
    return (f"trial {r.trial}: search accuracy {search}, full training {r.split} accuracy "
            f"{r.accuracy:.4f}{again}  [{r.run_dir}]")  # fmt: skip


def _fmt(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.3f}"


@app.command("retrain")
def retrain_command(
    run_dir: Annotated[Path, typer.Argument(help="Search run folder.")],
    trial: Annotated[int | None, typer.Option(help="Trial number to retrain.")] = None,
    top: Annotated[
        int | None, typer.Option(help="Retrain K front members and rank-correlate.")
    ] = None,
    full_data: Annotated[
        bool, typer.Option("--full-data", help="Train on the search's full data config.")
    ] = False,
    data: Annotated[Path | None, typer.Option(help="Train on this data config instead.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Override the recipe's epochs.")] = None,
    progress: Annotated[bool, typer.Option(help="Show training progress.")] = True,
    threads: TrainingThreads = None,
) -> None:
    """Retrain --trial N, or --top K front members, at full fidelity."""
    from blocknas.report import retrain_top, retrain_trial

    if (trial is None) == (top is None):
        raise BlocknasError("give exactly one of --trial N or --top K")
    use_training_threads(threads)
    if trial is not None:
        result = retrain_trial(run_dir, trial, full_data=full_data, data=data, epochs=epochs,
                               progress=progress)  # fmt: skip
        typer.echo(_line(result))
        return
    assert top is not None
    summary = retrain_top(
        run_dir, top, full_data=full_data, data=data, epochs=epochs, progress=progress,
        on_result=lambda r: typer.echo(_line(r)),
        on_skip=lambda n, why: typer.echo(f"note: skipped trial {n}: {why}"),
    )  # fmt: skip
    if len(summary.results) < top:
        typer.echo(f"note: only {len(summary.results)} completed trial(s) can be retrained, "
                   f"not {top}")  # fmt: skip
    c = summary.correlation
    typer.echo(
        f"rank correlation over {c.n} models (search vs full training): "
        f"Kendall τ = {_fmt(c.kendall_tau)} (p = {_fmt(c.kendall_p)}), "
        f"Spearman ρ = {_fmt(c.spearman)} (p = {_fmt(c.spearman_p)})"
    )
