"""Training threads: one per idle core, measured from /proc/stat; --threads and OMP_NUM_THREADS
choose instead."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import blocknas._threads as threads_module
from blocknas._threads import busy_cores, training_threads
from blocknas.cli import main
from blocknas.errors import ConfigError

STAT = """cpu  300 0 100 600 0 0 0 0 0 0
cpu0 {u0} 0 {s0} {i0} 0 0 0 0 0 0
cpu1 {u1} 0 {s1} {i1} 0 0 0 0 0 0
intr 1 2 3
"""


def _two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads_module.os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


def test_busy_cores_from_two_readings_of_proc_stat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _two_cores(monkeypatch)
    stat = tmp_path / "stat"
    readings = iter([
        STAT.format(u0=100, s0=0, i0=100, u1=50, s1=0, i1=150),
        # core 0 fully busy since (+100 busy), core 1 idle (+100 idle): one core's worth
        STAT.format(u0=180, s0=20, i0=100, u1=50, s1=0, i1=250),
    ])  # fmt: skip
    monkeypatch.setattr(threads_module, "_STAT", stat)
    monkeypatch.setattr(threads_module.time, "sleep", lambda s: stat.write_text(next(readings)))
    stat.write_text(next(readings))
    assert busy_cores() == pytest.approx(1.0)


@pytest.mark.parametrize(("busy", "expected"), [(0.0, 2), (0.4, 2), (0.9, 1), (1.8, 1)])
def test_one_thread_per_idle_core(
    busy: float, expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    _two_cores(monkeypatch)
    monkeypatch.setattr(threads_module, "busy_cores", lambda: busy)
    chosen, note = training_threads()
    assert chosen == expected
    assert (note is None) == (expected == 2)
    if note:
        assert "busy with other work" in note and "--threads" in note


def test_an_explicit_choice_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    _two_cores(monkeypatch)
    monkeypatch.setattr(threads_module, "busy_cores", lambda: 2.0)
    assert training_threads(2) == (2, None)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert training_threads() == (2, None)
    with pytest.raises(ConfigError, match="--threads 3: give 1 to 2"):
        training_threads(3)


def test_train_command_sets_the_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import blocknas.train

    _two_cores(monkeypatch)
    monkeypatch.setattr(threads_module, "busy_cores", lambda: 1.0)
    seen: list[int] = []

    def fake_run(*args: object, **kwargs: object) -> None:
        seen.append(torch.get_num_threads())
        raise ConfigError("stop here")

    monkeypatch.setattr(blocknas.train, "train_run", fake_run)
    before = torch.get_num_threads()
    try:
        argv = ["train", "-m", "m.yaml", "-d", "d.yaml", "--out", str(tmp_path / "r")]
        assert main(argv) == 2
        assert seen == [1]
        assert "note: 1 of 2 CPU cores busy" in capsys.readouterr().err
        assert main([*argv, "--threads", "0"]) == 2
        assert "--threads 0: give 1 to 2" in capsys.readouterr().err
    finally:
        torch.set_num_threads(before)
