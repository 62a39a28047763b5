import pytest

from blocknas.errors import ConfigError
from blocknas.train import TrainConfig


def test_defaults_resolve_per_optimizer() -> None:
    sgd = TrainConfig.from_mapping({})
    adamw = TrainConfig.from_mapping({"optimizer": "adamw"})
    assert (sgd.lr, sgd.weight_decay, sgd.momentum) == (0.1, 5e-4, 0.9)
    assert (adamw.lr, adamw.weight_decay) == (1e-3, 0.05)
    # A saved config holds the concrete numbers and reads back to an equal object.
    assert TrainConfig.from_mapping(adamw.to_dict()) == adamw


def test_keys_are_case_insensitive_and_fp16_means_amp() -> None:
    cfg = TrainConfig.from_mapping({"EPOCHS": 3, "fp16": False, "Batch_Size": 16})
    assert (cfg.epochs, cfg.amp, cfg.batch_size) == (3, False, 16)


def test_unknown_key_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"data\.yaml: unknown training key\(s\) \['lr_max'\]"):
        TrainConfig.from_mapping({"lr_max": 1}, source="data.yaml")


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"lr": -1}, "lr"),
        ({"epochs": 0}, "epochs"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"schedule": "step"}, "schedule"),
        ({"ema": 1.5}, "ema"),
        ({"channels_last": "sometimes"}, "channels_last"),
    ],
)
def test_bad_value_names_the_key(values: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=f"training key '{key}"):
        TrainConfig.from_mapping(values, source="d.yaml")


def test_device_and_warmup_checks() -> None:
    with pytest.raises(ConfigError, match="device must be"):
        TrainConfig.from_mapping({"device": "gpu"})
    with pytest.raises(ConfigError, match="warmup_epochs"):
        TrainConfig.from_mapping({"epochs": 2, "warmup_epochs": 2})
    assert TrainConfig.from_mapping({"epochs": 10, "warmup_epochs": 1}).warmup == 0.1


def test_same_key_twice_is_an_error() -> None:
    with pytest.raises(ConfigError, match="given twice"):
        TrainConfig.from_mapping({"fp16": True, "amp": False})
