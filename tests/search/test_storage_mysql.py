"""Study storage on a real MySQL/MariaDB server: open, create a study, the claim lock (a server
named lock) across separate engines, exact budgets with threads."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import optuna
import pytest
import sqlalchemy
from sqlalchemy.engine import make_url

from blocknas.errors import StorageError
from blocknas.search import workers
from blocknas.search.storage import Heartbeat, open_storage, open_study
from blocknas.search.workers import Budget, count_trials, run_trials

pytestmark = pytest.mark.mysql

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def study(mysql: Any) -> Iterator[optuna.Study]:
    storage = open_storage(mysql.url, heartbeat=Heartbeat(1, 3))
    name = f"s-{uuid.uuid4().hex[:8]}"
    try:
        yield optuna.create_study(storage=storage, study_name=name, directions=["maximize"])
    finally:
        storage.engine.dispose()


def _second_engine(mysql: Any, name: str) -> optuna.Study:
    """The same study through another engine, and another URL string (so that the in-process
    thread lock, keyed by URL, is not shared: only the server's lock can exclude)."""
    url = make_url(mysql.url).update_query_dict({"charset": "utf8mb4"})
    return open_study(url.render_as_string(hide_password=False), name)


def _lock_used(study: optuna.Study) -> bool:
    backend = workers._backend(study)
    name = workers._lock_name(backend.engine.url.database or "", study._study_id)
    with backend.engine.connect() as conn:
        holder = conn.execute(sqlalchemy.text("SELECT IS_USED_LOCK(:n)"), {"n": name}).scalar()
    return holder is not None


def test_open_normalises_to_pymysql_and_creates_a_study(mysql: Any, study: optuna.Study) -> None:
    backend = workers._backend(study)
    assert str(backend.url).startswith("mysql+pymysql://")
    assert backend.engine.dialect.name == "mysql"
    joined = open_study(mysql.url, study.study_name)
    assert joined._study_id == study._study_id
    workers._backend(joined).engine.dispose()


def test_claim_lock_excludes_another_engine_until_released(mysql: Any, study: optuna.Study) -> None:
    other = _second_engine(mysql, study.study_name)
    held, release, taken = threading.Event(), threading.Event(), threading.Event()

    def holder() -> None:
        with workers._claim_lock(study):
            held.set()
            release.wait(30)

    def contender() -> None:
        with workers._claim_lock(other):
            taken.set()

    first = threading.Thread(target=holder)
    first.start()
    assert held.wait(30)
    assert _lock_used(study)
    second = threading.Thread(target=contender)
    second.start()
    assert not taken.wait(1.5)  # blocked by the server's lock, not by a lock in this process
    release.set()
    first.join(30)
    assert taken.wait(30)
    second.join(30)
    assert not _lock_used(study)  # released, not left to the pool
    workers._backend(other).engine.dispose()


def test_claim_waits_through_lock_timeouts_and_a_dead_holder_frees_it(
    mysql: Any, study: optuna.Study, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workers, "_NAMED_LOCK_WAIT_S", 1)  # GET_LOCK returns 0 every second
    backend = workers._backend(study)
    name = workers._lock_name(backend.engine.url.database or "", study._study_id)
    outside = open_storage(mysql.url).engine  # another worker, which then dies
    conn = outside.connect()
    assert conn.execute(sqlalchemy.text("SELECT GET_LOCK(:n, 0)"), {"n": name}).scalar() == 1
    claimed: list[object] = []
    thread = threading.Thread(
        target=lambda: claimed.append(workers.claim_trial(study, Budget(n_trials=1)))
    )
    thread.start()
    time.sleep(2.5)  # a few GET_LOCK timeouts
    assert claimed == [] and study.trials == []
    conn.invalidate()  # the holder's connection dies: the server releases its lock
    outside.dispose()
    thread.join(60)
    assert len(claimed) == 1 and claimed[0] is not None
    assert len(study.trials) == 1


def test_run_trials_threads_meet_budget_exactly(study: optuna.Study) -> None:
    def objective(trial: optuna.Trial) -> float:
        return trial.suggest_float("x", 0.0, 1.0)

    assert run_trials(study, objective, Budget(n_trials=6), n_jobs=3, poll_interval=0.05) == 6
    counts = count_trials(study)
    assert (counts.finished, counts.running, counts.waiting) == (6, 0, 0)


def test_wrong_password_is_one_masked_line(mysql: Any) -> None:
    url = make_url(mysql.url).set(password="Wr0ngPassw0rd")
    with pytest.raises(StorageError) as info:
        open_storage(url.render_as_string(hide_password=False))
    message = str(info.value)
    assert "wrong user or password" in message and "\n" not in message
    assert "Wr0ngPassw0rd" not in message and "blocknas:***@" in message


def test_stale_trial_is_failed_and_its_params_retried_once(study: optuna.Study) -> None:
    from optuna.trial import TrialState

    lost = workers.claim_trial(study, Budget(n_trials=2))
    assert lost is not None
    x = lost.suggest_float("x", 0.0, 1.0)  # then its worker dies: no more heartbeats
    time.sleep(4.2)  # past the grace period (3 s), by the server's clock
    retry = workers.claim_trial(study, Budget(n_trials=2), poll_interval=0.1)
    assert retry is not None and retry.number != lost.number
    assert study.trials[lost.number].state is TrialState.FAIL
    assert retry.params == {"x": x}
    assert study.trials[retry.number].system_attrs["failed_trial"] == lost.number
