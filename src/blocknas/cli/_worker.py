"""``blocknas worker``: join a search stored in a shared database and run its trials."""

from __future__ import annotations

from typing import Annotated

import typer

from blocknas.cli import app

STORAGE_HELP = (
    "Study storage: postgresql:// or mysql://USER:PASSWORD@HOST:PORT/DB, or sqlite:///PATH. Read from "
    "$BLOCKNAS_STORAGE when not given, which keeps the password out of the process list."
)


@app.command("worker")
def worker_command(
    storage: Annotated[str, typer.Option(envvar="BLOCKNAS_STORAGE", help=STORAGE_HELP)],
    study: Annotated[str, typer.Option(help="Name of the study to join.")],
    device: Annotated[
        str | None,
        typer.Option(help="Device for this worker's trials, e.g. cuda:1 (default: the config's)."),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress display per trial.")] = False,
    allow_hook: Annotated[
        bool,
        typer.Option(help="Run the Python hook named by the stored search config (trust the DB)."),
    ] = False,
) -> None:
    """Run trials of STUDY until the budget stored with it is met, then exit.

    Start one per machine or device. A killed worker's trial is re-run by another one.
    """
    from blocknas.search import run_worker
    from blocknas.search.storage import mask_url, validate_storage_url

    validate_storage_url(storage)  # fail fast, before anything slow is imported or started
    _log_to_stderr()
    ran = run_worker(storage, study, device=device, progress=progress, allow_hook=allow_hook)
    typer.echo(f"worker done: {ran} trial(s) run for study {study!r} in {mask_url(storage)}")


def _log_to_stderr() -> None:
    """Worker progress as timestamped lines on stderr; Optuna's own chatter kept to warnings."""
    import logging

    import optuna

    from blocknas.search.storage import MaskingFilter

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    handler = logging.StreamHandler()
    handler.addFilter(MaskingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("blocknas")
    if not logger.handlers:
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
