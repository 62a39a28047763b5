"""``blocknas report``: pareto.png, report.html, pareto.csv and pareto.json of a search run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from blocknas.cli import app
from blocknas.cli._threads_option import TrainingThreads, use_training_threads

if TYPE_CHECKING:
    from blocknas.report import Pick


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}×"


def print_picks(picks: list[Pick]) -> None:
    """A table of picks with their costs and ratios to the baseline."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="picks")
    for col in ("pick", "trial", "metric", "params", "MACs", "latency ms", "× params",
                "× MACs", "× latency", "vs"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("pick", "vs") else "right")
    for p in picks:
        t, r = p.trial, p.ratios
        table.add_row(
            p.kind, str(t.number), f"{p.metric} {p.accuracy:.4f}" if p.accuracy is not None else "–",
            f"{t.params:,}" if t.params is not None else "–",
            f"{t.macs:,}" if t.macs is not None else "–",
            f"{t.latency_ms:.3f}" if t.latency_ms is not None else "–",
            _ratio(r.params if r else None), _ratio(r.macs if r else None),
            _ratio(r.latency_ms if r else None), r.baseline if r else "–",
        )  # fmt: skip
    Console(width=160).print(table)


@app.command("report")
def report_command(
    run_dir: Annotated[Path, typer.Argument(help="Search run folder.")],
    baselines: Annotated[
        bool,
        typer.Option(
            "--baselines",
            help="Train the zoo baselines with the search's recipe (cached in "
            "RUN_DIR/baselines); without it they show their size only, with the accuracy of "
            "any trained before.",
        ),
    ] = False,
    baseline: Annotated[
        list[str] | None,
        typer.Option("--baseline", help="Use only this zoo model (repeatable)."),
    ] = None,
    of: Annotated[
        str | None, typer.Option("--of", help="Baseline for ratios (default mobilenetv2).")
    ] = None,
    tolerance: Annotated[
        float, typer.Option(help="Accuracy points below the baseline a smaller model may lose.")
    ] = 1.0,
    max_params: Annotated[
        int | None, typer.Option(help="Also pick the most accurate model within this size.")
    ] = None,
    zoo: Annotated[Path | None, typer.Option(help="Folder of baseline model YAMLs.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write here instead of RUN_DIR.")] = None,
    storage: Annotated[str | None, typer.Option(help="Study storage URL.")] = None,
    study: Annotated[str | None, typer.Option(help="Study name.")] = None,
    latency: Annotated[bool, typer.Option(help="Measure the baselines' CPU latency.")] = True,
    threads: TrainingThreads = None,
) -> None:
    """Plot the trade-off, list the Pareto front and answer the classic picks."""
    from blocknas.report import write_report

    if baselines:
        use_training_threads(threads)

    files = write_report(
        run_dir, storage=storage, study_name=study, train_baselines=baselines, zoo=zoo,
        baseline_names=baseline, reference=of, tolerance_points=tolerance,
        max_params=max_params, out_dir=out, latency=latency, progress=baselines,
    )  # fmt: skip
    if files.picks:
        print_picks(list(files.picks))
    for note in files.notes:
        typer.echo(f"note: {note}")
    for path in (files.html, files.png, files.csv, files.json):
        typer.echo(f"wrote {path}")
