"""``blocknas search``: run a multi-objective search from a search config."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from blocknas.cli import app
from blocknas.errors import BlocknasError


@app.command("search")
def search_command(
    config: Annotated[Path, typer.Argument(help="Search config YAML (see configs/search/).")],
    out: Annotated[
        str | None, typer.Option(help="Run folder (default: runs/<name>-<time>).")
    ] = None,
    n_trials: Annotated[
        int | None, typer.Option(help="Finished trials in all (default: the config's).")
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(help="Seconds after which no trial starts; a pilot plans the budget."),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            envvar="BLOCKNAS_STORAGE",
            help="Optuna storage URL (default: RUN_DIR/study.db). Read from $BLOCKNAS_STORAGE "
            "when not given, which keeps a password out of the process list.",
        ),
    ] = None,
    study: Annotated[
        str | None, typer.Option(help="Study name (default: the config's name).")
    ] = None,
    n_jobs: Annotated[
        int | None, typer.Option(help="Worker processes on this machine (default: the config's).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the study in --out (or the latest run).")
    ] = False,
    warm_start: Annotated[
        str | None,
        typer.Option(help="Run folder (or study name) whose Pareto front is tried first."),
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="Training device, e.g. cpu or cuda:0 (default: auto).")
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(help="CPU threads per worker (default: the cores divided among workers)."),
    ] = None,
    report: Annotated[
        bool, typer.Option(help="Write the HTML report and plots at the end.")
    ] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    allow_hook: Annotated[
        bool,
        typer.Option(help="Run the Python hook the config names (it runs in every trial)."),
    ] = False,
) -> None:
    """Search architectures, training and augmentation for small, accurate models."""
    from blocknas.search import load_search_config, run_search

    cfg = load_search_config(config)
    result = run_search(
        cfg, out_dir=out, storage=storage, study_name=study, n_trials=n_trials,
        timeout=timeout, n_jobs=n_jobs, resume=resume, warm_start=warm_start,
        progress=not quiet, device=device, report=report, threads=threads, allow_hook=allow_hook,
    )  # fmt: skip
    where = result.report if result.report is not None else result.run_dir / "pareto.csv"
    typer.echo(
        f"done: {len(result.pareto)} Pareto-front trial(s), hypervolume "
        f"{result.hypervolume:.4f}, {result.seconds:.0f} s; report: {where}"
    )
    if result.report_error is not None:
        raise BlocknasError(
            f"no report written ({result.report_error}); the results are in "
            f"{result.run_dir / 'pareto.csv'}; try again with: blocknas report {result.run_dir}"
        )
