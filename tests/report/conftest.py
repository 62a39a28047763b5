"""Run folders built with optuna directly (see factory.py), so report tests need no search."""

from __future__ import annotations

from pathlib import Path

import pytest

from .factory import make_run, tiny_zoo


@pytest.fixture(scope="session")
def run_2d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """accuracy × params, 14 trials (2 pruned, 1 failed)."""
    return make_run(tmp_path_factory.mktemp("run2d") / "run")


@pytest.fixture(scope="session")
def run_3d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """accuracy × params × macs, 16 trials, trial 3 violates a constraint."""
    return make_run(
        tmp_path_factory.mktemp("run3d") / "run",
        objectives=("accuracy", "params", "macs"),
        n_trials=16,
        seed=1,
        infeasible=(3,),
    )


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_zoo(tmp_path_factory.mktemp("zoo"))
