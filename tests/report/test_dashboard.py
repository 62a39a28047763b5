"""optuna-dashboard is optional: a clear error without it, the run's storage with it."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from blocknas.errors import BlocknasError
from blocknas.report import launch_dashboard


def test_missing_dashboard_is_one_clear_error(
    run_2d: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)  # import fails
    with pytest.raises(BlocknasError, match=r"pip install 'blocknas\[dashboard\]'"):
        launch_dashboard(run_2d)


def test_dashboard_serves_the_run_storage(run_2d: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []
    fake = types.ModuleType("optuna_dashboard")
    fake.run_server = lambda storage, host, port: calls.append((storage, host, port))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "optuna_dashboard", fake)
    seen: list[str] = []
    url = launch_dashboard(run_2d, port=9123, announce=seen.append)
    assert calls == [(f"sqlite:///{(run_2d / 'study.db').resolve()}", "127.0.0.1", 9123)]
    assert seen == [url] == ["http://127.0.0.1:9123/"]
