"""``blocknas dashboard``: optuna-dashboard on a run's study (an optional dependency)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from blocknas.errors import BlocknasError
from blocknas.report.run import study_storage

__all__ = ["launch_dashboard"]


def launch_dashboard(
    run_dir: str | Path,
    *,
    storage: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    announce: Callable[[str], None] | None = None,
) -> str:
    """Serve optuna-dashboard on the run's study storage until interrupted; ``announce`` gets
    the dashboard's URL just before serving starts, which is also returned at the end.
    Raises :class:`BlocknasError` when optuna-dashboard is not installed."""
    url = study_storage(run_dir, storage)
    try:
        import optuna_dashboard
    except ImportError:
        raise BlocknasError(
            "optuna-dashboard is not installed: pip install 'blocknas[dashboard]'"
        ) from None
    from blocknas.search.storage import open_storage

    # Checked as every reading command checks it: no database is created or written here.
    open_storage(url, must_exist=True).engine.dispose()
    address = f"http://{host}:{port}/"
    if announce is not None:
        announce(address)
    optuna_dashboard.run_server(url, host=host, port=port)
    return address
