"""Builds a search run folder and study the way the search writes them, without searching.

Models are real (tiny) blocknas configs, so params and MACs are measured; accuracies are drawn
from a seeded generator that rewards size, with noise, so fronts are non-trivial.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import yaml

import blocknas

DIRECTIONS = {"accuracy": "maximize", "f1": "maximize", "params": "minimize",
              "macs": "minimize", "latency_ms": "minimize"}  # fmt: skip


def model_config(width: int, depth: int, *, channels: int = 1, size: int = 8) -> dict[str, Any]:
    rows: list[list[Any]] = [[1, "Conv", {"out": width, "kernel": 3}]]
    rows += [[depth, "Conv", {"out": width * 2, "kernel": 3, "stride": 1}]] if depth else []
    rows += [[1, "GlobalAvgPool", {}], [1, "Flatten", {}], [1, "Linear", {"out": 10}]]
    return {"input_channel": channels, "input_size": size, "num_classes": 10, "backbone": rows}


def make_run(
    root: Path,
    *,
    objectives: Sequence[str] = ("accuracy", "params"),
    n_trials: int = 14,
    seed: int = 0,
    pruned: int = 2,
    failed: int = 1,
    infeasible: Sequence[int] = (),
    with_files: bool = True,
    study_name: str = "toy",
) -> Path:
    """A run folder at ``root`` with study.db and trials/NNNN/{model,train,data}.yaml."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    root.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        storage=f"sqlite:///{root / 'study.db'}",
        study_name=study_name,
        directions=[DIRECTIONS[o] for o in objectives],
    )
    study.set_user_attr("blocknas", {
        "version": 1,
        "objectives": [{"name": o, "direction": DIRECTIONS[o]} for o in objectives],
        "search_config": {"name": study_name},
        "run_dir": str(root),
        "budget": {"n_trials": n_trials, "deadline": None},
    })  # fmt: skip
    rng = np.random.default_rng(seed)
    for number in range(n_trials):
        width = int(rng.choice([4, 8, 12, 16, 24, 32]))
        depth = int(rng.integers(0, 3))
        cfg = model_config(width, depth)
        cost = blocknas.profile(blocknas.build_model(cfg), latency=False)
        acc = float(np.clip(0.4 + 0.12 * math.log10(cost.params) + rng.normal(0, 0.03), 0, 1))
        attrs: dict[str, Any] = {
            "model_yaml": yaml.safe_dump(cfg, sort_keys=False),
            "params": cost.params, "macs": cost.macs,
            "latency_ms": 0.02 + cost.macs * 1e-7,  # synthetic: keeps tests free of timing
            "val_accuracy": acc, "val_f1": acc - 0.01, "epochs": 3, "train_seconds": 1.0,
        }  # fmt: skip
        state = optuna.trial.TrialState.COMPLETE
        if number >= n_trials - pruned - failed:
            state = (optuna.trial.TrialState.PRUNED if number < n_trials - failed
                     else optuna.trial.TrialState.FAIL)  # fmt: skip
            if state == optuna.trial.TrialState.FAIL:
                attrs = {"fail_reason": "diverged"}
        constraints = {"max_params": 1.0} if number in infeasible else None
        if constraints:
            attrs["constraints"] = list(constraints.values())
        values = None
        if state == optuna.trial.TrialState.COMPLETE:
            lookup = {"accuracy": acc, "f1": acc - 0.01, "params": cost.params,
                      "macs": cost.macs, "latency_ms": attrs["latency_ms"]}  # fmt: skip
            values = [float(lookup[o]) for o in objectives]
        study.add_trial(optuna.trial.create_trial(
            state=state, values=values, user_attrs=attrs, constraints=constraints,
        ))  # fmt: skip
        if with_files and state != optuna.trial.TrialState.FAIL:
            folder = root / "trials" / f"{number:04d}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "model.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
            # The search machine's device: retraining elsewhere must not inherit it.
            train = {"epochs": 3, "lr": 0.05, "batch_size": 64, "device": "cuda"}
            (folder / "train.yaml").write_text(yaml.safe_dump(train))
            data = {"dataset": "digits", "subset": 0.3, "augment": {"train": "none"},
                    "train": train}  # fmt: skip
            (folder / "data.yaml").write_text(yaml.safe_dump(data))
            (folder / "metrics.json").write_text(json.dumps({"val": {"accuracy": acc}}))
    return root


def tiny_zoo(root: Path) -> Path:
    """A baseline zoo of two small models (real profiling stays fast)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, width in (("small", 8), ("wide", 48)):
        cfg = model_config(width, 1, channels=3, size=32)
        cfg["name"] = name
        (root / f"{name}.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return root
