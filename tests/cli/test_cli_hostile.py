"""Hostile input to train / evaluate / export / report / retrain: every case is one `error:`
line and a non-zero exit (or the right behaviour), with nothing half-written or damaged."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
import yaml

from blocknas.cli import main
from blocknas.report import load_run_data, top_trials
from blocknas.train import load_checkpoint

MODEL = {
    "input_channel": 1,
    "backbone": [
        [1, "Conv", {"out": 8, "kernel": 3, "stride": 2}],
        [1, "GlobalAvgPool", {}],
        [1, "Flatten", {}],
        [1, "Linear", {"out": 10}],
    ],
}
# fp16 is the reference format's name of the amp key.
DATA = {
    "dataset": "digits",
    "subset": 200,
    "augment": {"train": "none"},
    "train": {"epochs": 1, "batch_size": 50, "lr": 0.1, "fp16": False},
}



@pytest.fixture
def configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("BLOCKNAS_CACHE", str(tmp_path / "cache"))
    model, data = tmp_path / "m.yaml", tmp_path / "d.yaml"
    model.write_text(yaml.safe_dump(MODEL))
    data.write_text(yaml.safe_dump(DATA))
    return model, data


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished one-epoch run folder; tests copy it before damaging anything."""
    root = tmp_path_factory.mktemp("trained")
    (root / "m.yaml").write_text(yaml.safe_dump(MODEL))
    (root / "d.yaml").write_text(yaml.safe_dump(DATA))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BLOCKNAS_CACHE", str(root / "cache"))
        assert main(["train", "-m", str(root / "m.yaml"), "-d", str(root / "d.yaml"),
                     "--out", str(root / "run"), "-q"]) == 0  # fmt: skip
    return root / "run"


@pytest.fixture
def run_copy(trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BLOCKNAS_CACHE", str(tmp_path / "cache"))
    return Path(shutil.copytree(trained, tmp_path / "run"))


def _error(capsys: pytest.CaptureFixture[str], code: int) -> str:
    """The one line a user error prints; fails on a traceback or a second line."""
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def _failing_fsync(monkeypatch: pytest.MonkeyPatch, code: int, name: str = "") -> None:
    """Every fsync of a file whose name holds ``name`` fails with ``code`` (a full disk shows
    itself at the latest there); other files are written as usual."""
    real = os.fsync

    def fsync(fd: int) -> None:
        if name in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(code, os.strerror(code))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def _read_only(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """New files in ``folder`` fail as on a read-only file system (chmod does not stop root)."""
    real = tempfile.mkstemp

    def mkstemp(*args: Any, **kwargs: Any) -> tuple[int, str]:
        if Path(kwargs.get("dir") or ".").resolve() == folder.resolve():
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


# -- --out: a file, a folder, a read-only file system, a full disk ---------------------------


def test_train_out_that_is_a_file(configs: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    model, data = configs
    out = tmp_path / "taken"
    out.write_text("keep me")
    err = _error(capsys, main(["train", "-m", str(model), "-d", str(data), "--out", str(out)]))
    assert str(out) in err and "is a file" in err
    assert out.read_text() == "keep me"


def test_train_disk_full_while_checkpointing(
    configs: tuple[Path, Path], tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, data = configs
    out = tmp_path / "run"
    _failing_fsync(monkeypatch, errno.ENOSPC, ".last.pt.")
    err = _error(capsys, main(["train", "-m", str(model), "-d", str(data), "--out", str(out),
                               "-q"]))  # fmt: skip
    assert err == f"error: cannot write {out / 'last.pt'}: No space left on device\n"
    assert not (out / "last.pt").exists() and not _leftovers(out)
    assert load_checkpoint(out / "best.pt")["model"]  # written before: complete, readable


def test_train_read_only_out(
    configs: tuple[Path, Path], tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, data = configs
    out = tmp_path / "run"
    out.mkdir()
    _read_only(monkeypatch, out)
    err = _error(capsys, main(["train", "-m", str(model), "-d", str(data), "--out", str(out),
                               "-q"]))  # fmt: skip
    assert err == f"error: cannot write {out / 'model.yaml'}: Read-only file system\n"
    assert list(out.iterdir()) == []


@pytest.fixture(scope="module")
def search_run(
    tmp_path_factory: pytest.TempPathFactory, factory: ModuleType
) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("search")
    return factory.make_run(root / "run", n_trials=8), factory.tiny_zoo(root / "zoo")


def _report(search_run: tuple[Path, Path], *extra: str) -> int:
    run, zoo = search_run
    return main(["report", str(run), "--zoo", str(zoo), "--no-latency", *extra])


def test_report_out_that_is_a_file(search_run: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "taken"
    out.write_text("keep me")
    err = _error(capsys, _report(search_run, "--out", str(out)))
    assert err == f"error: cannot create the folder {out}: a file of that name exists\n"
    assert out.read_text() == "keep me"


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS], ids=["disk-full", "read-only"])
def test_report_write_failure_keeps_the_old_report(
    search_run: tuple[Path, Path], tmp_path: Path, capsys, monkeypatch, code: int
) -> None:
    out = tmp_path / "report"
    assert _report(search_run, "--out", str(out)) == 0
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    if code == errno.ENOSPC:
        _failing_fsync(monkeypatch, code)
    else:
        _read_only(monkeypatch, out)
    err = _error(capsys, _report(search_run, "--out", str(out)))
    assert f"{out}{os.sep}" in err and os.strerror(code) in err
    assert not _leftovers(out)
    assert (out / "report.html").read_bytes() == before["report.html"]


def test_export_out_that_is_a_folder(run_copy: Path, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    err = _error(capsys, main(["export", str(run_copy), "--format", "torchscript",
                               "--out", str(folder), "--no-latency"]))  # fmt: skip
    assert f"--out {folder} is a folder" in err
    assert list(folder.iterdir()) == []


def test_export_under_a_file(run_copy: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "f").write_text("x")
    err = _error(capsys, main(["export", str(run_copy), "--format", "torchscript",
                               "--out", str(tmp_path / "f" / "m.pt"), "--no-latency"]))  # fmt: skip
    assert str(tmp_path / "f") in err and "a file of that name exists" in err


def test_export_disk_full_leaves_the_old_model(
    run_copy: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = run_copy / "model.pt"
    target.write_bytes(b"old model")

    def half_written(module: Any, path: str) -> None:
        Path(path).write_bytes(b"PK\x03\x04 half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch.jit, "save", half_written)
    err = _error(capsys, main(["export", str(run_copy), "--format", "torchscript",
                               "--out", str(target), "--no-latency"]))  # fmt: skip
    assert err == f"error: cannot write {target}: No space left on device\n"
    assert target.read_bytes() == b"old model" and not _leftovers(run_copy)


@pytest.mark.parametrize(
    ("option", "value"), [("--atol", "-1"), ("--rtol", "-0.5"), ("--atol", "nan")]
)
def test_export_tolerance_must_be_non_negative(
    run_copy: Path, capsys, option: str, value: str
) -> None:
    err = _error(capsys, main(["export", str(run_copy), "--format", "torchscript",
                               option, value, "--no-latency"]))  # fmt: skip
    assert f"{option} must be a number >= 0" in err
    assert not (run_copy / "model.torchscript.pt").exists()


# -- --set and --epochs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--set", "lr=[1,"], "error: --set 'lr=[1,': the value is not valid YAML"),
        (["--set", "lr=!!python/name:os.system"], "error: --set 'lr=!!python/name:os.system'"),
        (["--epochs", "0"], "error: --epochs: training key 'epochs'"),
        (["--set", "epochs=-3"], "error: --set epochs: training key 'epochs'"),
        (["--set", "device=tpu"], "error: --set device: training key 'device'"),
        (["--set", "nope=1"], "error: --set nope: unknown training key(s) ['nope']"),
        (["--set", "fp16=1", "--set", "amp=0"], "error: --set fp16 and --set amp set the same"),
    ],
)
def test_override_errors_name_the_option(
    configs: tuple[Path, Path], tmp_path: Path, capsys, args: list[str], expected: str
) -> None:
    model, data = configs
    out = tmp_path / "run"
    err = _error(capsys, main(["train", "-m", str(model), "-d", str(data), "--out", str(out),
                               *args]))  # fmt: skip
    assert err.startswith(expected)
    assert str(data) not in err.split(":")[1]  # the file is not blamed for the option
    assert not out.exists()


def test_cross_key_error_names_the_file_and_the_option(
    configs: tuple[Path, Path], tmp_path: Path, capsys
) -> None:
    model, data = configs
    err = _error(capsys, main(["train", "-m", str(model), "-d", str(data), "--out",
                               str(tmp_path / "r"), "--set", "warmup_epochs=1"]))  # fmt: skip
    assert err.startswith(f"error: {data}, --set warmup_epochs: warmup_epochs (1.0) must be below")


def test_set_amp_overrides_the_files_fp16(
    configs: tuple[Path, Path], tmp_path: Path, capsys
) -> None:
    model, data = configs
    out = tmp_path / "run"
    assert main(["train", "-m", str(model), "-d", str(data), "--out", str(out), "-q",
                 "--set", "amp=true"]) == 0  # fmt: skip
    assert yaml.safe_load((out / "train.yaml").read_text())["amp"] is True


# -- checkpoints: empty, truncated, holding objects ------------------------------------------


class Harmless:
    """A custom class in a pickle: weights_only refuses it. Were it loaded, __setstate__ would
    leave a trace (nothing worse)."""

    loaded = False

    def __setstate__(self, state: dict[str, Any]) -> None:
        Harmless.loaded = True


def _with_objects(path: Path) -> None:
    torch.save({"format": "blocknas-checkpoint/1", "model": {"w": torch.zeros(2)},
                "extra": Harmless()}, path)  # fmt: skip


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:200])


COMMANDS: dict[str, Callable[[Path], list[str]]] = {
    "evaluate": lambda run: ["evaluate", str(run)],
    "export": lambda run: ["export", str(run), "--format", "torchscript", "--no-latency"],
    "resume": lambda run: ["train", "--resume", "--out", str(run), "-q"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (_empty, "is empty (0 bytes"),
        (_truncated, "the file is truncated or damaged"),
        (_with_objects, "is not a plain weights checkpoint: it holds Python objects"),
    ],
    ids=["empty", "truncated", "objects"],
)
def test_damaged_checkpoint_is_one_line(
    run_copy: Path, capsys, command: str, damage: Callable[[Path], None], says: str
) -> None:
    name = "last.pt" if command == "resume" else "best.pt"
    damage(run_copy / name)
    err = _error(capsys, main(COMMANDS[command](run_copy)))
    assert str(run_copy / name) in err and says in err
    assert "weights_only" not in err and not Harmless.loaded


def test_weights_of_another_model_are_one_line(run_copy: Path, capsys) -> None:
    torch.save({"format": "blocknas-checkpoint/1", "model": {"w": torch.zeros(2)}},
               run_copy / "best.pt")  # fmt: skip
    err = _error(capsys, main(COMMANDS["evaluate"](run_copy)))
    assert f"{run_copy / 'best.pt'} does not hold weights of {run_copy / 'model.yaml'}" in err


# -- retrain --top: members that cannot be retrained ------------------------------------------


def _fake_train(model: Path, data: Any, out: Path, overrides: Any, **kw: Any) -> None:
    out.mkdir(parents=True, exist_ok=True)
    metrics = {"val": {"accuracy": 0.5, "macro_f1": 0.5}, "test": {"accuracy": 0.5,
               "macro_f1": 0.5}}  # fmt: skip
    (out / "metrics.json").write_text(json.dumps(metrics))


def test_retrain_top_names_the_skipped_members(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch, factory: ModuleType
) -> None:
    import blocknas.train

    monkeypatch.setattr(blocknas.train, "train_run", _fake_train)
    run = factory.make_run(tmp_path / "run", n_trials=8)
    first, second, third = top_trials(load_run_data(run), 3)
    (run / f"trials/{first.number:04d}/model.yaml").unlink()
    assert main(["retrain", str(run), "--top", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    missing = run / f"trials/{first.number:04d}/model.yaml"
    assert f"note: skipped trial {first.number}: {missing} is missing" in out
    done = [line.split(":")[0] for line in out.splitlines() if line.startswith("trial ")]
    assert done == [f"trial {second.number}", f"trial {third.number}"]  # still two retrained
    saved = json.loads((run / "retrain.json").read_text())
    assert saved["skipped"] == [{"trial": first.number, "reason": f"{missing} is missing"}]

    for folder in (run / "trials").iterdir():
        (folder / "model.yaml").unlink(missing_ok=True)
    err = _error(capsys, main(["retrain", str(run), "--top", "2", "--no-progress"]))
    assert "no completed trial can be retrained" in err


# -- the atomic writer: one error for every failed write --------------------------------------


def test_a_failed_write_is_one_error_that_is_still_an_oserror(tmp_path: Path) -> None:
    from blocknas._io import write_text
    from blocknas.errors import BlocknasError, OutputError

    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError) as info:
        write_text(tmp_path / "f" / "out.json", "{}")
    # a BlocknasError for the CLI's one line, an OSError for callers that tolerate failed writes
    assert isinstance(info.value, BlocknasError) and isinstance(info.value, OSError)
    assert info.value.errno == errno.EEXIST
    folder = tmp_path / "f"
    assert str(info.value) == f"cannot create the folder {folder}: a file of that name exists"


def test_written_files_get_the_usual_mode(tmp_path: Path) -> None:
    from blocknas._io import write_text

    (tmp_path / "plain").write_text("x")
    write_text(tmp_path / "atomic", "x")  # not the private 0600 of a temporary file
    assert (tmp_path / "atomic").stat().st_mode == (tmp_path / "plain").stat().st_mode
