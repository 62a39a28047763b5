"""blocknas.search.storage and .workers in one process: URLs, budgets, config matching, claims,
heartbeats."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy.exc
import yaml
from optuna.trial import TrialState

from blocknas.errors import StorageError
from blocknas.search import load_search_config
from blocknas.search.storage import (
    ATTR_KEY,
    CONTINUES_ATTR,
    Heartbeat,
    MaskingFilter,
    check_space_matches,
    is_continuation,
    mask_url,
    open_storage,
    open_study,
    set_heartbeat,
    validate_storage_url,
)
from blocknas.search.workers import (
    WORKER_ATTR,
    Budget,
    claim_trial,
    count_trials,
    describe_progress,
    keep_alive,
    parse_deadline,
    run_trials,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)

TINY_CONFIG = Path(__file__).resolve().parents[1] / "scale" / "digits_tiny.yaml"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://nas:s3cret@db:5432/nas", "postgresql://nas:***@db:5432/nas"),
        ("postgresql+psycopg://nas:p%40ss@db/nas", "postgresql+psycopg://nas:***@db/nas"),
        ("postgresql://nas:p@ss@db/nas", "postgresql://nas:***@db/nas"),  # unencoded "@"
        ("postgresql://nas@db/nas", "postgresql://nas@db/nas"),
        ("postgresql://db/nas?password=s3cret&sslmode=require",
         "postgresql://db/nas?password=***&sslmode=require"),
        ("sqlite:///runs/a/study.db", "sqlite:///runs/a/study.db"),
        ("lost postgresql://a:x1@h/d and mysql://b:x2@h/d", "lost postgresql://a:***@h/d and mysql://b:***@h/d"),
    ],
)  # fmt: skip
def test_mask_url_hides_every_password(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_masking_filter_masks_formatted_records() -> None:
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "opened %s", ("postgresql://u:pw@h/db",), None
    )
    assert MaskingFilter().filter(record)
    assert record.getMessage() == "opened postgresql://u:***@h/db"


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("postgresql://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
        ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql+psycopg://u:p%40x@h/db", "postgresql+psycopg://u:p%40x@h/db"),
        ("  sqlite:///runs/x/study.db ", "sqlite:///runs/x/study.db"),
        ("mysql://u:p@h:3306/db", "mysql+pymysql://u:p@h:3306/db"),
        ("mariadb://u:p%40x@h/db", "mariadb+pymysql://u:p%40x@h/db"),
        ("mysql+pymysql://u:p@h/db?charset=utf8mb4", "mysql+pymysql://u:p@h/db?charset=utf8mb4"),
        ("mysql+mysqldb://u:p@h/db", "mysql+mysqldb://u:p@h/db"),
        ("mariadb+mariadbconnector://u:p@h/db", "mariadb+mariadbconnector://u:p@h/db"),
        ("mysql://u:p@/db?unix_socket=/run/mysqld/mysqld.sock",
         "mysql+pymysql://u:p@/db?unix_socket=%2Frun%2Fmysqld%2Fmysqld.sock"),
    ],
)  # fmt: skip
def test_validate_storage_url_normalises(url: str, normalised: str) -> None:
    assert validate_storage_url(url) == normalised


@pytest.mark.parametrize(
    ("url", "phrase"),
    [
        ("mysql://u:Secr3t@h:70000/db", "port 70000 out of range 1-65535"),
        ("mysql://u:Secr3t@h:port/db", "bad port number"),
        ("mariadb://u:Secr3t@x@h/db", "percent-encode '@'"),
        ("mysql://u:Secr3t@h:3306", "names no database"),
        ("mysql://u:Secr3t@:3306/db", "bad host"),
        ("mysql+odbc://u:Secr3t@h/db", "unsupported MySQL/MariaDB driver 'odbc'"),
        ("oracle://u:Secr3t@h/db", "scheme 'oracle'"),
        ("mongodb+srv://u:Secr3t@h/db", "supported: sqlite, postgresql, mysql/mariadb"),
    ],
)
def test_validate_storage_url_rejects_in_one_masked_line(url: str, phrase: str) -> None:
    with pytest.raises(StorageError) as info:
        validate_storage_url(url)
    message = str(info.value)
    assert phrase in message
    assert "Secr3t" not in message and "\n" not in message


def _pymysql_error(code: int, text: str) -> sqlalchemy.exc.OperationalError:
    pymysql = pytest.importorskip("pymysql")
    return sqlalchemy.exc.OperationalError("SELECT 1", {}, pymysql.err.OperationalError(code, text))


@pytest.mark.parametrize(
    ("code", "text", "reason"),
    [
        (1045, "Access denied for user 'u'@'h' (using password: YES)",
         "wrong user or password (Access denied for user 'u'@'h' (using password: YES))"),
        (2003, "Can't connect to MySQL server on 'h' ([Errno 111] Connection refused)",
         "database server unreachable (Can't connect to MySQL server on 'h' ([Errno 111] "
         "Connection refused))"),
        (2003, "Can't connect to MySQL server on 'h' (timed out)",
         "database server unreachable (Can't connect to MySQL server on 'h' (timed out))"),
        (1049, "Unknown database 'nope'", 'database "nope" does not exist'),
        (1044, "Access denied for user 'u'@'h' to database 'nope'",
         "no such database, or no access to it (Access denied for user 'u'@'h' to database "
         "'nope')"),
        (1045, "Access denied for user 'Secr3t'", "wrong user or password (Access denied for user "
         "'***')"),
    ],
)  # fmt: skip
def test_mysql_driver_errors_get_the_postgresql_reasons(code: int, text: str, reason: str) -> None:
    from blocknas.search.storage import _reason

    assert _reason(_pymysql_error(code, text), "mysql+pymysql://u:Secr3t@h/db") == reason


def test_pymysql_lost_connection_is_a_connection_error() -> None:
    from blocknas.search.storage import _is_connection_error

    pymysql = pytest.importorskip("pymysql")
    for code in (2006, 2013):  # server gone away, lost connection: raw and wrapped by SQLAlchemy
        assert _is_connection_error(pymysql.err.OperationalError(code, "Lost connection"))
        assert _is_connection_error(_pymysql_error(code, "Lost connection"))
    assert _is_connection_error(pymysql.err.InterfaceError(0, ""))  # closed connection
    assert not _is_connection_error(pymysql.err.OperationalError(1205, "Lock wait timeout"))
    assert not _is_connection_error(pymysql.err.ProgrammingError(1064, "syntax"))


def test_mysql_engine_gets_its_drivers_connect_timeout() -> None:
    from blocknas.search.storage import _engine_kwargs

    pymysql = _engine_kwargs("mysql+pymysql://u:p@h/db", 2.5)
    assert pymysql == {"pool_pre_ping": True, "connect_args": {"connect_timeout": 3}}
    connector = _engine_kwargs("mariadb+mysqlconnector://u:p@h/db", 4)
    assert connector["connect_args"] == {"connection_timeout": 4}


def test_missing_mysql_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pymysql", None)  # `import pymysql` raises ImportError
    with pytest.raises(StorageError) as info:
        open_storage("mysql://u:Secr3t@127.0.0.1:1/db")
    message = str(info.value)
    assert "pip install 'blocknas[mysql]'" in message and "mysql://u:***@127.0.0.1:1/db" in message
    assert "Secr3t" not in message


def test_heartbeat_needs_grace_above_interval() -> None:
    with pytest.raises(StorageError, match="grace period"):
        Heartbeat(interval=10, grace_period=10)


def test_parse_deadline_durations_and_iso_times() -> None:
    now = 1_000_000.0
    assert parse_deadline("90m", now=now) == now + 5400
    assert parse_deadline("2d", now=now) == now + 172800
    assert parse_deadline("1.5h", now=now) == now + 5400
    later = parse_deadline("2100-01-01T00:00+00:00", now=now)
    assert later == 4102444800.0
    with pytest.raises(StorageError, match="in the past"):
        parse_deadline("2000-01-01T00:00", now=time.time())
    with pytest.raises(StorageError, match="neither a duration"):
        parse_deadline("tomorrow", now=now)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'study.db'}"


def _study(
    url: str, record: dict | None = None, heartbeat: Heartbeat | None = None
) -> optuna.Study:
    storage = open_storage(url, heartbeat=heartbeat)
    study = optuna.create_study(storage=storage, study_name="s", directions=["maximize"])
    if record is not None:
        study.set_user_attr(ATTR_KEY, record)
    return study


def test_budget_from_study(url: str) -> None:
    study = _study(url, {"budget": {"n_trials": 5, "deadline": 12.5}})
    assert Budget.from_study(study) == Budget(n_trials=5, deadline=12.5)
    study.set_user_attr(ATTR_KEY, {"budget": {"n_trials": "many"}})
    with pytest.raises(StorageError, match="malformed budget"):
        Budget.from_study(study)


def test_open_study_takes_heartbeat_stored_with_study(url: str) -> None:
    set_heartbeat(_study(url, {"budget": {"n_trials": 1}}), Heartbeat(interval=2, grace_period=7))
    study = open_study(url, "s")
    assert study._storage.get_heartbeat_interval() == 2
    assert study._storage._backend.grace_period == 7


def test_open_study_never_creates_a_database(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="no such database file"):
        open_study(f"sqlite:///{tmp_path / 'none.db'}", "s")
    assert not (tmp_path / "none.db").exists()


_STORED = {
    "name": "a",
    "n_trials": 10,
    "base_dir": "/home/one",
    "train": {"epochs": 2, "lr": 0.1},
    "space": {"stages": {"count": 2, "out": [{"choices": [8, 16]}, {"choices": [16, 32]}]}},
}


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"train": {"epochs": 3, "lr": 0.1}}, "train.epochs"),
        ({"train": {"epochs": 2}}, "train.lr"),
        ({"space": {"stages": {"count": 2, "out": [{"choices": [8, 16]}, {"choices": [16, 64]}]}}},
         "space.stages.out[1].choices[1]"),
        ({"space": {"stages": {"count": 2, "out": [{"choices": [8, 16]}]}}},
         "space.stages.out (length)"),
        ({"objectives": ["accuracy"]}, "objectives"),
    ],
)  # fmt: skip
def test_check_space_matches_names_first_difference(url: str, change: dict, key: str) -> None:
    study = _study(url, {"search_config": _STORED})
    with pytest.raises(StorageError, match="does not match") as info:
        check_space_matches(study, {**_STORED, **change})
    assert f": {key} is" in str(info.value)


def test_check_space_matches_allows_budget_name_and_folder(url: str) -> None:
    study = _study(url, {"search_config": _STORED})
    same = {**_STORED, "name": "b", "n_trials": 99, "base_dir": "/home/two",
            "train": {"epochs": 2.0, "lr": 0.1}}  # fmt: skip
    check_space_matches(study, same)


def test_a_study_stored_before_early_stopping_had_forms_ran_the_stopping_form(url: str) -> None:
    from blocknas.search.study import study_config

    before = {"min_epochs": 1, "max_epochs": 9, "eta": 3, "enabled": True}
    raw = yaml.safe_load(TINY_CONFIG.read_text())
    raw["train"]["epochs"] = 9
    stored = load_search_config({**raw, "early_stopping": before}).to_dict()
    stored["early_stopping"].pop("form")  # as a study written then stored it
    study = _study(url, {"search_config": stored})
    assert study_config(study).early_stopping.form == "stopping"
    now = load_search_config({**raw, "early_stopping": before}).to_dict()  # today: promotion
    with pytest.raises(StorageError, match=r"early_stopping.form is 'promotion' here but "
                                           r"'stopping' in the stored study"):  # fmt: skip
        check_space_matches(study, now)
    check_space_matches(study, {**now, "early_stopping": {**now["early_stopping"],
                                                          "form": "stopping"}})  # fmt: skip
    # Off in both: the form does not matter.
    off = load_search_config({**raw, "early_stopping": {**before, "enabled": False}}).to_dict()
    stored_off = {**off, "early_stopping": dict(off["early_stopping"])}
    stored_off["early_stopping"].pop("form")
    check_space_matches(_study_in_with(url, "off", stored_off), off)


def _study_in_with(url: str, name: str, config: dict) -> optuna.Study:
    study = _study_in(url, name)
    study.set_user_attr(ATTR_KEY, {"search_config": config})
    return study


def _objective(trial: optuna.Trial) -> float:
    return trial.suggest_float("x", 0.0, 1.0)


def test_run_trials_threads_meet_budget_exactly(url: str) -> None:
    study = _study(url, heartbeat=Heartbeat(1, 3))
    ran = run_trials(study, _objective, Budget(n_trials=7), n_jobs=3, poll_interval=0.05)
    assert ran == 7
    counts = count_trials(study)
    assert (counts.finished, counts.running, counts.waiting) == (7, 0, 0)
    assert all(t.user_attrs[WORKER_ATTR].endswith(":" + str(__import__("os").getpid()))
               for t in study.trials)  # fmt: skip
    assert "7/7 finished" in describe_progress(_study_with_budget(study, 7))


def _study_with_budget(study: optuna.Study, n: int) -> optuna.Study:
    study.set_user_attr(ATTR_KEY, {"budget": {"n_trials": n, "deadline": None}})
    return study


def test_pruned_and_failed_trials(url: str) -> None:
    study = _study(url, heartbeat=Heartbeat(1, 3))
    calls = iter(["prune", "fail", "ok", "ok"])

    def objective(trial: optuna.Trial) -> float:
        what = next(calls)
        if what == "prune":
            raise optuna.TrialPruned()
        if what == "fail":
            raise ValueError("diverged")
        return 1.0

    assert run_trials(study, objective, Budget(n_trials=3), catch=(ValueError,)) == 4
    states = [t.state for t in study.trials]
    assert states == [TrialState.PRUNED, TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    with pytest.raises(ValueError, match="diverged"):  # not in catch: raised after FAIL
        run_trials(_study_in(url, "t"), lambda t: (_ for _ in ()).throw(ValueError("diverged")),
                   Budget(n_trials=1))  # fmt: skip


def _study_in(url: str, name: str) -> optuna.Study:
    storage = open_storage(url, heartbeat=Heartbeat(1, 3))
    return optuna.create_study(storage=storage, study_name=name)


def test_deadline_stops_new_trials(url: str) -> None:
    study = _study(url, heartbeat=Heartbeat(1, 3))
    assert claim_trial(study, Budget(n_trials=5, deadline=time.time() - 1)) is None
    assert study.trials == []


def test_stale_trial_is_failed_and_its_params_retried_once(url: str) -> None:
    study = _study(url, heartbeat=Heartbeat(interval=1, grace_period=2))
    lost = claim_trial(study, Budget(n_trials=2))
    assert lost is not None
    x = lost.suggest_float("x", 0.0, 1.0)  # then its worker dies: no more heartbeats
    time.sleep(3.2)
    retry = claim_trial(study, Budget(n_trials=2), poll_interval=0.1)
    assert retry is not None and retry.number != lost.number
    assert study.trials[lost.number].state is TrialState.FAIL
    assert retry.params == {"x": x}
    assert study.trials[retry.number].system_attrs["failed_trial"] == lost.number


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_interrupted_claim_is_failed_after_grace_and_retried(url: str) -> None:
    study = _study(url, heartbeat=Heartbeat(interval=1, grace_period=2))
    # A claim whose database went away between the ask and the first heartbeat: the trial
    # exists, RUNNING, without a heartbeat, and its claimer has moved on.
    orphan = study.ask()
    x = orphan.suggest_float("x", 0.0, 1.0)
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    # Within the grace period it may still be a claim in progress: it holds the budget.
    assert claim_trial(study, Budget(n_trials=1), poll_interval=0.1, stop=stop) is None
    assert study.trials[orphan.number].state is TrialState.RUNNING
    later = claim_trial(study, Budget(n_trials=1), clock=lambda: time.time() + 10)
    assert later is not None and later.number != orphan.number
    assert study.trials[orphan.number].state is TrialState.FAIL
    assert later.params == {"x": x}
    assert study.trials[later.number].system_attrs["failed_trial"] == orphan.number


def test_budget_held_by_running_trial_waits_then_takes_over(url: str) -> None:
    study = _study(url, heartbeat=Heartbeat(interval=1, grace_period=2))
    running = claim_trial(study, Budget(n_trials=1))
    assert running is not None
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    # The only trial of the budget runs elsewhere: wait for it, don't start a second one.
    assert claim_trial(study, Budget(n_trials=1), poll_interval=0.1, stop=stop) is None
    assert len(study.trials) == 1


def test_keep_alive_prevents_stale_failure(url: str) -> None:
    study = _study(url, heartbeat=Heartbeat(interval=1, grace_period=2))
    trial = claim_trial(study, Budget(n_trials=2))
    assert trial is not None
    with keep_alive(study, trial):
        time.sleep(3.2)
        other = claim_trial(study, Budget(n_trials=2))
    assert other is not None and other.number == trial.number + 1
    assert study.trials[trial.number].state is TrialState.RUNNING


def test_long_outage_raises_one_clear_line(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from blocknas.search import workers as module

    study = _study(url, heartbeat=Heartbeat(1, 3))

    def down(*_args: object, **_kwargs: object) -> None:
        raise sqlalchemy.exc.OperationalError(
            "SELECT 1", {}, Exception("server closed the connection")
        )

    monkeypatch.setattr(module, "_try_claim", down)
    with pytest.raises(StorageError) as info:
        run_trials(study, _objective, Budget(n_trials=1), reconnect_timeout=0.6)
    message = str(info.value)
    assert "lost the database" in message and "server closed the connection" in message
    assert "\n" not in message


def test_ctrl_c_hands_the_trial_back(url: str) -> None:
    study = _study(url, heartbeat=Heartbeat(1, 3))

    def interrupted(trial: optuna.Trial) -> float:
        trial.suggest_float("x", 0.0, 1.0)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_trials(study, interrupted, Budget(n_trials=2))
    first, queued = study.trials
    assert first.state is TrialState.FAIL
    assert queued.state is TrialState.WAITING and queued.params == first.params
    assert run_trials(study, _objective, Budget(n_trials=2)) == 2
    assert study.trials[1].params == first.params  # the queued parameters ran first


def test_worker_whose_every_trial_fails_stops(url: str) -> None:
    from blocknas.errors import TrainingError

    study = _study(url, heartbeat=Heartbeat(1, 60))

    def broken(trial: optuna.Trial) -> float:
        raise ValueError("device 'banana' does not exist")

    with pytest.raises(TrainingError, match=r"3 trials in a row failed.*banana"):
        run_trials(study, broken, Budget(n_trials=5), catch=(ValueError,), max_failures_in_a_row=3)
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 3


class _ContinueEachPausedTrialOnce:
    """A promoter that continues every paused (pruned) candidate once."""

    def promotion(self, trials: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
        taken = {t.user_attrs.get(CONTINUES_ATTR) for t in trials}
        for t in trials:
            if t.state is TrialState.PRUNED and not is_continuation(t) and t.number not in taken:
                return dict(t.params), {CONTINUES_ATTR: t.number}
        return None


def test_promoted_trials_run_ahead_of_new_ones_once_each_outside_the_budget(url: str) -> None:
    study = _study(url, heartbeat=Heartbeat(1, 3))
    order: list[str] = []

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        order.append("continuation" if is_continuation(trial) else "new")
        if not is_continuation(trial):
            raise optuna.TrialPruned()  # paused: the promoter continues it
        return x

    promoter = _ContinueEachPausedTrialOnce()
    assert run_trials(study, objective, Budget(n_trials=3), promoter=promoter) == 6
    assert order == ["new", "continuation"] * 3  # each continuation before the next candidate
    heads = [t for t in study.trials if not is_continuation(t)]
    follow = {t.user_attrs[CONTINUES_ATTR]: t for t in study.trials if is_continuation(t)}
    assert sorted(follow) == [t.number for t in heads]
    for head in heads:
        assert follow[head.number].params == head.params
        assert follow[head.number].state is TrialState.COMPLETE
    counts = count_trials(study)
    assert (counts.finished, counts.running, counts.continuing) == (3, 0, 0)
    # Several threads: still every paused trial continued exactly once, and 3 candidates.
    threaded = _study_in(url, "threads")
    ran = run_trials(threaded, objective, Budget(n_trials=4), promoter=promoter, n_jobs=3,
                     poll_interval=0.05)  # fmt: skip
    continued = [t.user_attrs[CONTINUES_ATTR] for t in threaded.trials if is_continuation(t)]
    assert ran == 8 and sorted(continued) == [
        t.number for t in threaded.trials if not is_continuation(t)
    ]
