"""Real blocknas workers training real (tiny) models, in real processes, on real databases:

(a) three `blocknas worker`s on one PostgreSQL study finish exactly the trial budget;
(b) one of them SIGKILLed mid-trial: the study still finishes, the killed trial failed and re-run;
(c) the database restarted mid-search: the workers reconnect and nothing finished is lost;
(d) SQLite with `blocknas search --n-jobs 2` does (a) and (b) on one machine;
(e) SIGTERM (a scheduler stopping the job) on a worker or a search: running trials are handed
    back at once, not after the grace period.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from _cluster import Cluster, assert_exact_budget, assert_retried_once, worker_pid
from optuna.trial import TrialState

TINY = Path(__file__).resolve().parent / "digits_tiny.yaml"
BUDGET = 4

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _create(cluster: Cluster, n_trials: int = BUDGET, grace_period: int = 3) -> None:
    proc = cluster.start_cli(
        "study", "create", str(TINY), "--storage", cluster.url, "--study", cluster.study,
        "--n-trials", str(n_trials), "--heartbeat-interval", "1",
        "--grace-period", str(grace_period),
    )  # fmt: skip
    assert proc.wait(timeout=120) == 0, cluster.log_of(proc)


def _workers(cluster: Cluster, n: int = 3) -> list:
    return [cluster.start_cli("worker", "--storage", cluster.url, "--study", cluster.study)
            for _ in range(n)]  # fmt: skip


def _assert_all_ok(cluster: Cluster, procs: list) -> None:
    for proc in procs:
        assert proc.wait(timeout=600) == 0, cluster.log_of(proc)
        assert "Traceback" not in cluster.log_of(proc)


@pytest.mark.postgres
def test_a_three_workers_finish_exact_budget(postgres_cluster: Cluster) -> None:
    cluster = postgres_cluster
    _create(cluster)
    procs = _workers(cluster)
    _assert_all_ok(cluster, procs)
    trials = cluster.trials()
    assert_exact_budget(trials, BUDGET)
    assert all(t.user_attrs.get("model_yaml") for t in trials if t.state is TrialState.COMPLETE)


@pytest.mark.postgres
def test_b_killed_worker_trial_failed_and_retried(postgres_cluster: Cluster) -> None:
    cluster = postgres_cluster
    _create(cluster)
    victim, *others = _workers(cluster)
    killed = cluster.wait_running(victim, min_age=1.0)
    cluster.kill(victim)
    _assert_all_ok(cluster, others)
    trials = cluster.trials()
    assert_exact_budget(trials, BUDGET)
    retry = assert_retried_once(trials, killed)
    assert worker_pid(retry) != victim.pid


@pytest.mark.postgres
def test_c_database_restart_mid_search(postgres_cluster: Cluster, postgres) -> None:
    cluster = postgres_cluster
    _create(cluster, n_trials=5)
    procs = _workers(cluster)
    cluster.wait_running(None, min_age=0.5)
    finished_before = _finished_when(cluster, at_least=1)
    postgres.down()
    try:
        time.sleep(4)
    finally:
        postgres.up()
    _assert_all_ok(cluster, procs)
    trials = cluster.trials()
    assert_exact_budget(trials, 5)
    after = {t.number: t.values for t in trials if t.state is TrialState.COMPLETE}
    assert finished_before.items() <= after.items()


def _finished_when(cluster: Cluster, at_least: int, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = {t.number: t.values for t in cluster.trials() if t.state is TrialState.COMPLETE}
        if len(done) >= at_least:
            return done
        time.sleep(0.3)
    raise AssertionError("no trial finished")


def _search(cluster: Cluster, out: Path, *extra: str):
    return cluster.start_cli(
        "search", str(TINY), "--n-jobs", "2", "--n-trials", str(BUDGET), "--out", str(out),
        "--quiet", *extra,
    )  # fmt: skip


def _search_created_study(cluster: Cluster, out: Path):
    """``_search`` on the cluster's study, created beforehand (``_create``)."""
    return _search(cluster, out, "--storage", cluster.url, "--study", cluster.study, "--resume")


def test_d_sqlite_two_jobs_exact_budget(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cluster = Cluster(f"sqlite:///{out / 'study.db'}", "digits-tiny", tmp_path)
    try:
        _assert_all_ok(cluster, [_search(cluster, out)])
        trials = cluster.trials()
        assert_exact_budget(trials, BUDGET)
        assert len({worker_pid(t) for t in trials}) <= 2
        assert (out / "pareto.csv").is_file()
    finally:
        cluster.stop_all()


def test_d_sqlite_two_jobs_killed_worker_retried(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    cluster = Cluster(f"sqlite:///{out / 'study.db'}", "digits-tiny", tmp_path)
    try:
        _create(cluster)
        search = _search_created_study(cluster, out)
        killed = cluster.wait_running(None, min_age=1.0)
        os.kill(worker_pid(killed), signal.SIGKILL)  # one of the search's worker processes
        _assert_all_ok(cluster, [search])
        trials = cluster.trials()
        assert_exact_budget(trials, BUDGET)
        retry = assert_retried_once(trials, killed)
        assert worker_pid(retry) != worker_pid(killed)
    finally:
        cluster.stop_all()


def _assert_handed_back(cluster: Cluster, proc, running) -> None:
    """``proc`` ended on SIGTERM with one line, its trial ``running`` failed and queued again."""
    assert proc.wait(timeout=120) == 143, cluster.log_of(proc)
    log = cluster.log_of(proc)
    assert "terminated" in log and "Traceback" not in log, log
    trials = cluster.trials()
    assert trials[running.number].state is TrialState.FAIL
    queued = [t for t in trials if t.system_attrs.get("failed_trial") == running.number]
    assert [t.state for t in queued] == [TrialState.WAITING]


def test_e_sigterm_on_a_worker_hands_its_trial_back(tmp_path: Path) -> None:
    cluster = Cluster(f"sqlite:///{tmp_path / 'study.db'}", "digits-tiny", tmp_path)
    try:
        # A grace period longer than the test: only the worker itself can hand the trial back.
        _create(cluster, grace_period=3600)
        victim = cluster.start_cli("worker", "--storage", cluster.url, "--study", cluster.study)
        running = cluster.wait_running(victim, min_age=1.0)
        victim.send_signal(signal.SIGTERM)
        _assert_handed_back(cluster, victim, running)
        _assert_all_ok(cluster, _workers(cluster, n=1))
        trials = cluster.trials()
        assert_exact_budget(trials, BUDGET)
        assert_retried_once(trials, running)
    finally:
        cluster.stop_all()


def test_e_sigterm_on_a_search_reaches_its_worker_processes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    cluster = Cluster(f"sqlite:///{out / 'study.db'}", "digits-tiny", tmp_path)
    try:
        _create(cluster, grace_period=3600)
        search = _search_created_study(cluster, out)
        running = cluster.wait_running(None, min_age=1.0)
        search.send_signal(signal.SIGTERM)  # the search only, not its worker processes
        _assert_handed_back(cluster, search, running)
        assert not any(t.state is TrialState.RUNNING for t in cluster.trials())
        _assert_all_ok(cluster, [_search_created_study(cluster, out)])
        assert_exact_budget(cluster.trials(), BUDGET)
    finally:
        cluster.stop_all()


@pytest.mark.postgres
def test_f_workers_continue_paused_trials_in_a_shared_run_folder(
    postgres_cluster: Cluster, tmp_path: Path
) -> None:
    import yaml

    cluster = postgres_cluster
    raw = yaml.safe_load(TINY.read_text())
    raw["train"]["epochs"] = 4
    raw["early_stopping"] = {"min_epochs": 1, "max_epochs": 4, "eta": 2}  # promotion form
    config = tmp_path / "promotion.yaml"
    config.write_text(yaml.safe_dump(raw))
    out = tmp_path / "shared-run"
    proc = cluster.start_cli(
        "study", "create", str(config), "--storage", cluster.url, "--study", cluster.study,
        "--n-trials", "8", "--heartbeat-interval", "1", "--grace-period", "3",
        "--out", str(out),
    )  # fmt: skip
    assert proc.wait(timeout=120) == 0, cluster.log_of(proc)
    _assert_all_ok(cluster, _workers(cluster, n=2))
    trials = cluster.trials()
    by_number = {t.number: t for t in trials}
    candidates = [t for t in trials if "continues" not in t.user_attrs]
    follow = [t for t in trials if "continues" in t.user_attrs]
    assert len(candidates) == 8
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert follow and len({t.user_attrs["continues"] for t in follow}) == len(follow)
    for t in follow:
        paused = by_number[t.user_attrs["continues"]]
        assert paused.params == t.params and paused.user_attrs["paused_at_rung"] >= 1
        checkpoint = Path(paused.user_attrs["checkpoint"])
        assert checkpoint.parent.parent.parent == out.resolve()
    assert any(t.state is TrialState.COMPLETE and t.user_attrs["epochs"] == 4 for t in follow)
