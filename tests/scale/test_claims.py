"""The claim / heartbeat / retry protocol of blocknas.search.workers in real processes with a toy
objective (no training), for what the real workers of test_workers.py cannot show quickly:
SIGKILL recovery of a process running trials in threads, exact budgets with two processes on each
database server (PostgreSQL, MySQL/MariaDB), and a database outage longer than the workers wait
(they exit with one clear line; a new worker resumes without losing anything)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from _cluster import Cluster, assert_exact_budget, assert_retried_once, worker_pid
from optuna.trial import TrialState
from sqlalchemy.engine import make_url

from blocknas.search.workers import WORKER_ATTR

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_sqlite_two_threads_per_process_killed_and_retried(sqlite_cluster: Cluster) -> None:
    cluster = sqlite_cluster
    cluster.create(n_trials=6)
    victim = cluster.start_toy("--n-jobs", "2", seconds=4.0)
    other = cluster.start_toy("--n-jobs", "2", seconds=0.5)
    cluster.wait_running(victim, min_age=1.0)
    cluster.kill(victim)
    assert other.wait(timeout=240) == 0, cluster.log_of(other)
    trials = cluster.trials()
    assert_exact_budget(trials, 6)
    killed = [
        t for t in trials if t.user_attrs[WORKER_ATTR].endswith(f":{victim.pid}")
        and t.system_attrs.get("failed_trial") is None and t.state is TrialState.FAIL
    ]  # fmt: skip
    assert killed, "the killed worker left no failed trial"
    for trial in killed:  # both of its threads' trials, when both were running
        retry = assert_retried_once(trials, trial)
        assert retry.user_attrs[WORKER_ATTR].endswith(f":{other.pid}")


def _finished(cluster: Cluster) -> dict[int, tuple[float, ...]]:
    return {
        t.number: tuple(t.values)
        for t in cluster.trials()
        if t.state is TrialState.COMPLETE and t.values is not None
    }


def _wait_finished(cluster: Cluster, n: int, timeout: float = 120) -> dict[int, tuple[float, ...]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = _finished(cluster)
        if len(done) >= n:
            return done
        time.sleep(0.3)
    raise AssertionError(f"fewer than {n} trials finished in {timeout} s")


def test_two_worker_processes_finish_exact_budget(server_cluster: tuple[Cluster, object]) -> None:
    cluster, _ = server_cluster
    cluster.create(n_trials=8)
    procs = [cluster.start_toy(seconds=0.3) for _ in range(2)]
    assert cluster.wait_all() == [0, 0], [cluster.log_of(p) for p in procs]
    trials = cluster.trials()
    assert_exact_budget(trials, 8)
    assert {worker_pid(t) for t in trials} <= {p.pid for p in procs}
    ran = [int(cluster.log_of(p).split("ran ")[-1]) for p in procs]  # each worker's own count
    assert sum(ran) == 8, ran


def test_long_outage_clear_exit_then_resume(server_cluster: tuple[Cluster, Any]) -> None:
    cluster, server = server_cluster
    cluster.create(n_trials=6)
    first = [cluster.start_toy("--reconnect-timeout", "2", seconds=1.0) for _ in range(2)]
    before = _wait_finished(cluster, 2)
    server.down()
    try:
        codes = [proc.wait(timeout=60) for proc in first]
    finally:
        server.up()
    assert codes == [2, 2]
    for proc in first:
        log = cluster.log_of(proc)
        assert "Traceback" not in log
        errors = [line for line in log.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "lost the database" in errors[0], log
        assert make_url(cluster.url).password not in log  # the password never shows
    cluster.start_toy(seconds=0.5)
    assert cluster.wait_all()[-1] == 0
    assert before.items() <= _finished(cluster).items()
    assert_exact_budget(cluster.trials(), 6)
