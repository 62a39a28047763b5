"""``blocknas dashboard``: optuna-dashboard on a run's study (pip install 'blocknas[dashboard]')."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from blocknas.cli import app


@app.command("dashboard")
def dashboard_command(
    run_dir: Annotated[Path, typer.Argument(help="Search run folder.")],
    host: Annotated[str, typer.Option(help="Address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8080,
    storage: Annotated[str | None, typer.Option(help="Study storage URL.")] = None,
) -> None:
    """Serve optuna-dashboard on the run's study until interrupted."""
    from blocknas.report import launch_dashboard

    launch_dashboard(
        run_dir, storage=storage, host=host, port=port,
        announce=lambda url: typer.echo(f"optuna-dashboard at {url} (Ctrl+C stops)"),
    )  # fmt: skip
