"""Shared study storage: open an Optuna RDB storage safely, and run trials on it from many workers.

A search may be run by several processes on several machines against one database (SQLite for one
machine, PostgreSQL for many). This module holds everything that makes that safe:

* **User input at the boundary.** :func:`validate_storage_url`, :func:`open_storage`,
  :func:`load_existing_study` and :func:`check_space_matches` turn malformed URLs, unreachable
  servers, wrong passwords, unknown study names and mismatched search configs into one-line
  :class:`~blocknas.errors.StorageError` messages, with the password masked (:func:`mask_url`).
* **Exact budgets.** :func:`claim_trial` serialises the "count, then ask" step across every worker
  (a PostgreSQL advisory lock, a lock file next to an SQLite database), so the number of finished
  trials (``COMPLETE`` + ``PRUNED``) ends exactly at the budget, however many workers run.
* **Recovery.** Optuna records heartbeats and fails stale trials only inside ``study.optimize``;
  blocknas drives trials with ask/tell (:func:`run_trials`), so it records heartbeats itself
  (:func:`keep_alive`) and fails stale trials before every claim. A failed stale trial's parameters
  are queued once more by :class:`optuna.storages.RetryHeartbeatStaleTrialCallback`.
* **Database outages.** Short outages are ridden out (pooled connections are checked before use, and
  each storage step is retried); a long one ends the worker with a clear message.

Example::

    study = open_study("postgresql://nas:secret@db:5432/nas", "digits-small")
    run_trials(study, objective, Budget.from_study(study))
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import re
import threading
import time
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from blocknas.errors import StorageError, TrainingError

if TYPE_CHECKING:
    import optuna
    from optuna.storages import RDBStorage
    from optuna.trial import FrozenTrial

__all__ = [
    "ATTR_KEY",
    "WORKER_ATTR",
    "Budget",
    "Heartbeat",
    "MaskingFilter",
    "TrialCounts",
    "check_space_matches",
    "claim_trial",
    "count_trials",
    "describe_progress",
    "keep_alive",
    "load_existing_study",
    "mask_url",
    "open_storage",
    "open_study",
    "parse_deadline",
    "run_trials",
    "set_heartbeat",
    "validate_storage_url",
    "worker_id",
]

ATTR_KEY = "blocknas"  # study.user_attrs[ATTR_KEY] holds blocknas's study record (SEARCH_CONTRACT)
WORKER_ATTR = "worker"  # trial.user_attrs[WORKER_ATTR]: "host:pid" of the worker that ran it
_log = logging.getLogger(__name__)

_SQLITE_BUSY_TIMEOUT_S = 30  # SQLite waits this long for another process's write lock
_CONNECT_TIMEOUT_S = 10  # an unreachable PostgreSQL server fails in seconds, not minutes
_USAGE = "use sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
_PG_DRIVERS = {"postgresql", "postgres", "postgresql+psycopg"}
_SQLITE_DRIVERS = {"sqlite", "sqlite+pysqlite"}
_T = TypeVar("_T")


# --------------------------------------------------------------------------- URLs


# scheme://user:SECRET@host — SECRET runs to the last "@" of the word, so an unencoded "@" in a
# password is masked too.
_SECRET_IN_NETLOC = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/@?#\s]*:)(?P<secret>\S*)@"
)
_SECRET_IN_QUERY = re.compile(r"(?P<head>[?&]password=)(?P<secret>[^&#\s]*)", re.IGNORECASE)


def mask_url(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``; safe on malformed URLs.

    >>> mask_url("postgresql://nas:s3cret@db:5432/nas")
    'postgresql://nas:***@db:5432/nas'
    """
    masked = _SECRET_IN_NETLOC.sub(lambda m: f"{m['head']}***@", text)
    return _SECRET_IN_QUERY.sub(lambda m: f"{m['head']}***", masked)


class MaskingFilter(logging.Filter):
    """A logging filter that masks URL passwords in every record, whoever logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_url(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def _shown(url: str) -> str:
    """``url`` as shown to a user: password masked, in the form they wrote it."""
    return mask_url(url).replace("postgresql+psycopg://", "postgresql://", 1)


def _password(url: str) -> str | None:
    match = _SECRET_IN_NETLOC.match(url)
    return match["secret"] if match and match["secret"] else None


def _scrub(text: str, url: str) -> str:
    """``text`` (a driver's message) with the URL's password removed, wherever it appears."""
    from urllib.parse import unquote

    secret = _password(url)
    text = text.replace(url, mask_url(url))
    for form in {secret, unquote(secret)} if secret else ():
        text = text.replace(form, "***")
    return text


def validate_storage_url(url: str) -> str:
    """Check a storage URL and return it normalised (``postgresql://`` uses psycopg 3).

    Accepted: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` and
    ``postgresql://USER:PASSWORD@HOST[:PORT]/DATABASE`` (``postgres://`` and
    ``postgresql+psycopg://`` too). Anything else raises :class:`StorageError` naming the problem.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    text = url.strip()
    shown = mask_url(text)
    if not text:
        raise StorageError(f"empty storage URL; {_USAGE}")
    if "://" not in text:
        hint = f"; did you mean sqlite:///{text}?" if text.endswith((".db", ".sqlite")) else ""
        raise StorageError(f"storage URL {shown!r} has no scheme{hint}; {_USAGE}")
    try:
        parsed = make_url(text)
    except (ArgumentError, ValueError) as exc:
        reason = "bad port number" if isinstance(exc, ValueError) else "cannot parse it"
        raise StorageError(f"malformed storage URL {shown!r} ({reason}); {_USAGE}") from None
    driver = parsed.drivername
    if driver in _SQLITE_DRIVERS:
        return _validate_sqlite(parsed.database, shown)
    if driver in _PG_DRIVERS:
        return _validate_postgres(parsed, shown)
    raise StorageError(f"unsupported storage URL scheme {driver!r} in {shown!r}; {_USAGE}")


def _validate_sqlite(database: str | None, shown: str) -> str:
    if not database or database == ":memory:":
        raise StorageError(
            f"storage URL {shown!r} names no database file (an in-memory database cannot be "
            "shared by workers); use sqlite:///PATH"
        )
    return f"sqlite:///{database}"


def _validate_postgres(parsed: Any, shown: str) -> str:
    host = parsed.host or ""
    if "@" in host:  # an unencoded "@" in the password; the "host" holds part of the password
        raise StorageError(
            f"malformed storage URL {shown!r}: percent-encode '@', ':' and '/' in the password "
            "(e.g. '@' as %40)"
        )
    if not host or re.search(r"[/\s]", host):
        raise StorageError(f"malformed storage URL {shown!r}: bad host {host or '(none)'!r}")
    if not parsed.database:
        raise StorageError(f"storage URL {shown!r} names no database; {_USAGE}")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise StorageError(f"storage URL {shown!r} has port {parsed.port} out of range 1-65535")
    normalised = parsed.set(drivername="postgresql+psycopg")
    return str(normalised.render_as_string(hide_password=False))


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


# --------------------------------------------------------------------------- opening


@dataclass(frozen=True)
class Heartbeat:
    """How often a running trial proves it is alive, and how long a silent one is trusted.

    A trial whose last heartbeat is older than ``grace_period`` seconds is failed by the next
    worker that claims a trial, and its parameters are queued once more. The grace period should
    be several intervals long, so that a slow database write or a short outage does not fail a
    trial that is still running.
    """

    interval: int = 10
    grace_period: int = 60

    def __post_init__(self) -> None:
        if self.interval < 1 or self.grace_period <= self.interval:
            raise StorageError(
                f"heartbeat interval must be >= 1 s and below the grace period; got interval "
                f"{self.interval} s, grace period {self.grace_period} s"
            )

    @classmethod
    def from_study(cls, study: optuna.Study) -> Heartbeat:
        """The heartbeat stored with the study (``user_attrs["blocknas"]["heartbeat"]``), or the
        default."""
        record = study.user_attrs.get(ATTR_KEY, {})
        stored = record.get("heartbeat") if isinstance(record, Mapping) else None
        if not isinstance(stored, Mapping):
            return cls()
        return cls(interval=int(stored["interval"]), grace_period=int(stored["grace_period"]))

    def as_attr(self) -> dict[str, int]:
        return {"interval": self.interval, "grace_period": self.grace_period}


def set_heartbeat(study: optuna.Study, heartbeat: Heartbeat) -> None:
    """Store ``heartbeat`` with ``study`` (``user_attrs["blocknas"]["heartbeat"]``) for its workers."""
    record = dict(study.user_attrs.get(ATTR_KEY) or {})
    record["heartbeat"] = heartbeat.as_attr()
    study.set_user_attr(ATTR_KEY, record)


def _engine_kwargs(url: str, connect_timeout: float) -> dict[str, Any]:
    if _is_sqlite(url):
        return {"connect_args": {"timeout": _SQLITE_BUSY_TIMEOUT_S}}
    # pool_pre_ping replaces pooled connections that a database restart has closed.
    return {
        "pool_pre_ping": True,
        "connect_args": {"connect_timeout": max(1, math.ceil(connect_timeout))},
    }


def _reason(exc: BaseException, url: str) -> str:
    """A short, password-free reason from a database driver's exception."""
    exc = _connection_cause(exc) or exc
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    text = lines[0] if lines else type(orig).__name__
    text = re.sub(
        r'^connection failed: connection to server at "[^"]*"(, port \d+)? failed: ', "", text
    )
    text = re.sub(r"^FATAL:\s*", "", text)
    lowered = text.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        text = f"wrong user or password ({text})"
    elif "connection refused" in lowered or "timeout expired" in lowered:
        text = f"database server unreachable ({text})"
    elif "could not translate host name" in lowered or "name or service not known" in lowered:
        text = f"unknown host ({text})"
    return _scrub(text, url)


def open_storage(
    url: str,
    *,
    heartbeat: Heartbeat | None = None,
    must_exist: bool = False,
    connect_timeout: float = _CONNECT_TIMEOUT_S,
) -> RDBStorage:
    """Open an Optuna RDB storage at ``url`` (validated first), with failed-worker recovery.

    With ``heartbeat``, running trials record heartbeats (through :func:`keep_alive`) and a trial
    silent for longer than the grace period is failed and its parameters are run once more
    (:class:`optuna.storages.RetryHeartbeatStaleTrialCallback` with ``max_retry=1``).
    ``must_exist`` refuses to create a new SQLite file (a worker joins; it never creates).
    Any failure to reach the database raises :class:`StorageError` with the password masked.
    """
    import optuna
    import sqlalchemy.exc

    shown = mask_url(url.strip())
    url = validate_storage_url(url)
    if _is_sqlite(url):
        path = _sqlite_path(url)
        if must_exist and not path.is_file():
            raise StorageError(f"cannot open storage {shown}: no such database file {str(path)!r}")
        if not path.parent.is_dir():
            raise StorageError(
                f"cannot open storage {shown}: folder {str(path.parent)!r} does not exist"
            )
    kwargs: dict[str, Any] = {}
    if heartbeat is not None:
        kwargs = {
            "heartbeat_interval": heartbeat.interval,
            "grace_period": heartbeat.grace_period,
            "heartbeat_stale_trial_callback": _retry_callback(),
        }
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url, engine_kwargs=_engine_kwargs(url, connect_timeout), **kwargs
            )
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise StorageError(f"cannot open storage {shown}: {_reason(exc, url)}") from None
    except ImportError:
        raise StorageError(
            f"cannot open storage {shown}: the PostgreSQL driver is missing; "
            "install it with `pip install 'blocknas[postgres]'`"
        ) from None
    except RuntimeError as exc:  # optuna's schema version check
        raise StorageError(f"cannot open storage {shown}: {_scrub(str(exc), url)}") from None


def _retry_callback() -> Callable[[optuna.Study, FrozenTrial], None]:
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1)


def load_existing_study(
    storage: RDBStorage, name: str, *, sampler: optuna.samplers.BaseSampler | None = None
) -> optuna.Study:
    """Load the study ``name``; an unknown name raises :class:`StorageError` listing known ones."""
    import optuna
    import sqlalchemy.exc

    shown = _shown(str(storage.url))
    try:
        names = sorted(optuna.study.get_all_study_names(storage))
        if name not in names:
            known = ", ".join(repr(n) for n in names[:20]) or "none"
            more = f" and {len(names) - 20} more" if len(names) > 20 else ""
            raise StorageError(f"no study named {name!r} in {shown} (known studies: {known}{more})")
        return optuna.load_study(study_name=name, storage=storage, sampler=sampler)
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as exc:
        raise StorageError(f"cannot read storage {shown}: {_reason(exc, storage.url)}") from None


def open_study(
    url: str, name: str, *, sampler: optuna.samplers.BaseSampler | None = None
) -> optuna.Study:
    """Join an existing study: validate ``url``, open it, load ``name`` with the heartbeat stored
    with the study (:meth:`Heartbeat.from_study`). Never creates a database or a study."""
    storage = open_storage(url, heartbeat=Heartbeat(), must_exist=True)
    study = load_existing_study(storage, name, sampler=sampler)
    try:
        stored = Heartbeat.from_study(study)
    except (KeyError, TypeError, ValueError):
        raise StorageError(f"study {name!r} has a malformed heartbeat record") from None
    if stored == Heartbeat():
        return study
    storage.engine.dispose()
    return load_existing_study(open_storage(url, heartbeat=stored), name, sampler=sampler)


# --------------------------------------------------------------------------- config match


# Keys that may change when a search is resumed: its name and budget, how many threads run it
# and where it runs (the YAML's folder, threads per machine); not what a trial is.
_DEFAULT_IGNORED = (
    "name",
    "description",
    "n_trials",
    "timeout",
    "deadline",
    "budget",
    "n_jobs",
    "base_dir",
)


def check_space_matches(
    study: optuna.Study,
    search_config: Mapping[str, Any],
    *,
    ignore: Collection[str] = _DEFAULT_IGNORED,
) -> None:
    """Raise :class:`StorageError` if ``search_config`` differs from the one stored with ``study``.

    Both are compared as plain data (the resolved config dicts), top-level keys in ``ignore``
    excepted (the budget may change when a search is resumed). The message names the first
    differing key, e.g. ``space.stages[1].kernel``, with the stored and the given value.
    """
    record = study.user_attrs.get(ATTR_KEY)
    if not isinstance(record, Mapping) or "search_config" not in record:
        raise StorageError(
            f"study {study.study_name!r} was not created by blocknas (no search config)"
        )
    stored = {k: v for k, v in dict(record["search_config"]).items() if k not in ignore}
    given = {k: v for k, v in dict(search_config).items() if k not in ignore}
    diff = _first_difference(stored, given, "")
    if diff is not None:
        key, old, new = diff
        raise StorageError(
            f"search config does not match study {study.study_name!r}: {key or 'config'} is "
            f"{_short(new)} here but {_short(old)} in the stored study; use a new --study name "
            "or the stored config"
        )


_MISSING = object()


def _first_difference(old: Any, new: Any, path: str) -> tuple[str, Any, Any] | None:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted({*old, *new}, key=str):
            sub = f"{path}.{key}" if path else str(key)
            found = _first_difference(old.get(key, _MISSING), new.get(key, _MISSING), sub)
            if found:
                return found
        return None
    seqs = (list, tuple)
    if isinstance(old, seqs) and isinstance(new, seqs):
        if len(old) != len(new):
            return (f"{path} (length)", len(old), len(new))
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            found = _first_difference(a, b, f"{path}[{i}]")
            if found:
                return found
        return None
    same = (old == new and type(old) is type(new)) or _numbers_equal(old, new)
    return None if same else (path, old, new)


def _numbers_equal(a: Any, b: Any) -> bool:
    numbers = (int, float)
    return (
        isinstance(a, numbers)
        and isinstance(b, numbers)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
        and float(a) == float(b)
    )


def _short(value: Any) -> str:
    if value is _MISSING:
        return "absent"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
        """The budget stored in ``study.user_attrs["blocknas"]["budget"]`` (SEARCH_CONTRACT)."""
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
    number of failed trials whose parameters were queued again."""

    finished: int
    running: int
    waiting: int
    failed: int
    retried: int


def count_trials(study: optuna.Study) -> TrialCounts:
    """Count ``study``'s trials by state (one storage read)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    by_state = {state: 0 for state in TrialState}
    retried_from: set[int] = set()
    for t in trials:
        by_state[t.state] += 1
        retried_from.update(t.system_attrs.get("retry_history", ()))
    return TrialCounts(
        finished=by_state[TrialState.COMPLETE] + by_state[TrialState.PRUNED],
        running=by_state[TrialState.RUNNING],
        waiting=by_state[TrialState.WAITING],
        failed=by_state[TrialState.FAIL],
        retried=len(retried_from),
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
    if budget.deadline is not None:
        line += f"; no trial starts after {time.strftime('%Y-%m-%d %H:%M', time.localtime(budget.deadline))}"
    return line


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


def _fail_stale_trials(study: optuna.Study) -> None:
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


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
) -> optuna.Trial | None:
    """The next trial to run under ``budget``, or ``None`` when the budget is met.

    Under the claim lock: fail stale trials (queueing their retries), count, then ``study.ask()``
    (which runs a queued retry first) and record the new trial's first heartbeat. When the budget
    is taken up by trials still running elsewhere, waits (polling), because one of them may die
    and need re-running. Returns ``None`` at once after the deadline or when ``stop`` is set.
    With ``reconnect_timeout``, each attempt rides out database outages up to that long.
    """
    while True:
        if stop is not None and stop.is_set():
            return None
        if reconnect_timeout is None:
            outcome = _try_claim(study, budget, clock)
        else:
            outcome = _with_reconnect(
                lambda: _try_claim(study, budget, clock),
                study,
                reconnect_timeout,
                "claiming a trial",
            )
        if outcome is not _WAIT:
            return cast("optuna.Trial | None", outcome)
        time.sleep(poll_interval)


_WAIT = object()  # the budget is held by trials running elsewhere


def _try_claim(study: optuna.Study, budget: Budget, clock: Callable[[], float]) -> object:
    with _claim_lock(study):
        _fail_stale_trials(study)
        counts = count_trials(study)
        if budget.deadline is not None and clock() >= budget.deadline:
            return None
        if budget.n_trials is not None and counts.finished >= budget.n_trials:
            return None
        if budget.n_trials is not None and counts.finished + counts.running >= budget.n_trials:
            return _WAIT
        trial = _ask(study)
        # Before the lock goes: a trial without heartbeat would never be seen as stale.
        _backend(study).record_heartbeat(trial._trial_id)
        trial.set_user_attr(WORKER_ATTR, worker_id())
        return trial


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


def _connection_cause(exc: BaseException) -> BaseException | None:
    """The database-connection error behind ``exc`` (optuna wraps them in StorageInternalError),
    or ``None`` if ``exc`` is something else."""
    import sqlalchemy.exc

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
            return current
        if isinstance(current, sqlalchemy.exc.DBAPIError) and current.connection_invalidated:
            return current
        current = current.__cause__ or current.__context__
    return None


def _is_connection_error(exc: BaseException) -> bool:
    return _connection_cause(exc) is not None


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
    """
    if n_jobs < 1:
        raise StorageError(f"n_jobs must be >= 1, got {n_jobs}")
    stop = threading.Event()

    def loop() -> int:
        ran = failures = 0
        while not stop.is_set():
            trial = claim_trial(
                study, budget, poll_interval=poll_interval, stop=stop,
                reconnect_timeout=reconnect_timeout,
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
