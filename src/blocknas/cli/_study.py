"""``blocknas study``: create a search study in a shared database, and show where it stands."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from blocknas.cli import app
from blocknas.cli._worker import STORAGE_HELP
from blocknas.errors import BlocknasError

study_app = typer.Typer(
    name="study",
    help="Create a search study in a shared database, or show its progress.",
    no_args_is_help=True,
)
app.add_typer(study_app)


@study_app.command("create")
def create_command(
    config: Annotated[Path, typer.Argument(help="Search config YAML.")],
    storage: Annotated[str, typer.Option(envvar="BLOCKNAS_STORAGE", help=STORAGE_HELP)],
    study: Annotated[
        str | None, typer.Option(help="Study name (default: the config's name).")
    ] = None,
    n_trials: Annotated[
        int | None,
        typer.Option(help="Finished trials to run in all (default: the config's n_trials)."),
    ] = None,
    deadline: Annotated[
        str | None,
        typer.Option(help="No trial starts after this: a duration (12h, 90m) or an ISO time."),
    ] = None,
    heartbeat_interval: Annotated[
        int, typer.Option(help="Seconds between a running trial's heartbeats.")
    ] = 10,
    grace_period: Annotated[
        int,
        typer.Option(help="Seconds without heartbeat after which a trial is failed and re-run."),
    ] = 60,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Run folder for the trials' files and early stopping's checkpoints, on a file "
            "system every worker reaches at this path (default: none, the study alone records "
            "the trials, and paused trials cannot be kept: early stopping judges in its "
            "stopping form)."
        ),
    ] = None,
) -> None:
    """Create a study from a search config, with its budget, without running any trial.

    Then start `blocknas worker --storage URL --study NAME` on each machine.
    """
    import optuna

    from blocknas.errors import ConfigError
    from blocknas.search import create_search_study, load_search_config
    from blocknas.search.storage import Heartbeat, mask_url, set_heartbeat, validate_storage_url
    from blocknas.search.study import check_study_name
    from blocknas.search.workers import parse_deadline

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    validate_storage_url(storage)
    if study is not None:
        check_study_name(study)
    if n_trials is not None and n_trials < 1:  # a study no worker could run; nothing stored
        raise ConfigError(f"--n-trials must be >= 1, got {n_trials}")
    heartbeat = Heartbeat(interval=heartbeat_interval, grace_period=grace_period)
    cfg = load_search_config(config)
    when = None if deadline is None else parse_deadline(deadline, now=time.time())
    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BlocknasError(f"--out {out}: cannot create the run folder: {exc}") from None
    created = create_search_study(
        cfg, storage=storage, study_name=study, n_trials=n_trials, deadline=when, run_dir=out
    )
    set_heartbeat(created, heartbeat)
    typer.echo(f"created study {created.study_name!r} in {mask_url(storage)}")
    typer.echo(f"start workers with: blocknas worker --storage URL --study {created.study_name}")


@study_app.command("status")
def status_command(
    storage: Annotated[str, typer.Option(envvar="BLOCKNAS_STORAGE", help=STORAGE_HELP)],
    study: Annotated[str, typer.Option(help="Study name.")],
) -> None:
    """Print a study's trials by state and its budget."""
    from blocknas.search.storage import open_study
    from blocknas.search.workers import describe_progress

    typer.echo(describe_progress(open_study(storage, study)))
