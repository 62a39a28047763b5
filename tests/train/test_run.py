import json
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from blocknas.errors import ConfigError
from blocknas.model import load_model_spec
from blocknas.train import EpochMetrics, evaluate_run, resume_run, train_run

MODEL: dict[str, Any] = {
    "input_channel": 1,
    "backbone": [
        [1, "Conv", {"out": 8, "kernel": 3}],
        [1, "Conv", {"out": 16, "kernel": 3, "stride": 2}],
        [1, "GlobalAvgPool", {}],
        [1, "Flatten", {}],
        [1, "Dropout", {"p": 0.1}],
        [1, "Linear", {"out": 3}],
    ],
}
DATA: dict[str, Any] = {
    "dataset": "digits",
    "subset": 600,
    "augment": {"train": "none"},
    "train": {"epochs": 3, "batch_size": 32, "lr": 0.2},
}


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLOCKNAS_CACHE", str(tmp_path / "cache"))


def _figures(epochs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    keys = ("epoch", "lr", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_f1")
    return [tuple(e[k] for k in keys) for e in epochs]


def test_run_folder_reproduces_itself(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = train_run(MODEL, DATA, out, {"epochs": 2}, progress=False)
    names = {p.name for p in out.iterdir()}
    assert {"model.yaml", "data.yaml", "train.yaml", "best.pt", "last.pt", "metrics.json"} <= names
    train = yaml.safe_load((out / "train.yaml").read_text())
    assert (train["epochs"], train["batch_size"], train["lr"]) == (2, 32, 0.2)
    # num_classes comes from the data: the model's Linear(out: 3) became 10 classes.
    assert load_model_spec(out / "model.yaml").num_classes == 10
    metrics = json.loads((out / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2]
    assert {"train_loss", "val_accuracy", "val_f1", "lr", "images_per_s"} <= set(
        metrics["epochs"][0]
    )
    assert metrics["test"]["n"] == result.test.n and metrics["parameters"] > 0
    # The folder alone gives the run again, figure for figure.
    again = train_run(out / "model.yaml", out / "data.yaml", tmp_path / "again",
                      yaml.safe_load((out / "train.yaml").read_text()), progress=False)  # fmt: skip
    assert [m.val_f1 for m in again.history] == [m.val_f1 for m in result.history]


def test_evaluate_run_matches_training_test_metrics(tmp_path: Path) -> None:
    result = train_run(MODEL, DATA, tmp_path / "run", {"epochs": 1}, progress=False)
    evaluation = evaluate_run(tmp_path / "run")
    assert evaluation.split == "test"
    assert result.test is not None
    assert evaluation.metrics.confusion == result.test.confusion
    assert sum(map(sum, evaluation.metrics.confusion)) == evaluation.metrics.n


def test_interrupted_run_resumes_to_the_same_metrics(tmp_path: Path) -> None:
    full = train_run(MODEL, DATA, tmp_path / "full", progress=False)

    def interrupt(m: EpochMetrics) -> None:
        if m.epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_run(MODEL, DATA, tmp_path / "cut", progress=False, callback=interrupt)
    assert len(json.loads((tmp_path / "cut" / "metrics.json").read_text())["epochs"]) == 1
    resumed = resume_run(tmp_path / "cut", progress=False)
    assert resumed.history[-1].epoch == 3
    full_json = json.loads((tmp_path / "full" / "metrics.json").read_text())
    cut_json = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    assert _figures(cut_json["epochs"]) == _figures(full_json["epochs"])
    assert cut_json["test"] == full_json["test"]
    best = torch.load(tmp_path / "cut" / "best.pt", weights_only=True)
    assert best["epoch"] == full.best_epoch


def test_existing_run_is_not_overwritten(tmp_path: Path) -> None:
    train_run(MODEL, DATA, tmp_path / "run", {"epochs": 1}, progress=False)
    with pytest.raises(ConfigError, match="already holds a run"):
        train_run(MODEL, DATA, tmp_path / "run", {"epochs": 1}, progress=False)


def test_bad_training_key_names_the_data_file(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump({**DATA, "train": {"epochs": 2, "momentun": 0.8}}))
    with pytest.raises(ConfigError, match=r"d\.yaml: unknown training key\(s\) \['momentun'\]"):
        train_run(MODEL, path, tmp_path / "run", progress=False)


def test_channel_mismatch_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"takes 3 input channel\(s\) but digits images have 1"):
        train_run({**MODEL, "input_channel": 3}, DATA, tmp_path / "run", progress=False)
