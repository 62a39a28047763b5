"""Hostile search spaces: impossible values refused at load, and candidates over a hard limit or
the model size limits judged from arithmetic, never built, never left RUNNING."""

from __future__ import annotations

import contextlib
import importlib
import json
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from _search_helpers import tiny
from optuna.trial import TrialState

from blocknas.cli import main
from blocknas.errors import ConfigError, TrainingError
from blocknas.search import load_run, load_search_config, run_search

optuna.logging.set_verbosity(optuna.logging.WARNING)

HUGE = 1_000_000_000



@pytest.fixture
def never_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building, training or timing a model fails the test."""
    import blocknas.model
    import blocknas.train

    profile = importlib.import_module("blocknas.profile")  # blocknas.profile is also a function

    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a model over a limit was built, trained or timed")

    monkeypatch.setattr(blocknas.model, "build_model", never)
    monkeypatch.setattr(blocknas.train, "fit", never)
    monkeypatch.setattr(profile, "measure_latency", never)


def _huge(**changes: Any) -> dict[str, Any]:
    raw = tiny(sampler={"name": "random"}, n_trials=2, early_stopping=False, **changes)
    raw["space"]["stages"].update(repeat=1, out={"choices": [HUGE]})
    return raw


def _search(
    tmp_path: Path, raw: dict[str, Any], *, failing: bool = False
) -> list[optuna.trial.FrozenTrial]:
    """Run the search; with ``failing``, every trial fails and the worker gives up after its
    limit of failures in a row (one line, exit 2 from the CLI)."""
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    start = time.perf_counter()
    with pytest.raises(TrainingError) if failing else contextlib.nullcontext():
        run_search(path, out_dir=tmp_path / "run", progress=False, report=False)
    assert time.perf_counter() - start < 60
    study, _ = load_run(tmp_path / "run")
    trials = study.get_trials(deepcopy=False)
    assert trials and all(t.state is not TrialState.RUNNING for t in trials)
    return trials


def test_a_candidate_over_max_params_is_judged_from_arithmetic(
    tmp_path: Path, never_built: None, memory_cap: None
) -> None:
    trials = _search(tmp_path, _huge(constraints={"max_params": 50000}))
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    for t in trials:
        # stem Conv (8 or 16 out), the stage's Conv 1e9 wide, head: counted, not allocated
        assert t.user_attrs["params"] > HUGE
        assert t.user_attrs["constraint_violation"].startswith("params ")
        assert t.constraints["max_params"] > 0 and t.user_attrs["epochs"] == 0
        assert t.values is not None and t.values == [0.0, t.user_attrs["params"]]
        assert "latency_ms" not in t.user_attrs
        metrics = json.loads((tmp_path / "run" / "trials" / f"{t.number:04d}" / "metrics.json")
                             .read_text())  # fmt: skip
        assert metrics["state"] == "COMPLETE" and metrics["params"] == t.user_attrs["params"]


def test_a_violating_candidate_is_never_timed_for_a_latency_objective(
    tmp_path: Path, never_built: None, memory_cap: None
) -> None:
    raw = _huge(constraints={"max_macs": 1000, "max_latency_ms": 5.0},
                objectives=["accuracy", "latency_ms"])  # fmt: skip
    trials = _search(tmp_path, raw)
    upper = load_search_config(tmp_path / "s.yaml").objectives[1].upper
    for t in trials:
        assert t.state is TrialState.COMPLETE and t.values == [0.0, upper]
        assert "macs " in t.user_attrs["constraint_violation"]
        assert t.constraints["max_macs"] > 0 and t.constraints["max_latency_ms"] == 0.0


def test_a_candidate_over_the_size_limit_alone_fails_unbuilt(
    tmp_path: Path, never_built: None, memory_cap: None
) -> None:
    trials = _search(tmp_path, _huge(), failing=True)
    assert {t.state for t in trials} == {TrialState.FAIL}
    for t in trials:
        reason = t.user_attrs["fail_reason"]
        assert reason.startswith("unbuildable: backbone row ")
        assert "over the limit of 1 GiB; raise it with BLOCKNAS_MAX_ACTIVATION_MIB" in reason


def test_a_lowered_size_limit_applies_to_trials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, memory_cap: None
) -> None:
    monkeypatch.setenv("BLOCKNAS_MAX_PARAMS", "10")
    trials = _search(tmp_path, tiny(n_trials=1, early_stopping=False), failing=True)
    assert {t.state for t in trials} == {TrialState.FAIL}
    assert "raise it with BLOCKNAS_MAX_PARAMS" in trials[0].user_attrs["fail_reason"]


# (case, change to tiny()'s space, key named in the message, fragment)
BAD_SPACES = [
    ("negative out", lambda s: s["stages"].update(out={"choices": [-8, 8]}),
     "space.stages.out (stage 1) for Conv: value -8", "greater than 0"),
    ("zero in an out range", lambda s: s["stages"].update(out={"int": [0, 8]}),
     "space.stages.out (stage 1) for Conv: value 0", "greater than 0"),
    ("negative stem out", lambda s: s["stem"]["Conv"].update(out={"choices": [-8, 8]}),
     "space.stem.Conv.out: value -8", "greater than 0"),
    ("negative head conv", lambda s: s.update(head={"conv": {"choices": [0, -4]}}),
     "space.head.conv: value -4", "greater than 0"),
    ("dropout 1.5", lambda s: s.update(head={"dropout": {"choices": [0.0, 1.5]}}),
     "space.head.dropout: value 1.5", "less than 1"),
    ("unknown head act", lambda s: s.update(head={"act": "Relu"}),
     "space.head.act: value 'Relu'", "unknown activation"),
    ("width nan", lambda s: s.update(width_multiple={"choices": [float("nan"), 1.0]}),
     "space.width_multiple: value nan", "finite"),
    ("depth inf", lambda s: s.update(depth_multiple=float("inf")),
     "space.depth_multiple: value inf", "finite"),
    ("repeat 1000000", lambda s: s["stages"].update(repeat={"int": [1, 1000000]}),
     "space.stages.repeat (stage 1): up to 1,000,000", "raise it with BLOCKNAS_MAX_LAYERS"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "change", "key", "fragment"), BAD_SPACES,
                         ids=[c[0] for c in BAD_SPACES])  # fmt: skip
def test_an_impossible_space_value_is_refused_at_load(
    case: str, change: Any, key: str, fragment: str, tmp_path: Path
) -> None:
    raw = tiny()
    change(raw["space"])
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as caught:
        load_search_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {key}")
    assert fragment in message and "\n" not in message


def test_the_search_command_refuses_a_negative_choice_before_any_trial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = tiny()
    raw["space"]["stages"]["out"] = {"choices": [-8, 8]}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["search", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: space.stages.out (stage 1) for Conv: value -8")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "run" / "study.db").exists()
