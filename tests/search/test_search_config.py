"""Search config: parameter specs, validation messages, the shipped configs, round trips."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from _search_helpers import CONFIGS, tiny

from blocknas.errors import ConfigError
from blocknas.search import load_search_config
from blocknas.search.params import (
    Branches,
    Choice,
    Fixed,
    FloatRange,
    IntRange,
    dump_spec,
    parse_spec,
)

# --- parameter specs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (3, Fixed(value=3)),
        ("ReLU", Fixed(value="ReLU")),
        ({"value": {"a": 1}}, Fixed(value={"a": 1})),
        ({"choices": [1, 3, 5]}, Choice(choices=(1, 3, 5))),
        ({"int": [1, 4]}, IntRange(low=1, high=4)),
        ({"int": [8, 64], "step": 8}, IntRange(low=8, high=64, step=8)),
        ({"float": [1e-4, 1e-1], "log": True}, FloatRange(low=1e-4, high=1e-1, log=True)),
        ({"float": [1.0, 6.0], "step": 0.5}, FloatRange(low=1.0, high=6.0, step=0.5)),
    ],
)
def test_parse_spec_forms_and_round_trip(raw: Any, expected: Any) -> None:
    spec = parse_spec(raw)
    assert spec == expected
    assert parse_spec(dump_spec(spec)) == spec


def test_branches_round_trip() -> None:
    raw = {"branches": {"sgd": {"lr": {"float": [0.01, 0.3], "log": True}}, "adamw": None}}
    spec = parse_spec(raw, allow_branches=True)
    assert isinstance(spec, Branches)
    assert set(spec.branches) == {"sgd", "adamw"}
    assert parse_spec(dump_spec(spec), allow_branches=True) == spec


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"choices": []}, "must not be empty"),
        ({"choices": [1, 1]}, "repeat a value"),
        ({"int": [5, 1]}, "must not exceed"),
        ({"float": [0.0, 1.0], "log": True}, "needs low > 0"),
        ({"int": [1, 2], "choices": [1]}, "one of"),
        ({"int": [1, 2], "steps": 2}, "unknown option"),
        ({"int": 3}, "must be [low, high]"),
        ({"branches": {"a": {}}}, "train, data and augment"),
    ],
)
def test_parse_spec_rejects(raw: Any, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_spec(raw)
    assert message in str(info.value)


# --- whole configs ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_load_and_round_trip(path: Path) -> None:
    cfg = load_search_config(path)
    assert cfg.objectives and cfg.space.stages is not None
    again = load_search_config(yaml.safe_load(yaml.safe_dump(cfg.to_dict())))
    assert again == cfg


def test_shipped_configs_exist() -> None:
    assert {"digits.yaml", "cifar10_small.yaml"} <= {p.name for p in CONFIGS}


def test_reference_space_is_expressible() -> None:
    """Every normal and reduction cell type of the reference space, per-stage channels, kernels
    1/3/5, three activations, non-decreasing depth, multiples and training/augment keys."""
    acts = {"choices": ["ReLU", "ReLU6", "Hardswish"]}
    space = {
        "width_multiple": {"choices": [0.5, 0.75, 1.0]},
        "depth_multiple": {"choices": [0.5, 1.0]},
        "stem": {"Conv": {"out": {"choices": [16, 32]}, "kernel": 3, "stride": 2, "act": acts}},
        "stages": {
            "count": 3,
            "repeat": {"int": [1, 3]},
            "non_decreasing": True,
            "out": [{"int": [16, 32], "step": 8}, {"int": [32, 64], "step": 16}, {"int": [64, 128], "step": 32}],
            "nc": {
                "Conv": {"kernel": {"choices": [1, 3, 5]}, "act": acts},
                "DWConv": {"kernel": {"choices": [1, 3, 5]}, "act": acts},
                "Bottleneck": {"expansion": {"choices": [0.25, 0.5]}, "act": acts},
                "InvertedResidualv2": {"expand": {"int": [1, 6]}},
                "InvertedResidualv3": {
                    "kernel": {"choices": [3, 5]}, "expand": {"float": [1.0, 6.0], "step": 0.1},
                    "se": {"choices": [False, True]}, "hardswish": {"choices": [False, True]},
                },
                "MBConv": {"expand": {"choices": [1, 6]}, "kernel": {"choices": [3, 5]}},
            },
            "rc": {
                "InvertedResidualv2": {"expand": {"int": [1, 6]}},
                "InvertedResidualv3": {"kernel": {"choices": [3, 5]}, "expand": 4.0},
                "MaxPool": {"kernel": {"choices": [2, 3]}},
                "AvgPool": {"kernel": 2},
            },
        },
        "train": {
            "epochs": {"choices": [10, 20]},
            "batch_size": {"choices": [32, 64, 96, 128]},
            "lr": {"float": [1e-3, 0.3], "log": True},
            "optimizer": {"choices": ["sgd", "adamw"]},
            "weight_decay": {"float": [1e-5, 1e-2], "log": True},
            "label_smoothing": {"float": [0.0, 0.2]},
        },
        "data": {"img_size": {"choices": [16, 24, 32]}},
        "augment": {
            "policy": {"branches": {"none": {}, "randaugment": {
                "n_select": {"int": [1, 3]}, "level": {"int": [1, 31]}}}},
        },
    }  # fmt: skip
    cfg = load_search_config(tiny(space=space, train={}))
    assert cfg.space.stages is not None and len(cfg.space.stages.nc) == 3
    assert cfg.max_epochs == 20  # the largest sampled epochs is the early-stopping horizon
    assert set(cfg.space.stages.nc[0].options) == {
        "Conv", "DWConv", "Bottleneck", "InvertedResidualv2", "InvertedResidualv3", "MBConv"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sampler": "cmaes"}, "unknown sampler 'cmaes'"),
        ({"sampler": {"name": "random", "population_size": 4}}, "takes no option"),
        ({"objectives": ["accuracy", "size"]}, "unknown objective 'size'"),
        ({"objectives": ["params", "params"]}, "listed twice"),
        ({"constraints": {"max_params": -1}}, "constraints.max_params"),
        ({"constraints": {"max_flops": 10}}, "constraints.max_flops: unknown key"),
        ({"sampler_name": "tpe"}, "unknown key 'sampler_name'"),
        ({"train": {"epochs": 2, "lrate": 0.1}}, "lrate"),
        ({"data": {"dataset": "mnist"}}, "data"),
        ({"early_stopping": {"max_epochs": 9}}, "differ"),
        ({"early_stopping": {"min_epochs": 0}}, "min_epochs must be >= 1"),
    ],
)
def test_bad_top_level_keys(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_search_config(tiny(**changes))
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ({"nc": {"Conv2d": {}}}, "unknown block 'Conv2d'"),
        ({"nc": {"Conv": {"kernal": 3}}}, "unknown argument(s) ['kernal']"),
        ({"nc": {"Conv": {"kernel": {"choices": ["3"]}}}}, "space.stages.nc (stage 1).Conv.kernel"),
        ({"rc": {"Bottleneck": {}}}, "has no stride"),
        ({"out": [{"choices": [8]}, {"choices": [16]}]}, "needs 1 entries"),
        ({"repeat": {"int": [-1, 2]}}, "integers >= 0"),
        ({"non_decreasing": True, "repeat": {"choices": [1, 2]}}, "non_decreasing needs"),
    ],
)
def test_bad_space_keys_name_the_key(stages: dict[str, Any], message: str) -> None:
    raw = tiny()
    raw["space"]["stages"].update(stages)
    with pytest.raises(ConfigError) as info:
        load_search_config(raw)
    assert message in str(info.value)


def test_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(tiny(sampler="annealing")))
    with pytest.raises(ConfigError) as info:
        load_search_config(path)
    assert str(path) in str(info.value) and "annealing" in str(info.value)
    with pytest.raises(ConfigError, match="no such file"):
        load_search_config(tmp_path / "missing.yaml")
    path.write_text("name: [unclosed")
    with pytest.raises(ConfigError, match="line"):
        load_search_config(path)


def test_stem_needs_out_channels() -> None:
    raw = tiny()
    raw["space"]["stem"] = {"Conv": {"kernel": 3}}
    with pytest.raises(ConfigError, match="stem: Conv needs an 'out'"):
        load_search_config(raw)


def test_branch_keys_may_not_repeat_outside_keys() -> None:
    raw = tiny()
    raw["space"]["train"] = {
        "lr": 0.1, "optimizer": {"branches": {"sgd": {"lr": {"float": [0.01, 0.1]}}}}
    }  # fmt: skip
    with pytest.raises(ConfigError, match="also given outside the branch"):
        load_search_config(raw)


def test_data_path_is_resolved_from_the_config_folder(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    for cls in ("a", "b"):
        (folder / cls).mkdir(parents=True)
    raw = tiny(data={"dataset": "imagefolder", "path": "imgs"})
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    cfg = load_search_config(path)
    assert Path(cfg.data["path"]) == folder.resolve()


def test_early_stopping_default_and_training_length() -> None:
    cfg = load_search_config(tiny(train={"epochs": 27}))
    assert cfg.early_stopping.enabled and cfg.early_stopping.max_epochs == 27
    cfg = load_search_config(tiny(train={}, early_stopping={"min_epochs": 1, "max_epochs": 9}))
    assert cfg.train["epochs"] == 9 and cfg.early_stopping.rungs == (1, 3, 9)
    off = load_search_config(tiny(early_stopping=False))
    assert not off.early_stopping.enabled


def test_nsga2_with_early_stopping_warns_about_slow_generations() -> None:
    from blocknas.search.study import sampler_notes

    schedule = {"min_epochs": 1, "eta": 3}  # with train.epochs 9: decisions at 1 and 3, 1 in 9
    train = {"epochs": 9, "optimizer": "adamw", "lr": 0.01}
    nsga = load_search_config(tiny(sampler={"name": "nsga2", "population_size": 8},
                                   early_stopping=schedule, train=train))  # fmt: skip
    (note,) = sampler_notes(nsga)
    assert "1 trial in 9" in note and "~72 trials per generation" in note
    # No note for TPE, for NSGA-II without early stopping, or for a search that does not train.
    assert sampler_notes(load_search_config(tiny(early_stopping=schedule, train=train))) == []
    off = tiny(sampler="nsga2", early_stopping=dict(schedule, enabled=False), train=train)
    assert sampler_notes(load_search_config(off)) == []
