"""Shared by the CLI tests: one torch thread, and the run-folder builder of tests/report."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model on a shared machine: threads only add contention
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def factory() -> ModuleType:
    """tests/report/factory.py (loaded by path: tests/ is no package)."""
    path = Path(__file__).resolve().parents[1] / "report" / "factory.py"
    spec = importlib.util.spec_from_file_location("report_run_factory", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _pinned_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Training commands take one thread per idle core unless OMP_NUM_THREADS pins them."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
