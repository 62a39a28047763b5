"""Hostile input to `blocknas search` and to the commands that open a search's study: each case
is one line "error: ..." and exit status 2 (or the right behaviour), no traceback, no run
folder left by a search that failed before its first trial, and no stored file changed."""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from _search_helpers import REPO, tiny

from blocknas.cli import main
from blocknas.errors import StorageError, TrainingError
from blocknas.search import create_search_study, load_search_config, run_search

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _write(tmp_path: Path, raw: dict[str, Any], name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw))
    return path


def _one_error(status: int, capsys: pytest.CaptureFixture[str]) -> str:
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2, (out, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in out + err
    return lines[0]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2-trial search run folder (do not change it)."""
    tmp = tmp_path_factory.mktemp("finished")
    run_search(_write(tmp, tiny()), out_dir=tmp / "run", n_trials=2, progress=False,
               report=False)  # fmt: skip
    return tmp / "run"


# --------------------------------------------------------------------------- refused up front


def _hook_file(tmp_path: Path) -> str:
    (tmp_path / "extra.py").write_text("def hook(trial, candidate):\n    pass\n")
    return "extra.py:hook"


@pytest.mark.parametrize(
    ("raw", "options", "phrase"),
    [
        (tiny(), ["--device", "cuda:7"], "cuda:7"),
        (tiny(), ["--device", "banana"], "'banana' is not a device name"),
        (tiny(train={"epochs": 1, "device": "cuda:7"}), [], "cuda:7"),
        (tiny(space={}), [], "space: no model to sample"),
        (tiny(), ["--threads", "0"], "--threads 0: give 1 to"),
        (tiny(), ["--threads", "100000"], "--threads 100000: give 1 to"),
        (tiny(), ["--study", "../../x"], "--study '../../x': a study name is a plain name"),
        (tiny(), ["--study", ".."], "a study name is a plain name"),
        (tiny(), ["--warm-start", "no-such-run"], "--warm-start no-such-run"),
        (tiny(), ["--storage", "postgresql://u:pw@127.0.0.1:1/db"], "unreachable"),
        ("hook", [], "'extra.py:hook'"),
    ],
    ids=["cuda7", "banana", "config-device", "empty-space", "threads-0", "threads-huge",
         "study-path", "study-dotdot", "warm-start", "unreachable-storage", "hook"],
)  # fmt: skip
def test_refused_before_anything_is_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], raw: Any, options: list[str], phrase: str
) -> None:
    import torch

    if raw == "hook":
        raw = tiny(hook=_hook_file(tmp_path))
    if "cuda:7" in phrase and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    out = tmp_path / "deep" / "run"
    status = main(["search", str(_write(tmp_path, raw)), "--out", str(out), "-q", *options])
    line = _one_error(status, capsys)
    assert phrase in line
    assert not (tmp_path / "deep").exists()
    if raw.get("hook"):
        assert "--allow-hook" in line


def test_the_hook_runs_with_allow_hook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "extra.py").write_text(
        "def hook(trial, candidate):\n"
        "    trial.set_user_attr('hook_ran', True)\n"
    )  # fmt: skip
    raw = tiny(hook="extra.py:hook")
    out = tmp_path / "run"
    argv = ["search", str(_write(tmp_path, raw)), "--out", str(out), "--n-trials", "1",
            "--no-report", "--allow-hook"]  # fmt: skip
    assert main(argv) == 0
    text = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    assert "note: trials run the Python hook 'extra.py:hook'" in text
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{out / 'study.db'}")
    assert all(t.user_attrs.get("hook_ran") for t in study.trials)


@pytest.mark.parametrize("command", [["inspect", "MODEL"], ["export", "MODEL"]])
@pytest.mark.parametrize("threads", ["0", "100000"])
def test_threads_are_checked_by_every_command(
    command: list[str], threads: str, capsys: pytest.CaptureFixture[str]
) -> None:
    model = str(REPO / "configs" / "models" / "resnet8.yaml")
    argv = [model if a == "MODEL" else a for a in command]
    line = _one_error(main([*argv, "--threads", threads]), capsys)
    assert f"--threads {threads}: give 1 to" in line


def test_empty_out_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    line = _one_error(main(["search", str(_write(tmp_path, tiny())), "--out", "", "-q"]), capsys)
    assert "--out is empty" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_out_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("mine")
    argv = ["search", str(_write(tmp_path, tiny())), "--out", str(blocker), "-q"]
    assert "cannot create the run folder: it is a file" in _one_error(main(argv), capsys)
    assert blocker.read_text() == "mine"


def test_full_disk_before_the_first_trial_leaves_no_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import blocknas._io

    def full(*_: Any, **__: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(blocknas._io, "write_text", full)
    out = tmp_path / "run"
    argv = ["search", str(_write(tmp_path, tiny())), "--out", str(out), "-q"]
    assert "No space left on device" in _one_error(main(argv), capsys)
    assert not out.exists()


def test_study_create_refuses_a_budget_of_no_trials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    config = str(_write(tmp_path, tiny()))
    for n in ("0", "-3"):
        argv = ["study", "create", config, "--storage", url, "--n-trials", n]
        assert "--n-trials must be >= 1" in _one_error(main(argv), capsys)
    argv = ["study", "create", config, "--storage", url, "--study", "a/b"]
    assert "plain name" in _one_error(main(argv), capsys)
    assert not (tmp_path / "shared.db").exists()


# --------------------------------------------------------------------------- run folders


def test_a_search_refuses_a_training_run_and_training_refuses_a_search(
    tmp_path: Path, finished: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from blocknas.train import train_run

    trained = tmp_path / "trained"
    trained.mkdir()
    (trained / "train.yaml").write_text("epochs: 1\n")
    argv = ["search", str(_write(tmp_path, tiny())), "--out", str(trained), "-q"]
    assert "holds a training run (train.yaml)" in _one_error(main(argv), capsys)
    assert sorted(p.name for p in trained.iterdir()) == ["train.yaml"]
    before = sorted(p.name for p in finished.iterdir())
    with pytest.raises(Exception, match=r"holds a search run \(search.yaml\)"):
        train_run("model.yaml", "data.yaml", finished)
    assert sorted(p.name for p in finished.iterdir()) == before


def test_a_second_search_on_a_folder_in_use_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The lock is held for a search's lifetime and released by the kernel when it dies, so a
    killed search resumes at once."""
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time\n"
         f"fd = os.open({str(out / 'search.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\n"
         "os.write(fd, str(os.getpid()).encode())\n"
         "print('held', flush=True)\n"
         "time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        argv = ["search", str(_write(tmp_path, tiny())), "--out", str(out), "-q", "--no-report",
                "--n-trials", "1"]  # fmt: skip
        line = _one_error(main(argv), capsys)
        assert f"in use by another search (process {holder.pid})" in line
        assert sorted(p.name for p in out.iterdir()) == ["search.lock"]
    finally:
        holder.kill()  # as a SIGKILLed search: nothing releases the lock but the kernel
        holder.wait()
    assert main(argv) == 0


# --------------------------------------------------------------------------- resuming


def test_resume_keeps_the_stored_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(_write(tmp_path, tiny(n_trials=3)))
    out = tmp_path / "run"
    assert main(["search", config, "--out", str(out), "--n-trials", "1", "--no-report"]) == 0
    capsys.readouterr()
    assert main(["search", config, "--out", str(out), "--resume", "--no-report"]) == 0
    assert "budget 1 trials" in capsys.readouterr().out
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{out / 'study.db'}")
    assert len(study.trials) == 1


@pytest.mark.parametrize(
    "damage", [b"name: [unclosed\n", b"- a list\n- not a mapping\n", b"\xff\xfe\x00binary"],
    ids=["bad-yaml", "a-list", "binary"],
)  # fmt: skip
def test_resume_with_a_damaged_search_yaml(
    tmp_path: Path, finished: Path, capsys: pytest.CaptureFixture[str], damage: bytes
) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / "search.yaml").write_bytes(damage)
    before = _digest(run / "study.db")
    argv = ["search", str(_write(tmp_path, tiny())), "--out", str(run), "--resume", "-q"]
    assert "search.yaml" in _one_error(main(argv), capsys)
    assert _digest(run / "study.db") == before


# --------------------------------------------------------------------------- failures


def test_a_search_whose_every_trial_failed_exits_with_an_error(tmp_path: Path) -> None:
    from blocknas.search._preflight import check_some_finished
    from blocknas.search.storage import open_storage

    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    study = create_search_study(load_search_config(tiny()), storage=storage, n_trials=2)
    for _ in range(3):
        trial = study.ask()
        trial.set_user_attr("fail_reason", "unbuildable: too small")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    with pytest.raises(TrainingError) as caught:
        check_some_finished(study, tmp_path)
    message = str(caught.value)
    assert "all 3 failed" in message and "unbuildable: too small" in message
    assert str(tmp_path / "trials") in message
    trial = study.ask()
    study.tell(trial, [0.5, 100])
    check_some_finished(study, tmp_path)  # one finished trial: a result


def test_every_trial_failing_in_worker_processes_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.py").write_text(
        "def hook(trial, candidate):\n"
        "    candidate.model['backbone'].insert(-3, [1, 'MaxPool', {'kernel': 16}])\n"
    )  # fmt: skip
    out = tmp_path / "run"
    argv = ["search", str(_write(tmp_path, tiny(hook="bad.py:hook"))), "--out", str(out),
            "-q", "--no-report", "--n-jobs", "2", "--allow-hook"]  # fmt: skip
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert "no trial finished" in err.splitlines()[-1] and "metrics.json" in err
    assert (out / "trials").is_dir()  # the failures' records are kept


def test_a_failed_report_is_an_error_even_when_quiet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import blocknas.report

    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("plotting broke")

    monkeypatch.setattr(blocknas.report, "write_report", broken)
    out = tmp_path / "run"
    argv = ["search", str(_write(tmp_path, tiny())), "--out", str(out), "-q", "--n-trials", "1"]
    line = _one_error(main(argv), capsys)
    assert "no report written (RuntimeError: plotting broke)" in line
    assert "blocknas report" in line and (out / "pareto.csv").is_file()


def test_a_vanished_database_is_said_to_be_gone(tmp_path: Path) -> None:
    from blocknas.search.storage import open_study
    from blocknas.search.workers import Budget, run_trials

    db = tmp_path / "study.db"
    url = f"sqlite:///{db}"
    create_search_study(load_search_config(tiny()), storage=url, study_name="s", n_trials=9)
    study = open_study(url, "s")
    seen: list[int] = []

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        seen.append(trial.number)
        if len(seen) == 2:
            db.unlink()
        return 0.5, 100.0

    start = time.monotonic()
    with pytest.raises(StorageError, match="is gone") as caught:
        run_trials(study, objective, Budget(n_trials=9), reconnect_timeout=60)
    assert "finished trials are kept" not in str(caught.value)
    assert time.monotonic() - start < 30  # not the reconnect timeout: nothing to wait for


# --------------------------------------------------------------------------- opening to read


@pytest.mark.parametrize("content", [b"", None, "other"], ids=["empty", "missing", "foreign"])
@pytest.mark.parametrize("command", ["report", "pick"])
def test_reading_commands_never_write_a_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | str | None, command: str
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    db = run / "study.db"
    if content == "other":
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE notes (text TEXT)")
        conn.close()
    elif content is not None:
        db.write_bytes(content)
    before = _digest(db) if db.exists() else None
    argv = [command, str(run)] + (["--best-accuracy"] if command == "pick" else [])
    _one_error(main(argv), capsys)
    assert (_digest(db) if db.exists() else None) == before
    assert sorted(p.name for p in run.iterdir()) == (["study.db"] if before else [])


def test_study_status_on_an_empty_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "study.db"
    db.write_bytes(b"")
    argv = ["study", "status", "--storage", f"sqlite:///{db}", "--study", "x"]
    assert "is empty (0 bytes)" in _one_error(main(argv), capsys)
    assert db.read_bytes() == b""


# --------------------------------------------------------------------------- signals


def _running(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM trials WHERE state='RUNNING'").fetchone()[0])


@pytest.mark.slow
def test_sigint_to_the_search_alone_stops_its_worker_processes(tmp_path: Path) -> None:
    """Ctrl-C from a terminal reaches every process of the group; `kill -INT PID` only the
    search, which passes it on: the running trials are handed back and nothing goes on."""
    raw = tiny(n_trials=40, train={"epochs": 30, "optimizer": "adamw", "lr": 0.01})
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    search = subprocess.Popen(
        [sys.executable, "-m", "blocknas", "search", str(_write(tmp_path, raw)), "--out",
         str(out), "--n-jobs", "2", "--threads", "1", "-q", "--no-report"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if (out / "study.db").is_file() and _running(out / "study.db") >= 2:
            break
        assert search.poll() is None, search.communicate()
        time.sleep(0.5)
    search.send_signal(signal.SIGINT)  # the search alone, not its process group
    stopped = time.monotonic()
    _, err = search.communicate(timeout=60)
    assert search.returncode == 130, err
    assert time.monotonic() - stopped < 30  # not the ~minutes the remaining trials would take
    assert "Traceback" not in err
    time.sleep(1)
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{out / 'study.db'}")
    states = [t.state for t in study.trials]
    assert optuna.trial.TrialState.RUNNING not in states
    assert sum(s is optuna.trial.TrialState.COMPLETE for s in states) < 40
    workers = {int(str(t.user_attrs["worker"]).rsplit(":", 1)[1]) for t in study.trials
               if "worker" in t.user_attrs}  # fmt: skip
    for pid in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
