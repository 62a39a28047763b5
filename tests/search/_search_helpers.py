"""Shared by the search tests: the shipped search configs and a tiny valid config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "configs" / "search").glob("*.yaml"))


def tiny(**changes: Any) -> dict[str, Any]:
    """A small valid search config as a mapping; ``changes`` replace top-level keys."""
    cfg: dict[str, Any] = {
        "name": "tiny",
        "data": {"dataset": "digits", "augment": {"train": "none", "flip": False}},
        "train": {"epochs": 2, "optimizer": "adamw", "lr": 0.01},
        "objectives": ["accuracy", "params"],
        "n_trials": 3,
        "space": {
            "stem": {"Conv": {"out": {"choices": [8, 16]}, "kernel": 3}},
            "stages": {
                "count": 1,
                "repeat": {"int": [0, 1]},
                "out": {"choices": [8, 16]},
                "nc": {"Conv": {"kernel": {"choices": [1, 3]}}, "DWConv": {}},
                "rc": {"MaxPool": {}},
            },
        },
    }
    cfg.update(changes)
    return cfg
