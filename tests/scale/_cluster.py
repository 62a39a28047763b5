"""Real-process helpers for the scale-out tests: start workers, watch the study, kill mid-trial."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from blocknas.search.storage import ATTR_KEY, Heartbeat, open_storage
from blocknas.search.workers import WORKER_ATTR

REPO = Path(__file__).resolve().parents[2]
TOY_WORKER = Path(__file__).resolve().parent / "toy_worker.py"
FAST_HEARTBEAT = Heartbeat(interval=1, grace_period=3)


@dataclass
class Cluster:
    """Worker processes on one study, with their logs in ``logs``."""

    url: str
    study: str
    logs: Path
    procs: list[subprocess.Popen[str]] = field(default_factory=list)
    log_paths: dict[int, Path] = field(default_factory=dict)

    def create(self, n_trials: int, directions: Sequence[str] = ("maximize", "minimize")) -> None:
        """A bare study with a trial budget and a fast heartbeat (what the toy worker needs)."""
        storage = open_storage(self.url)
        study = optuna.create_study(storage=storage, study_name=self.study, directions=directions)
        study.set_user_attr(
            ATTR_KEY,
            {
                "version": 1,
                "budget": {"n_trials": n_trials, "deadline": None},
                "heartbeat": FAST_HEARTBEAT.as_attr(),
            },
        )
        storage.engine.dispose()

    def start(
        self, args: Sequence[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[str]:
        """Start ``python ARGS...`` with stdout+stderr to a log file."""
        log = self.logs / f"proc{len(self.procs)}.log"
        proc = subprocess.Popen(
            [sys.executable, *args],
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO,
            # One thread each: several workers share this machine's few cores.
            env={**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", **(env or {})},
        )
        self.log_paths[proc.pid] = log
        self.procs.append(proc)
        return proc

    def start_toy(self, *extra: str, seconds: float = 1.0) -> subprocess.Popen[str]:
        return self.start(
            [str(TOY_WORKER), "--storage", self.url, "--study", self.study,
             "--seconds", str(seconds), *extra]
        )  # fmt: skip

    def start_cli(self, *args: str) -> subprocess.Popen[str]:
        return self.start(["-m", "blocknas", *args])

    def trials(self) -> list[FrozenTrial]:
        storage = open_storage(self.url)
        try:
            return optuna.load_study(study_name=self.study, storage=storage).get_trials()
        finally:
            storage.engine.dispose()

    def wait_running(
        self, proc: subprocess.Popen[str] | None, *, min_age: float = 0.5, timeout: float = 240
    ) -> FrozenTrial:
        """A trial that ``proc`` (None: any worker) has been running for ``min_age`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None:
                assert proc.poll() is None, f"worker exited early:\n{self.log_of(proc)}"
            for t in self.trials():
                owner = str(t.user_attrs.get(WORKER_ATTR, ""))
                mine = proc is None or owner.endswith(f":{proc.pid}")
                started = t.datetime_start.timestamp() if t.datetime_start else time.time()
                if mine and t.state is TrialState.RUNNING and time.time() - started >= min_age:
                    return t
            time.sleep(0.2)
        raise AssertionError(f"no running trial within {timeout} s")

    def kill(self, proc: subprocess.Popen[str]) -> None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def wait_all(self, timeout: float = 300) -> list[int]:
        deadline = time.monotonic() + timeout
        codes = []
        for proc in self.procs:
            try:
                codes.append(proc.wait(timeout=max(1.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                raise AssertionError(
                    f"worker {proc.pid} still running:\n{self.log_of(proc)}"
                ) from None
        return codes

    def log_of(self, proc: subprocess.Popen[str]) -> str:
        return self.log_paths[proc.pid].read_text()

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)


def assert_exact_budget(trials: Sequence[FrozenTrial], n_trials: int) -> None:
    """Exactly ``n_trials`` finished, unique consecutive numbers, nothing left running or queued."""
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(trials))), numbers
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == n_trials, [(t.number, t.state.name) for t in trials]
    left = [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert left == []


def assert_retried_once(trials: Sequence[FrozenTrial], killed: FrozenTrial) -> FrozenTrial:
    """``killed`` ended FAIL and exactly one later trial re-ran its parameters to the end."""
    final = next(t for t in trials if t.number == killed.number)
    assert final.state is TrialState.FAIL
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retries) == 1, [t.number for t in retries]
    retry = retries[0]
    assert retry.number > killed.number
    # Everything the killed trial had sampled is re-run as it was (the rest is sampled anew).
    assert final.params.items() <= retry.params.items()
    assert retry.state in (TrialState.COMPLETE, TrialState.PRUNED)
    return retry


def worker_pid(trial: FrozenTrial) -> int:
    """The process id of the worker that claimed ``trial``."""
    return int(str(trial.user_attrs[WORKER_ATTR]).rsplit(":", 1)[1])
