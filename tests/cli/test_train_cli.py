import json
from pathlib import Path

import pytest
import yaml

from blocknas._signals import Terminated
from blocknas.cli import main

MODEL = {
    "input_channel": 1,
    "backbone": [
        [1, "Conv", {"out": 8, "kernel": 3}],
        [1, "Conv", {"out": 16, "kernel": 3, "stride": 2}],
        [1, "GlobalAvgPool", {}],
        [1, "Flatten", {}],
        [1, "Linear", {"out": 10}],
    ],
}
DATA = {
    "dataset": "digits",
    "subset": 500,
    "augment": {"train": "none"},
    "train": {"epochs": 2, "batch_size": 32, "lr": 0.2},
}



@pytest.fixture
def configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("BLOCKNAS_CACHE", str(tmp_path / "cache"))
    model, data = tmp_path / "m.yaml", tmp_path / "d.yaml"
    model.write_text(yaml.safe_dump(MODEL))
    data.write_text(yaml.safe_dump(DATA))
    return model, data


def test_train_then_evaluate(
    configs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, data = configs
    out = tmp_path / "run"
    args = ["train", "--model", str(model), "--data", str(data), "--out", str(out), "--quiet"]
    assert main([*args, "--epochs", "1"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # quiet: no progress display
    assert captured.out.startswith("best epoch 1: val acc ") and str(out) in captured.out
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["epochs"]) == 1  # --epochs overrides the data config's 2

    assert main(["evaluate", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["split"] == "test"
    assert report["confusion"] == metrics["test"]["confusion"]
    assert sum(map(sum, report["confusion"])) == report["n"]

    assert main(["evaluate", str(out)]) == 0
    text = capsys.readouterr().out
    assert "test split" in text and "macro-F1" in text and "confusion matrix" in text


def test_divergence_is_one_line_and_nonzero_exit(
    configs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, data = configs
    code = main(["train", "-m", str(model), "-d", str(data), "--out", str(tmp_path / "r"), "-q",
                 "--set", "lr=1e8", "--set", "schedule=cosine", "--set", "warmup_fraction=0"])  # fmt: skip
    err = capsys.readouterr().err
    assert code != 0
    assert err.startswith("error: diverged at epoch 1 (lr = ") and err.count("\n") == 1


def test_resume_continues_an_interrupted_run(
    configs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, data = configs
    out = tmp_path / "run"
    assert main(["train", "-m", str(model), "-d", str(data), "--out", str(out), "-q",
                 "--epochs", "1"]) == 0  # fmt: skip
    assert main(["train", "--out", str(out), "--resume", "-q"]) == 0
    assert "best epoch" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--resume"], "--resume needs --out"),
        (["train", "--model", "m.yaml"], "train needs --model and --data"),
        (["train", "-m", "m.yaml", "-d", "d.yaml", "--set", "lr"], "--set expects key=value"),
    ],
)
def test_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("interrupt", "word", "status"),
    [(KeyboardInterrupt, "interrupted", 130), (Terminated, "terminated", 143)],
    ids=["ctrl-c", "sigterm"],
)
def test_ctrl_c_or_sigterm_points_to_resume(
    interrupt: type[KeyboardInterrupt],
    word: str,
    status: int,
    configs: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import blocknas.train

    def interrupted(model: Path, data: Path, out: Path, *args: object, **kwargs: object) -> None:
        out.mkdir()
        (out / "last.pt").write_bytes(b"")
        raise interrupt

    monkeypatch.setattr(blocknas.train, "train_run", interrupted)
    model, data = configs
    out = tmp_path / "run"
    assert main(["train", "-m", str(model), "-d", str(data), "--out", str(out)]) == status
    err = capsys.readouterr().err
    assert err == f"{word}; continue with: blocknas train --out {out} --resume\n"
