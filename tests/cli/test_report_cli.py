"""``blocknas report | pick | retrain | export | dashboard`` on a run folder built with optuna."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from blocknas.cli import main
from blocknas.report import load_run_data


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, factory: ModuleType) -> Path:
    return factory.make_run(tmp_path_factory.mktemp("cli") / "run", n_trials=10)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory, factory: ModuleType) -> Path:
    return factory.tiny_zoo(tmp_path_factory.mktemp("zoo"))


def test_report_writes_its_files(
    run_dir: Path, zoo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(run_dir), "--zoo", str(zoo), "--no-latency"]) == 0
    out = capsys.readouterr().out
    for name in ("report.html", "pareto.png", "pareto.csv", "pareto.json"):
        assert (run_dir / name).is_file() and f"wrote {run_dir / name}" in out
    assert "best-accuracy" in out and "knee" in out
    assert "note: baselines show their size only" in out


def test_pick_prints_one_trial(
    run_dir: Path, zoo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pick", str(run_dir), "--best-accuracy", "--zoo", str(zoo), "--of", "small",
                 "--json"]) == 0  # fmt: skip
    pick = json.loads(capsys.readouterr().out)
    assert pick["kind"] == "best-accuracy" and pick["ratios"]["baseline"] == "small"
    done = load_run_data(run_dir).completed()
    assert pick["trial"] == max(done, key=lambda t: t.values["accuracy"]).number
    assert Path(pick["model_yaml"]).is_file()
    assert main(["pick", str(run_dir), "--max-params", "1000", "--zoo", str(zoo)]) == 0
    assert "model: " in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--knee", "--best-accuracy"], "choose exactly one of"),
        (["--smallest-within", "1.0"], "--smallest-within needs the baseline to match"),
        (["--smallest-within", "1.0", "--of", "small"], "has not been trained"),
        (["--max-params", "1"], "no completed trial fits"),
        (["--knee", "--of", "nope"], "unknown baseline 'nope'"),
    ],
)
def test_pick_errors_are_one_line(
    run_dir: Path, zoo: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["pick", str(run_dir), "--zoo", str(zoo), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_retrain_needs_one_choice(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["retrain", str(run_dir)]) == 2
    assert "exactly one of --trial N or --top K" in capsys.readouterr().err


def test_export_round_trips(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("onnxruntime")
    out = run_dir / "m.onnx"
    assert main(["export", str(run_dir / "trials/0001"), "--format", "onnx", "--out", str(out),
                 "--no-latency"]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert out.is_file() and ": ok" in captured.out
    assert "random initial weights" in captured.err
    assert main(["export", str(run_dir / "trials/0001"), "--format", "tflite"]) == 2


def test_dashboard_without_the_package(
    run_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)
    assert main(["dashboard", str(run_dir)]) == 2
    assert "optuna-dashboard is not installed" in capsys.readouterr().err
