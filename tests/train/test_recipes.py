"""Named recipes: a preset fills in the keys a config leaves out, and each key it sets does what
the key says."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from blocknas.cli import main
from blocknas.data import build_policy
from blocknas.errors import ConfigError
from blocknas.train import TrainConfig
from blocknas.train._recipes import RECIPES
from blocknas.train._tta import resolve_tta


def test_fast_fills_in_only_the_keys_the_config_leaves_out() -> None:
    plain, fast = TrainConfig(), TrainConfig.from_mapping({"recipe": "fast"})
    for key, value in RECIPES["fast"].items():
        assert getattr(fast, key) == value
        assert getattr(plain, key) != value  # every key of the preset changes something
    own = TrainConfig.from_mapping({"recipe": "fast", "tta": "none", "schedule": "cosine"})
    assert (own.tta, own.schedule) == ("none", "cosine")
    assert own.label_smoothing == RECIPES["fast"]["label_smoothing"]


def test_saved_config_reproduces_itself() -> None:
    fast = TrainConfig.from_mapping({"recipe": "fast", "epochs": 3})
    again = TrainConfig.from_mapping(fast.to_dict())
    assert again == fast and again.recipe == "fast"


def test_unknown_recipe_is_one_line() -> None:
    with pytest.raises(ConfigError, match=r"training key 'recipe'.*'default' or 'fast'"):
        TrainConfig.from_mapping({"recipe": "turbo"}, source="d.yaml")


def test_auto_tta_follows_the_training_flip() -> None:
    assert resolve_tta("auto", build_policy("none", crop_padding=4, flip=True)) == "flip_translate"
    assert resolve_tta("auto", build_policy("none", crop_padding=4)) == "none"
    assert resolve_tta("auto", None) == "none"
    assert resolve_tta("flip_translate", None) == "flip_translate"


def test_fast_label_smoothing_reaches_the_loss(digits) -> None:  # type: ignore[no-untyped-def]
    from blocknas.train._device import resolve_placement
    from blocknas.train._fit import _Trainer

    from .conftest import make_net

    cfg = TrainConfig.from_mapping({"recipe": "fast", "device": "cpu", "epochs": 1})
    trainer = _Trainer(make_net(), digits, cfg, resolve_placement(cfg), None, None, None)
    assert trainer.criterion.label_smoothing == 0.1
    assert trainer.tta == "none"  # no training flip: a mirror digit is another class


def test_set_recipe_on_the_train_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLOCKNAS_CACHE", str(tmp_path / "cache"))
    torch.set_num_threads(1)
    model, data = tmp_path / "m.yaml", tmp_path / "d.yaml"
    model.write_text(yaml.safe_dump({"input_channel": 1, "backbone": [
        [1, "Conv", {"out": 8, "kernel": 3}], [1, "GlobalAvgPool", {}], [1, "Flatten", {}],
        [1, "Linear", {"out": 10}]]}))  # fmt: skip
    data.write_text(yaml.safe_dump({
        "dataset": "digits", "subset": 300, "augment": {"train": "none"},
        "train": {"epochs": 1, "batch_size": 32, "label_smoothing": 0.05}}))  # fmt: skip
    out = tmp_path / "run"
    argv = ["train", "-m", str(model), "-d", str(data), "--out", str(out), "-q"]
    assert main([*argv, "--set", "recipe=fast"]) == 0
    saved = yaml.safe_load((out / "train.yaml").read_text())
    assert saved["recipe"] == "fast" and saved["tta"] == "auto"
    assert saved["label_smoothing"] == 0.05  # the data config's own key wins over the preset
