"""Data configs: own form, reference form, errors that name the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from blocknas.data import DataConfig, load_data_config
from blocknas.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs" / "data"

REFERENCE = {
    "DATA_PATH": "/data/cifar",
    "DATASET": "CIFAR10",
    "AUG_TRAIN": "randaugment_train",
    "AUG_TEST": "simple_augment_test",
    "AUG_TRAIN_PARAMS": {"n_select": 3, "level": 9, "n_level": 20},
    "AUG_TEST_PARAMS": None,
    "BATCH_SIZE": 64,
    "VAL_RATIO": 0.2,
    "IMG_SIZE": 42,
    "EPOCHS": 5,
    "FP16": True,
    "INIT_LR": 0.05,
}


def _write(tmp_path: Path, data: object, name: str = "data.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_defaults_are_digits() -> None:
    cfg = load_data_config({})
    assert cfg.dataset == "digits" and cfg.augment.train == "randaugment"
    assert cfg.augment.level == 14 and cfg.augment.n_level == 31 and cfg.val_ratio == 0.1


def test_own_form_round_trip(tmp_path: Path) -> None:
    cfg = load_data_config(
        {"dataset": "cifar10", "path": str(tmp_path), "img_size": 32, "subset": 0.2,
         "augment": {"train": "trivialaugment", "cutout": 0.5, "crop_padding": 4},
         "train": {"batch_size": 32, "anything": [1, 2]}}
    )  # fmt: skip
    assert cfg.subset == 0.2 and cfg.train == {"batch_size": 32, "anything": [1, 2]}
    again = load_data_config(cfg.to_dict())
    assert again == cfg
    yaml.safe_dump(cfg.to_dict())  # plain values only
    assert load_data_config(cfg) is cfg


def test_relative_path_is_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = _write(tmp_path / "sub", {"dataset": "imagefolder", "path": "../images"})
    assert load_data_config(path).path == (tmp_path / "images").resolve()


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"datset": "digits"}, "unknown key 'datset'"),
        ({"augment": {"n_selct": 2}}, "unknown key 'augment.n_selct'"),
        ({"dataset": "mnist"}, "dataset"),
        ({"augment": {"level": 40}}, "level must be in 1..n_level"),
        ({"augment": {"level": 0}}, "level must be in 1..n_level"),
        ({"subset": 0}, "subset count must be >= 1"),
        ({"subset": 1.5}, "fraction must be in (0, 1]"),
        ({"subset": True}, "subset must be a count"),
        ({"val_ratio": 1.0}, "val_ratio"),
        ({"dataset": "imagefolder"}, "needs a path"),
        ({"augment": {"train": "randaugment_train"}}, "augment.train"),
    ],
)
def test_own_form_errors_name_key_and_file(tmp_path: Path, raw: dict, needle: str) -> None:
    path = _write(tmp_path, raw)
    with pytest.raises(ConfigError) as err:
        load_data_config(path)
    assert needle in str(err.value)
    assert str(path) in str(err.value)


def test_not_a_mapping_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mapping"):
        load_data_config(_write(tmp_path, [1, 2]))
    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset: [digits\n")
    with pytest.raises(ConfigError, match="YAML"):
        load_data_config(bad)
    with pytest.raises(ConfigError, match=r"missing\.yaml: no such file"):
        load_data_config(tmp_path / "missing.yaml")


def test_reference_form_is_converted() -> None:
    cfg = load_data_config(REFERENCE)
    assert cfg.dataset == "cifar10" and cfg.stats == "cifar10" and cfg.img_size == 42
    assert str(cfg.path) == "/data/cifar" and cfg.val_ratio == 0.2
    assert cfg.augment.train == "randaugment" and cfg.augment.test == "simple"
    assert (cfg.augment.n_select, cfg.augment.level, cfg.augment.n_level) == (3, 9, 20)
    assert cfg.augment.cutout is None and cfg.augment.flip  # randaugment_train: cutout 0.8, flip
    assert cfg.train == {"batch_size": 64, "epochs": 5, "lr": 0.05, "fp16": True}


@pytest.mark.parametrize(
    ("params", "level"),
    [
        ({"n_select": 2}, 14),  # omitted: 14
        (None, 14),
        ({"level": None}, None),  # anything but an int in 1..n_level: random
        ({"level": 0}, None),
        ({"level": 14.0}, None),
        ({"level": 32}, None),
        ({"level": 31}, 31),
    ],
)
def test_reference_level_rule(params: object, level: int | None) -> None:
    cfg = load_data_config({**REFERENCE, "AUG_TRAIN_PARAMS": params, "DATA_PATH": None})
    assert cfg.augment.level == level


def test_reference_taco_and_simple() -> None:
    raw = {**REFERENCE, "DATASET": "TACO", "AUG_TRAIN": "simple_augment_train"}
    raw["AUG_TRAIN_PARAMS"] = None
    cfg = load_data_config(raw)
    assert cfg.dataset == "imagefolder" and cfg.stats == "imagenet"
    assert cfg.augment.train == "simple"


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"DATASET": "MNIST"}, "DATASET: unsupported value 'MNIST'"),
        ({"AUG_TRAIN": "cutmix"}, "AUG_TRAIN: unsupported"),
        ({"AUG_TRAIN": "simple_augment_train"}, "only by randaugment_train"),
        ({"AUG_TEST_PARAMS": {"x": 1}}, "AUG_TEST_PARAMS must be null"),
        ({"AUG_TRAIN_PARAMS": {"magnitude": 3}}, "unknown key 'magnitude'"),
        ({"NUM_WORKERS": 4}, "unknown key 'NUM_WORKERS'"),
        ({"seed": 1}, "mixes reference keys"),
    ],
)
def test_reference_errors(tmp_path: Path, change: dict, needle: str) -> None:
    path = _write(tmp_path, {**REFERENCE, **change})
    with pytest.raises(ConfigError) as err:
        load_data_config(path)
    assert needle in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize("name", ["digits", "cifar10_small", "reference_cifar10"])
def test_example_configs_load(name: str) -> None:
    cfg = load_data_config(CONFIGS / f"{name}.yaml")
    assert isinstance(cfg, DataConfig)
    if cfg.path is not None:
        assert cfg.path.is_absolute() and "shared" in cfg.path.parts
