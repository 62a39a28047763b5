"""Sampling the space: hierarchical, unique parameter names; models that build; the hook."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import optuna
import pytest
from _search_helpers import CONFIGS, tiny

from blocknas.errors import ConfigError
from blocknas.model import build_model, load_model_spec
from blocknas.search import load_search_config, sample_candidate
from blocknas.search.space import Candidate

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _sample(cfg: Any, n: int, seed: int = 0) -> list[tuple[optuna.trial.FrozenTrial, Candidate]]:
    """n candidates from a random sampler, 1-channel 8×8 input (the digits shape)."""
    study = optuna.create_study(
        directions=cfg.directions, sampler=optuna.samplers.RandomSampler(seed=seed)
    )
    out = []
    for _ in range(n):
        trial = study.ask()
        candidate = sample_candidate(trial, cfg, input_channel=1, input_size=8, num_classes=10)
        frozen = study.tell(trial, [0.5] * len(cfg.directions))
        out.append((frozen, candidate))
    return out


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_each_name_has_one_distribution(path: Path) -> None:
    cfg = load_search_config(path)
    seen: dict[str, set[str]] = defaultdict(set)
    for frozen, _ in _sample(cfg, 300):
        for name, dist in frozen.distributions.items():
            seen[name].add(repr(dist))
    assert seen, "the space sampled nothing"
    clashes = {name: d for name, d in seen.items() if len(d) > 1}
    assert not clashes
    # Hierarchical: block arguments live under their stage, cell and block.
    arg_names = [n for n in seen if n.count("/") == 3 and n.startswith("stage")]
    assert arg_names
    for name in arg_names:
        stage, cell, block, _ = name.split("/")
        assert stage.startswith("stage") and cell in ("nc", "rc") and block[0].isupper()


def test_conditional_arguments_only_with_their_block() -> None:
    cfg = load_search_config(CONFIGS[[p.name for p in CONFIGS].index("digits.yaml")])
    for frozen, _ in _sample(cfg, 100, seed=1):
        for name in frozen.params:
            parts = name.split("/")
            if len(parts) == 4 and parts[1] in ("nc", "rc"):
                assert frozen.params[f"{parts[0]}/{parts[1]}"] == parts[2]


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_sampled_model_builds_or_is_reported_unbuildable(path: Path) -> None:
    cfg = load_search_config(path)
    size = 8 if cfg.data.get("dataset") == "digits" else 32
    built = 0
    for _, candidate in _sample(cfg, 40, seed=2):
        assert candidate.model is not None
        try:
            spec = load_model_spec(candidate.model, num_classes=10, input_size=size)
        except ConfigError as exc:
            assert str(exc)  # an unbuildable combination comes with its reason
            continue
        model = build_model(spec)
        assert model.spec.rows[-1].block.name == "Linear"
        built += 1
    assert built >= 30  # the shipped spaces are mostly buildable


def test_non_decreasing_depth() -> None:
    raw = tiny()
    raw["space"]["stages"] = {
        "count": 3, "repeat": {"int": [0, 3]}, "non_decreasing": True,
        "out": {"choices": [8]}, "nc": {"Conv": {}}, "rc": None,
    }  # fmt: skip
    cfg = load_search_config(raw)
    names = set()
    for frozen, candidate in _sample(cfg, 60, seed=3):
        names |= set(frozen.params)
        assert candidate.model is not None
        repeats = [row[0] for row in candidate.model["backbone"] if row[1] == "Conv"][1:]
        # Stages with zero blocks have no row; the rows that remain never get shallower.
        assert repeats == sorted(repeats)
    assert {"stage1/repeat", "stage2/repeat_increase", "stage3/repeat_increase"} <= names


def test_stage_channels_and_strides_fill_cell_arguments() -> None:
    cfg = load_search_config(tiny())
    for frozen, candidate in _sample(cfg, 20, seed=4):
        assert candidate.model is not None
        rows = candidate.model["backbone"]
        for _repeat, block, args in rows[1:-3]:
            if block in ("Conv", "DWConv"):
                assert args["stride"] == 1 and args["out"] == frozen.params["stage1/out"]
            if block == "MaxPool":
                assert args["stride"] == 2


def test_branches_sample_only_the_chosen_branch() -> None:
    raw = tiny()
    raw["space"]["train"] = {
        "optimizer": {"branches": {
            "sgd": {"lr": {"float": [0.01, 0.3], "log": True}, "momentum": 0.9},
            "adamw": {"lr": {"float": [1e-4, 1e-2], "log": True}},
        }},
    }  # fmt: skip
    cfg = load_search_config(raw)
    for frozen, candidate in _sample(cfg, 30, seed=5):
        opt = frozen.params["train/optimizer"]
        assert candidate.train["optimizer"] == opt
        assert frozen.params[f"train/optimizer/{opt}/lr"] == candidate.train["lr"]
        other = "adamw" if opt == "sgd" else "sgd"
        assert f"train/optimizer/{other}/lr" not in frozen.params
        assert ("momentum" in candidate.train) == (opt == "sgd")


def test_python_hook_edits_the_candidate(tmp_path: Path) -> None:
    (tmp_path / "extra.py").write_text(
        "def hook(trial, candidate):\n"
        "    candidate.train['lr'] = trial.suggest_float('hook/lr', 0.001, 0.1, log=True)\n"
        "    candidate.model['backbone'].insert(-1, [1, 'Dropout', {'p': 0.1}])\n"
    )
    raw = tiny(hook="extra.py:hook")
    path = tmp_path / "s.yaml"
    import yaml

    path.write_text(yaml.safe_dump(raw))
    cfg = load_search_config(path)
    from blocknas.search.space import load_hook

    hook = load_hook(cfg.hook or "", cfg.base_dir)
    study = optuna.create_study(directions=cfg.directions)
    trial = study.ask()
    candidate = sample_candidate(trial, cfg, input_channel=1, input_size=8, num_classes=10,
                                 hook=hook)  # fmt: skip
    assert candidate.train["lr"] == trial.params["hook/lr"]
    assert candidate.model is not None and candidate.model["backbone"][-2][1] == "Dropout"


@pytest.mark.parametrize("spec", ["nofile.py:hook", "nocolon", "json:no_such_function"])
def test_bad_hooks_are_config_errors(spec: str, tmp_path: Path) -> None:
    from blocknas.search.space import load_hook

    with pytest.raises(ConfigError, match="hook"):
        load_hook(spec, tmp_path)
