"""Workers on a shared study: exact trial budgets, claims, heartbeats and database outages.

Several processes on several machines may run trials of one study (opened with
:func:`blocknas.search.storage.open_study`). This module makes that safe:

* **Exact budgets.** :func:`claim_trial` serialises the "count, then ask" step across every worker
  (a PostgreSQL advisory lock, a MySQL/MariaDB named lock, a lock file next to an SQLite
  database), so the number of finished trials (``COMPLETE`` + ``PRUNED``) ends exactly at the
  budget, however many workers run. A trial that continues a paused one (early stopping's
  promotion form, :class:`Promoter`) is chosen under the same lock, so no paused trial is
  continued twice, and is not a new candidate: the budget does not count it.
* **Recovery.** Optuna records heartbeats and fails stale trials only inside ``study.optimize``;
  blocknas drives trials with ask/tell (:func:`run_trials`), so it records heartbeats itself
  (:func:`keep_alive`) and fails stale trials before every claim. A failed stale trial's parameters
  are queued once more by :class:`optuna.storages.RetryHeartbeatStaleTrialCallback`.
* **Database outages.** Short outages are ridden out (each storage step is retried); a long one
  ends the worker with a clear message.

Example::

    study = open_study("postgresql://nas:secret@db:5432/nas", "digits-small")
    run_trials(study, objective, Budget.from_study(study))
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import math
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from blocknas.errors import StorageError, TrainingError
from blocknas.search.storage import (
    ATTR_KEY,
    _is_connection_error,
    _is_mysql,
    _is_sqlite,
    _reason,
    _retry_callback,
    _shown,
    _sqlite_path,
    is_continuation,
    sqlite_file_lost,
)

if TYPE_CHECKING:
    import optuna
    from optuna.storages import RDBStorage
    from optuna.trial import FrozenTrial

__all__ = [
    "WORKER_ATTR",
    "Budget",
    "Promoter",
    "TrialCounts",
    "claim_trial",
    "count_trials",
    "describe_progress",
    "keep_alive",
    "parse_deadline",
    "run_trials",
    "worker_id",
]

WORKER_ATTR = "worker"  # trial.user_attrs[WORKER_ATTR]: "host:pid" of the worker that ran it
_log = logging.getLogger(__name__)
_T = TypeVar("_T")


# --------------------------------------------------------------------------- budget


@dataclass(frozen=True)
class Budget:
    """When a study is done: ``n_trials`` finished trials (``COMPLETE`` + ``PRUNED``), and/or a
    wall-clock ``deadline`` (Unix seconds) after which no new trial starts. Neither: no end."""

    n_trials: int | None = None
    deadline: float | None = None

    def __post_init__(self) -> None:
        if self.n_trials is not None and self.n_trials < 1:
            raise StorageError(f"trial budget must be >= 1, got {self.n_trials}")

    @classmethod
    def from_study(cls, study: optuna.Study) -> Budget:
        """The budget stored in ``study.user_attrs["blocknas"]["budget"]`` (the study record of
        :mod:`blocknas.search.study`)."""
        record = study.user_attrs.get(ATTR_KEY)
        stored = record.get("budget") if isinstance(record, Mapping) else None
        if stored is None:
            return cls()
        try:
            n_trials, deadline = stored.get("n_trials"), stored.get("deadline")
            return cls(
                n_trials=None if n_trials is None else int(n_trials),
                deadline=None if deadline is None else float(deadline),
            )
        except (AttributeError, TypeError, ValueError):
            raise StorageError(
                f"study {study.study_name!r} has a malformed budget record: {stored!r}"
            ) from None

    def as_attr(self) -> dict[str, float | int | None]:
        return {"n_trials": self.n_trials, "deadline": self.deadline}


_DURATION = re.compile(r"^(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>s|m|min|h|d)$")
_UNIT_S = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_deadline(text: str, *, now: float) -> float:
    """A deadline as Unix seconds, from a duration after ``now`` (``90m``, ``12h``, ``2d``,
    ``3600s``) or an ISO-8601 time (``2026-01-31T18:00``, local time unless it names a zone)."""
    from datetime import datetime

    value = text.strip()
    match = _DURATION.match(value)
    if match:
        return now + float(match["n"]) * _UNIT_S[match["unit"]]
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise StorageError(
            f"deadline {text!r} is neither a duration (90m, 12h, 2d) nor an ISO time "
            "(2026-01-31T18:00)"
        ) from None
    deadline = moment.timestamp()  # naive times are local, as the user reads a clock
    if deadline <= now:
        raise StorageError(f"deadline {text!r} is in the past")
    return deadline


@dataclass(frozen=True)
class TrialCounts:
    """Trials of a study by state. ``finished`` counts toward the budget; ``retried`` is the
    number of failed trials whose parameters were queued again. A trial that continues a paused
    one (early stopping's promotion form) is no new candidate: it is counted in ``continuing``
    while it runs or waits, in ``failed`` when it fails, and in none of the others."""

    finished: int
    running: int
    waiting: int
    failed: int
    retried: int
    continuing: int = 0


def count_trials(study: optuna.Study, trials: Sequence[FrozenTrial] | None = None) -> TrialCounts:
    """Count ``study``'s trials by state (one storage read, none when ``trials`` is given)."""
    from optuna.trial import TrialState

    if trials is None:
        trials = study.get_trials(deepcopy=False)
    by_state = {state: 0 for state in TrialState}
    retried_from: set[int] = set()
    continuing = 0
    for t in trials:
        retried_from.update(t.system_attrs.get("retry_history", ()))
        if is_continuation(t) and t.state is not TrialState.FAIL:
            continuing += t.state in (TrialState.RUNNING, TrialState.WAITING)
        else:
            by_state[t.state] += 1
    return TrialCounts(
        finished=by_state[TrialState.COMPLETE] + by_state[TrialState.PRUNED],
        running=by_state[TrialState.RUNNING],
        waiting=by_state[TrialState.WAITING],
        failed=by_state[TrialState.FAIL],
        retried=len(retried_from),
        continuing=continuing,
    )


def describe_progress(study: optuna.Study) -> str:
    """One line: the study's trials by state against its budget."""
    budget = Budget.from_study(study)
    counts = count_trials(study)
    total = "" if budget.n_trials is None else f"/{budget.n_trials}"
    line = (
        f"study {study.study_name!r}: {counts.finished}{total} finished, {counts.running} running, "
        f"{counts.waiting} waiting, {counts.failed} failed ({counts.retried} re-run)"
    )
    if counts.continuing:
        line += f", {counts.continuing} paused trial(s) being continued"
    if budget.deadline is not None:
        line += f"; no trial starts after {time.strftime('%Y-%m-%d %H:%M', time.localtime(budget.deadline))}"
    return line


class Promoter(Protocol):
    """Chooses trials to run before any new candidate: early stopping's promotion form
    (:class:`blocknas.search.early_stopping.MOASHA`)."""

    def promotion(
        self, trials: Sequence[FrozenTrial]
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """Parameters and user attributes of the next trial to run ahead of new candidates,
        given the study's trials; None when there is none."""
        ...


# --------------------------------------------------------------------------- claiming


_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


def _backend(study: optuna.Study) -> RDBStorage:
    from optuna.storages import RDBStorage

    storage = study._storage
    backend = getattr(storage, "_backend", storage)  # optuna wraps RDBStorage in a cache
    if not isinstance(backend, RDBStorage):
        raise StorageError("study is not backed by an RDB storage (use open_storage)")
    return backend


@contextlib.contextmanager
def _claim_lock(study: optuna.Study) -> Iterator[None]:
    """Hold the study's claim lock: one claimer at a time, across threads, processes, machines."""
    backend = _backend(study)
    url = str(backend.url)
    key = f"{url}#{study._study_id}"
    with _THREAD_LOCKS_GUARD:
        thread_lock = _THREAD_LOCKS.setdefault(key, threading.Lock())
    with thread_lock:
        if _is_sqlite(url):
            with _file_lock(_sqlite_path(url).with_name(_sqlite_path(url).name + ".claim-lock")):
                yield
        elif _is_mysql(url):
            with _named_lock(backend, study._study_id):
                yield
        else:
            with _advisory_lock(backend, study._study_id):
                yield


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    # SQLite serves one machine, so an flock on a file next to the database is enough. A separate
    # file, because SQLite's own POSIX locks on the database drop when any descriptor closes.
    import fcntl

    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_LOCK_CLASS = int.from_bytes(hashlib.sha256(b"blocknas-claim").digest()[:4], "big", signed=True)


@contextlib.contextmanager
def _advisory_lock(backend: RDBStorage, study_id: int) -> Iterator[None]:
    # A session-level advisory lock: released on unlock, or by the server when the holder's
    # connection dies (a killed worker never leaves it held).
    import sqlalchemy

    with backend.engine.connect() as conn:
        conn.execute(
            sqlalchemy.text("SELECT pg_advisory_lock(:c, :s)"), {"c": _LOCK_CLASS, "s": study_id}
        )
        conn.commit()
        try:
            yield
        finally:
            with contextlib.suppress(sqlalchemy.exc.SQLAlchemyError):
                conn.execute(
                    sqlalchemy.text("SELECT pg_advisory_unlock(:c, :s)"),
                    {"c": _LOCK_CLASS, "s": study_id},
                )
                conn.commit()


_NAMED_LOCK_WAIT_S = 5  # one GET_LOCK call waits this long, then it is called again


def _lock_name(database: str, study_id: int) -> str:
    """The MySQL/MariaDB lock name for claims on a study (at most 64 characters, as required)."""
    digest = hashlib.sha256(f"{database}#{study_id}".encode()).hexdigest()[:40]
    return f"blocknas-claim-{digest}"


@contextlib.contextmanager
def _named_lock(backend: RDBStorage, study_id: int) -> Iterator[None]:
    # MySQL/MariaDB's user-level lock on a connection of its own: released by RELEASE_LOCK, or by
    # the server when the holder's connection dies (a killed worker never leaves it held), as the
    # PostgreSQL advisory lock. Lock names are server-wide, so the name includes the database.
    import sqlalchemy

    name = _lock_name(backend.engine.url.database or "", study_id)
    with backend.engine.connect() as conn:
        while True:
            got = conn.execute(
                sqlalchemy.text("SELECT GET_LOCK(:n, :t)"), {"n": name, "t": _NAMED_LOCK_WAIT_S}
            ).scalar()
            conn.commit()
            if got == 1:
                break
            if got is None:  # an error in the server (out of memory, the query was killed)
                raise StorageError(
                    f"cannot take the claim lock in {_shown(str(backend.url))}: GET_LOCK failed"
                )
            _log.debug("claim lock %s busy for %d s, waiting on", name, _NAMED_LOCK_WAIT_S)
        try:
            yield
        finally:
            try:
                conn.execute(sqlalchemy.text("SELECT RELEASE_LOCK(:n)"), {"n": name})
                conn.commit()
            except sqlalchemy.exc.SQLAlchemyError:
                # Not released: close the connection, so that the server releases it.
                with contextlib.suppress(sqlalchemy.exc.SQLAlchemyError):
                    conn.invalidate()


def _fail_stale_trials(study: optuna.Study, clock: Callable[[], float] = time.time) -> None:
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    _fail_abandoned_claims(study, clock)


def _fail_abandoned_claims(study: optuna.Study, clock: Callable[[], float]) -> None:
    """Fail (and queue again, as a stale trial is) each running trial that never recorded a
    heartbeat and started more than the grace period ago.

    A claim asks for the trial and records its first heartbeat under the claim lock; when the
    database goes away in between (or the answer to the ask is lost), the claimer retries the
    whole claim and the asked trial stays RUNNING with no heartbeat, which optuna's stale-trial
    check never looks at. Left alone it holds a place in the budget for ever and the workers wait
    on it. ``datetime_start`` is the asking worker's clock; like the heartbeats, this assumes the
    machines' clocks agree to well within the grace period.
    """
    import sqlalchemy
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.storages._rdb.models import TrialHeartbeatModel  # no public heartbeat read
    from optuna.trial import TrialState

    backend = _backend(study)
    interval = backend.get_heartbeat_interval()
    if interval is None:
        return
    grace = backend.grace_period or 2 * interval  # optuna's default when none is set
    now = clock()
    old = {
        t._trial_id: t
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if t.datetime_start is not None and now - t.datetime_start.timestamp() > grace
    }
    if not old:
        return
    query = sqlalchemy.select(TrialHeartbeatModel.trial_id).where(
        TrialHeartbeatModel.trial_id.in_(list(old))
    )
    with backend.engine.connect() as conn:
        beating = set(conn.execute(query).scalars())
    callback = backend.get_heartbeat_stale_trial_callback()
    for trial_id in sorted(set(old) - beating):
        try:
            if not backend.set_trial_state_values(trial_id, state=TrialState.FAIL):
                continue
        except UpdateFinishedTrialError:  # another worker got there first
            continue
        _log.warning("trial %d: its claim was interrupted; failed", old[trial_id].number)
        if callback is not None:
            callback(study, copy.deepcopy(backend.get_trial(trial_id)))


def _ask(study: optuna.Study) -> optuna.Trial:
    with warnings.catch_warnings():
        # optuna warns that heartbeats need study.optimize; keep_alive records them instead.
        warnings.filterwarnings("ignore", message="Heartbeat of storage")
        return study.ask()


def worker_id() -> str:
    """``host:pid`` of this process, recorded on each trial it claims."""
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def claim_trial(
    study: optuna.Study,
    budget: Budget,
    *,
    poll_interval: float = 1.0,
    stop: threading.Event | None = None,
    reconnect_timeout: float | None = None,
    clock: Callable[[], float] = time.time,
    promoter: Promoter | None = None,
) -> optuna.Trial | None:
    """The next trial to run under ``budget``, or ``None`` when the budget is met.

    Under the claim lock: fail stale trials (queueing their retries), count, then ``study.ask()``
    (which runs a queued retry first) and record the new trial's first heartbeat. When the budget
    is taken up by trials still running elsewhere, waits (polling), because one of them may die
    and need re-running. Returns ``None`` at once after the deadline or when ``stop`` is set.
    With ``reconnect_timeout``, each attempt rides out database outages up to that long.

    With a ``promoter``, the trial it names is queued and claimed ahead of any new candidate,
    whatever the budget (which counts candidates); once the budget is met, the worker waits
    while any trial runs or waits, since finishing trials can make more promotable, and ends
    when none is left.
    """
    while True:
        if stop is not None and stop.is_set():
            return None
        if reconnect_timeout is None:
            outcome = _try_claim(study, budget, clock, promoter)
        else:
            outcome = _with_reconnect(
                lambda: _try_claim(study, budget, clock, promoter),
                study,
                reconnect_timeout,
                "claiming a trial",
            )
        if outcome is not _WAIT:
            return cast("optuna.Trial | None", outcome)
        time.sleep(poll_interval)


_WAIT = object()  # the budget is held by trials running elsewhere


def _try_claim(
    study: optuna.Study, budget: Budget, clock: Callable[[], float], promoter: Promoter | None
) -> object:
    with _claim_lock(study):
        _fail_stale_trials(study, clock)
        trials = study.get_trials(deepcopy=False)
        counts = count_trials(study, trials)
        if budget.deadline is not None and clock() >= budget.deadline:
            return None
        job = promoter.promotion(trials) if promoter is not None else None
        if job is not None:
            params, user_attrs = job
            # ask() runs the oldest queued trial: a retry queued earlier goes first, this one
            # waits for the next claim (counted in ``continuing``).
            study.enqueue_trial(params, user_attrs=user_attrs)
        elif promoter is not None and _queued_continuation(trials):
            pass  # ask() below runs it (or an older queued retry), whatever the budget
        elif budget.n_trials is not None and counts.finished >= budget.n_trials:
            busy = promoter is not None and (counts.running or counts.continuing)
            return _WAIT if busy else None
        elif budget.n_trials is not None and counts.finished + counts.running >= budget.n_trials:
            return _WAIT
        trial = _ask(study)
        # Before the lock goes: a trial without heartbeat would never be seen as stale.
        _backend(study).record_heartbeat(trial._trial_id)
        trial.set_user_attr(WORKER_ATTR, worker_id())
        return trial


def _queued_continuation(trials: Sequence[FrozenTrial]) -> bool:
    from optuna.trial import TrialState

    return any(t.state is TrialState.WAITING and is_continuation(t) for t in trials)


@contextlib.contextmanager
def keep_alive(study: optuna.Study, trial: optuna.Trial) -> Iterator[None]:
    """Record ``trial``'s heartbeat every interval in a background thread while the block runs.

    Storage errors (an outage) are logged and retried on the next beat; the trial is failed by
    another worker only if the silence outlasts the grace period.
    """
    backend = _backend(study)
    interval = backend.get_heartbeat_interval()
    if interval is None:
        yield
        return
    done = threading.Event()

    def beat() -> None:
        while not done.wait(interval):
            try:
                backend.record_heartbeat(trial._trial_id)
            except Exception as exc:  # an outage must not kill the beat; the next one retries
                _log.warning(
                    "trial %d: heartbeat not recorded: %s",
                    trial.number,
                    _reason(exc, str(backend.url)),
                )

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial.number}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


# --------------------------------------------------------------------------- the worker loop


def _with_reconnect(step: Callable[[], _T], study: optuna.Study, timeout: float, what: str) -> _T:
    """Run a storage ``step``, retrying through connection errors for up to ``timeout`` seconds."""
    url = str(_backend(study).url)
    start = time.monotonic()
    wait = 0.5
    while True:
        try:
            return step()
        except Exception as exc:
            if not _is_connection_error(exc):
                raise
            lost = sqlite_file_lost(url)
            if lost is not None:  # no outage: waiting brings nothing back
                raise StorageError(
                    f"{lost} while {what}; the trials stored in it are lost with it"
                ) from None
            waited = time.monotonic() - start
            if waited >= timeout:
                raise StorageError(
                    f"lost the database {_shown(url)} for {waited:.0f} s while {what}: "
                    f"{_reason(exc, url)}; finished trials are kept, start the worker again "
                    "once the database is back"
                ) from None
            _log.warning("database unreachable while %s, retrying: %s", what, _reason(exc, url))
            time.sleep(wait)
            wait = min(wait * 2, 5.0)


Objective = Callable[["optuna.Trial"], Sequence[float] | float]


def run_trials(
    study: optuna.Study,
    objective: Objective,
    budget: Budget,
    *,
    n_jobs: int = 1,
    catch: tuple[type[Exception], ...] = (),
    reconnect_timeout: float = 60.0,
    poll_interval: float = 1.0,
    callbacks: Sequence[Callable[[optuna.Study, FrozenTrial], None]] = (),
    max_failures_in_a_row: int | None = 10,
    promoter: Promoter | None = None,
) -> int:
    """Run trials of ``study`` until ``budget`` is met; return how many this process ran.

    The fault-tolerant replacement for ``study.optimize`` when several workers share a study.
    ``objective(trial)`` returns the objective values, or raises ``optuna.TrialPruned`` (or tells
    the trial itself, e.g. ``PRUNED``). Exceptions listed in ``catch`` fail the trial and the loop
    goes on; any other exception fails it and is raised. On Ctrl-C the trial is failed and its
    parameters queued for another worker. ``n_jobs`` threads run trials side by side.
    Storage outages shorter than ``reconnect_timeout`` seconds are ridden out; a trial whose
    objective lost the database is left to go stale and be re-run elsewhere.
    After ``max_failures_in_a_row`` failed trials in a row, a worker thread stops with a
    :class:`~blocknas.errors.TrainingError`: failed trials do not count toward the budget, so a
    worker whose every trial fails (a wrong device, missing data) would otherwise never end.
    A ``promoter`` puts the trials it names ahead of new candidates (:func:`claim_trial`).
    """
    if n_jobs < 1:
        raise StorageError(f"n_jobs must be >= 1, got {n_jobs}")
    stop = threading.Event()

    def loop() -> int:
        ran = failures = 0
        while not stop.is_set():
            trial = claim_trial(
                study, budget, poll_interval=poll_interval, stop=stop,
                reconnect_timeout=reconnect_timeout, promoter=promoter,
            )  # fmt: skip
            if trial is None:
                break
            frozen, error = _run_one(study, trial, objective, catch, reconnect_timeout, callbacks)
            ran += frozen is not None
            failures = failures + 1 if error is not None else 0
            if max_failures_in_a_row is not None and failures >= max_failures_in_a_row:
                raise TrainingError(
                    f"{failures} trials in a row failed in this worker (last: {error}); stopping "
                    "it: check its device, data and search space"
                )
        return ran

    if n_jobs == 1:
        return loop()
    with ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="blocknas-trial") as pool:
        futures = [pool.submit(loop) for _ in range(n_jobs)]
        try:
            return sum(f.result() for f in futures)
        except BaseException:
            stop.set()  # the others finish their running trial, then stop
            raise


def _run_one(
    study: optuna.Study,
    trial: optuna.Trial,
    objective: Objective,
    catch: tuple[type[Exception], ...],
    reconnect_timeout: float,
    callbacks: Sequence[Callable[[optuna.Study, FrozenTrial], None]],
) -> tuple[FrozenTrial | None, Exception | None]:
    """Run and tell one trial: the trial as told (None if it was left to, or taken by, the
    stale-trial recovery) and the caught exception that failed it, if any."""
    import optuna
    from optuna.trial import TrialState

    with keep_alive(study, trial):
        values: Sequence[float] | float | None = None
        state: TrialState | None = None  # None: COMPLETE, or FAIL if a value is NaN / infinite
        error: Exception | None = None
        try:
            values = objective(trial)
        except optuna.TrialPruned:
            state = TrialState.PRUNED
        except KeyboardInterrupt:
            _hand_back(study, trial)
            raise
        except Exception as exc:
            if _is_connection_error(exc):
                # It cannot be told now; left RUNNING, it goes stale and its retry runs elsewhere.
                _log.warning("trial %d lost the database; it will be re-run", trial.number)
                return None, None
            state, error = TrialState.FAIL, exc
            _log.warning("trial %d failed: %s", trial.number, exc)
        frozen = _with_reconnect(
            lambda: study.tell(trial, values, state=state, skip_if_finished=True),
            study,
            reconnect_timeout,
            f"recording trial {trial.number}",
        )
    values_text = (
        "" if frozen.values is None else " " + ", ".join(f"{v:.4g}" for v in frozen.values)
    )
    reason = f": {error}" if error is not None else ""
    _log.info("trial %d %s%s%s", frozen.number, frozen.state.name.lower(), values_text, reason)
    if frozen.state is TrialState.FAIL and error is None and _finite(values):
        _log.warning(
            "trial %d was failed by another worker after losing its heartbeat", trial.number
        )
        return None, None
    if error is not None and not isinstance(error, catch):
        raise error
    for callback in callbacks:
        callback(study, frozen)
    return frozen, error


def _finite(values: Sequence[float] | float | None) -> bool:
    items = [values] if isinstance(values, int | float) else list(values or [])
    return all(math.isfinite(float(v)) for v in items)


def _hand_back(study: optuna.Study, trial: optuna.Trial) -> None:
    """Fail an interrupted trial and queue its parameters, as if its worker had died."""
    from optuna.trial import TrialState

    with contextlib.suppress(Exception), _claim_lock(study):
        frozen = study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        if frozen.state is TrialState.FAIL:
            _retry_callback()(study, frozen)
