"""Baselines: sized for the search, profiled, cached, trained on request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import blocknas
from blocknas.errors import ConfigError
from blocknas.report import load_baselines, load_run_data, zoo_configs
from blocknas.report.baselines import default_zoo

from .factory import make_run


def fake_train(accuracy: float, calls: list[dict[str, Any]]) -> Any:
    """A train_run stand-in: records its arguments and writes the final metrics.json."""

    def train(model_cfg: Any, data_cfg: Any, out_dir: Path, overrides: Any, **kw: Any) -> None:
        calls.append({"model": model_cfg, "data": data_cfg, "out": out_dir, "overrides": overrides})
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        result = {"accuracy": accuracy, "macro_f1": accuracy - 0.02}
        (Path(out_dir) / "metrics.json").write_text(json.dumps({"val": result, "test": None}))

    return train


def test_the_project_zoo_is_found() -> None:
    assert {"mobilenetv2", "resnet8"} <= set(zoo_configs())
    assert default_zoo().is_dir()


def test_baselines_are_sized_for_the_search(run_2d: Path, zoo: Path) -> None:
    run = load_run_data(run_2d)
    found = {b.name: b for b in load_baselines(run, zoo=zoo, latency=False)}
    assert set(found) == {"small", "wide"}
    cfg = yaml.safe_load((zoo / "wide.yaml").read_text())
    cfg.update(input_channel=1, input_size=8, num_classes=10)  # the trials' shape
    expected = blocknas.profile(blocknas.build_model(cfg), latency=False)
    assert (found["wide"].params, found["wide"].macs) == (expected.params, expected.macs)
    assert not found["wide"].trained and found["wide"].get("accuracy") is None


def test_profiles_are_cached(tmp_path: Path, zoo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = load_run_data(make_run(tmp_path / "run", n_trials=3, pruned=0, failed=0))
    first = load_baselines(run, zoo=zoo, names=["small"], latency=False)
    assert (tmp_path / "run/baselines/small/profile.json").is_file()

    def no_build(*args: Any, **kw: Any) -> None:
        raise AssertionError("rebuilt a cached baseline")

    monkeypatch.setattr("blocknas.model.build_model", no_build)
    assert load_baselines(run, zoo=zoo, names=["small"], latency=False) == first


def test_training_uses_the_search_recipe_once(tmp_path: Path, zoo: Path) -> None:
    run = load_run_data(make_run(tmp_path / "run", n_trials=6, pruned=0, failed=0))
    calls: list[dict[str, Any]] = []
    trained = load_baselines(run, zoo=zoo, names=["small"], train=True, latency=False,
                             train_fn=fake_train(0.77, calls))  # fmt: skip
    assert trained[0].get("accuracy") == 0.77 and trained[0].trained
    best = max(run.completed(), key=lambda t: t.values["accuracy"])
    assert calls[0]["data"] == run_dir_of(run) / f"trials/{best.number:04d}/data.yaml"
    assert calls[0]["overrides"] == {"device": "auto"}  # not the search machine's device
    assert calls[0]["model"]["input_channel"] == 1
    assert calls[0]["out"] == run_dir_of(run) / "baselines/small"
    again = load_baselines(run, zoo=zoo, names=["small"], train=True, latency=False,
                           train_fn=fake_train(0.1, calls))  # fmt: skip
    assert len(calls) == 1 and again[0].get("accuracy") == 0.77  # cached, not retrained


def run_dir_of(run: Any) -> Path:
    assert run.run_dir is not None
    return Path(run.run_dir)


def test_unknown_baseline_lists_the_zoo(run_2d: Path, zoo: Path) -> None:
    with pytest.raises(ConfigError, match="unknown baseline 'nope'; the zoo has: small, wide"):
        load_baselines(load_run_data(run_2d), zoo=zoo, names=["nope"])
