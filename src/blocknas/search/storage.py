"""Study storage: check a storage URL, open an Optuna RDB storage safely, and load a study from it.

A search may be run by several processes on several machines against one database (SQLite for one
machine; PostgreSQL or MySQL/MariaDB for many). This module turns user input into an open study:

* **User input at the boundary.** :func:`validate_storage_url`, :func:`open_storage`,
  :func:`load_existing_study` and :func:`check_space_matches` turn malformed URLs, unreachable
  servers, wrong passwords, unknown study names and mismatched search configs into one-line
  :class:`~blocknas.errors.StorageError` messages, with the password masked (:func:`mask_url`).
* **Recovery settings.** :class:`Heartbeat` (stored with the study by :func:`set_heartbeat`) sets
  how often running trials prove they are alive; :func:`open_storage` installs the callback that
  re-runs a failed stale trial's parameters once
  (:class:`optuna.storages.RetryHeartbeatStaleTrialCallback`).
* **Database outages.** Pooled connections are checked before use (``pool_pre_ping``), and a
  server that cannot be reached fails within a connect timeout, not minutes.

Running trials on the opened study from many workers (exact budgets, claims, heartbeats,
reconnecting) is :mod:`blocknas.search.workers`.

Example::

    study = open_study("postgresql://nas:secret@db:5432/nas", "digits-small")
"""

from __future__ import annotations

import logging
import math
import re
import sys
import warnings
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blocknas.errors import StorageError

if TYPE_CHECKING:
    import optuna
    from optuna.storages import RDBStorage
    from optuna.trial import FrozenTrial

__all__ = [
    "ATTR_KEY",
    "CONTINUES_ATTR",
    "Heartbeat",
    "MaskingFilter",
    "check_space_matches",
    "continued",
    "is_continuation",
    "is_rerun",
    "load_existing_study",
    "mask_url",
    "open_storage",
    "open_study",
    "reruns",
    "set_heartbeat",
    "sqlite_file_lost",
    "storage_failure",
    "upgrade_search_config",
    "validate_storage_url",
]

ATTR_KEY = "blocknas"  # study.user_attrs[ATTR_KEY]: blocknas's study record (blocknas.search.study)
# trial.user_attrs[CONTINUES_ATTR]: number of the paused trial this trial continues from its
# checkpoint (the promotion form of early stopping); such a trial is not a new candidate.
CONTINUES_ATTR = "continues"

_SQLITE_BUSY_TIMEOUT_S = 30  # SQLite waits this long for another process's write lock
_CONNECT_TIMEOUT_S = 10  # an unreachable database server fails in seconds, not minutes
_USAGE = (
    "use sqlite:///PATH, postgresql://USER:PASSWORD@HOST:PORT/DATABASE or "
    "mysql://USER:PASSWORD@HOST:PORT/DATABASE (MySQL/MariaDB)"
)
_SUPPORTED = "supported: sqlite, postgresql, mysql/mariadb"
_PG_DRIVERS = {"postgresql", "postgres", "postgresql+psycopg"}
_SQLITE_DRIVERS = {"sqlite", "sqlite+pysqlite"}
_MYSQL_DIALECTS = {"mysql", "mariadb"}
# Synchronous MySQL/MariaDB drivers SQLAlchemy knows, and the name of each one's connect-timeout
# argument. A bare mysql:// or mariadb:// uses PyMySQL (pure Python, the `mysql` extra).
_MYSQL_TIMEOUT_ARG = {
    "pymysql": "connect_timeout",
    "mysqldb": "connect_timeout",
    "mariadbconnector": "connect_timeout",
    "mysqlconnector": "connection_timeout",
}
_DEFAULT_MYSQL_DRIVER = "pymysql"


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
    shown = mask_url(url).replace("postgresql+psycopg://", "postgresql://", 1)
    return re.sub(rf"^(mysql|mariadb)\+{_DEFAULT_MYSQL_DRIVER}://", r"\1://", shown)


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
    """Check a storage URL and return it normalised (``postgresql://`` uses psycopg 3,
    ``mysql://`` and ``mariadb://`` use PyMySQL).

    Accepted: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``,
    ``postgresql://USER:PASSWORD@HOST[:PORT]/DATABASE`` (``postgres://`` and
    ``postgresql+psycopg://`` too) and ``mysql://USER:PASSWORD@HOST[:PORT]/DATABASE`` for MySQL
    or MariaDB (``mariadb://``, and an explicit driver: ``mysql+pymysql://``,
    ``mysql+mysqldb://``, ``mysql+mysqlconnector://``, ``mariadb+mariadbconnector://``...).
    Anything else raises :class:`StorageError` naming the problem.
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
        return _validate_server(parsed, shown, "postgresql+psycopg")
    dialect, _, dbapi = driver.partition("+")
    if dialect in _MYSQL_DIALECTS:
        if dbapi and dbapi not in _MYSQL_TIMEOUT_ARG:
            drivers = ", ".join(sorted(_MYSQL_TIMEOUT_ARG))
            raise StorageError(
                f"unsupported MySQL/MariaDB driver {dbapi!r} in {shown!r} (use one of: {drivers})"
            )
        return _validate_server(parsed, shown, f"{dialect}+{dbapi or _DEFAULT_MYSQL_DRIVER}")
    raise StorageError(
        f"unsupported storage URL scheme {driver!r} in {shown!r} ({_SUPPORTED}); {_USAGE}"
    )


def _validate_sqlite(database: str | None, shown: str) -> str:
    if not database or database == ":memory:":
        raise StorageError(
            f"storage URL {shown!r} names no database file (an in-memory database cannot be "
            "shared by workers); use sqlite:///PATH"
        )
    return f"sqlite:///{database}"


def _validate_server(parsed: Any, shown: str, driver: str) -> str:
    """A database server's URL (PostgreSQL, MySQL/MariaDB), rewritten to use ``driver``."""
    host = parsed.host or ""
    if "@" in host:  # an unencoded "@" in the password; the "host" holds part of the password
        raise StorageError(
            f"malformed storage URL {shown!r}: percent-encode '@', ':' and '/' in the password "
            "(e.g. '@' as %40)"
        )
    socket = "unix_socket" in parsed.query or "host" in parsed.query  # a local socket, no host
    if (not host and not socket) or re.search(r"[/\s]", host):
        raise StorageError(f"malformed storage URL {shown!r}: bad host {host or '(none)'!r}")
    if not parsed.database:
        raise StorageError(f"storage URL {shown!r} names no database; {_USAGE}")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise StorageError(f"storage URL {shown!r} has port {parsed.port} out of range 1-65535")
    normalised = parsed.set(drivername=driver)
    return str(normalised.render_as_string(hide_password=False))


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def _is_mysql(url: str) -> bool:
    """Whether a validated URL is MySQL's or MariaDB's."""
    return url.partition("+")[0].partition(":")[0] in _MYSQL_DIALECTS


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
    timeout = max(1, math.ceil(connect_timeout))
    argument = "connect_timeout"  # psycopg's, PyMySQL's, mysqlclient's
    if _is_mysql(url):
        argument = _MYSQL_TIMEOUT_ARG[url.partition("://")[0].partition("+")[2]]
    # pool_pre_ping replaces pooled connections that a database restart has closed.
    return {"pool_pre_ping": True, "connect_args": {argument: timeout}}


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
    text = _MYSQL_ERROR.sub(r"\g<text>", text)  # PyMySQL: (1045, "Access denied ...")
    lowered = text.lower()
    if re.search(r"access denied for user .* to database", lowered):  # MySQL: 1044
        text = f"no such database, or no access to it ({text})"
    elif any(s in lowered for s in ("password authentication failed", "no password supplied",
                                  "access denied for user")):  # fmt: skip
        text = f"wrong user or password ({text})"
    elif "could not translate host name" in lowered or "name or service not known" in lowered:
        text = f"unknown host ({text})"
    elif any(s in lowered for s in ("connection refused", "timeout expired", "timed out",
                                    "can't connect to", "unknown mysql server host")):  # fmt: skip
        text = f"database server unreachable ({text})"
    else:  # MySQL's "Unknown database 'x'" as PostgreSQL says it
        text = re.sub(r"^Unknown database '(.*)'$", r'database "\1" does not exist', text)
    return _scrub(text, url)


# How PyMySQL and mysqlclient print an error: (CODE, "TEXT") or (CODE, 'TEXT').
_MYSQL_ERROR = re.compile(r"""^\((?P<code>\d+), (?P<q>["'])(?P<text>.*)(?P=q)\)$""")


def open_storage(
    url: str,
    *,
    heartbeat: Heartbeat | None = None,
    must_exist: bool = False,
    connect_timeout: float = _CONNECT_TIMEOUT_S,
) -> RDBStorage:
    """Open an Optuna RDB storage at ``url`` (validated first), with failed-worker recovery.

    With ``heartbeat``, running trials record heartbeats (through
    :func:`~blocknas.search.workers.keep_alive`) and a trial silent for longer than the grace
    period is failed and its parameters are run once more
    (:class:`optuna.storages.RetryHeartbeatStaleTrialCallback` with ``max_retry=1``).
    ``must_exist`` refuses to create a new SQLite file (a worker joins; it never creates).
    Any failure to reach the database raises :class:`StorageError` with the password masked.
    """
    import optuna
    import sqlalchemy.event
    import sqlalchemy.exc

    shown = mask_url(url.strip())
    url = validate_storage_url(url)
    if _is_sqlite(url):
        path = _sqlite_path(url)
        if must_exist and not path.is_file():
            raise StorageError(f"cannot open storage {shown}: no such database file {str(path)!r}")
        if must_exist:
            _check_study_file(path, shown)
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
            storage = optuna.storages.RDBStorage(
                url, engine_kwargs=_engine_kwargs(url, connect_timeout), **kwargs
            )
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise StorageError(f"cannot open storage {shown}: {_reason(exc, url)}") from None
    except ImportError as exc:
        raise StorageError(f"cannot open storage {shown}: {_missing_driver(url, exc)}") from None
    except RuntimeError as exc:  # optuna's schema version check
        raise StorageError(f"cannot open storage {shown}: {_scrub(str(exc), url)}") from None
    if _is_mysql(url):
        sqlalchemy.event.listen(storage.engine, "handle_error", _mysql_disconnect)
    return storage


def _check_study_file(path: Path, shown: str) -> None:
    """Refuse an SQLite file that holds no optuna study tables, read-only: opening one with
    optuna would write its schema into it (an empty file, or someone else's database)."""
    import sqlite3
    from urllib.request import pathname2url

    if path.stat().st_size == 0:
        raise StorageError(
            f"cannot open storage {shown}: {str(path)!r} is empty (0 bytes), not a study database"
        )
    try:
        conn = sqlite3.connect(f"file:{pathname2url(str(path.resolve()))}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open storage {shown}: {exc}") from None
    if not {"studies", "trials"} <= tables:
        raise StorageError(
            f"cannot open storage {shown}: {str(path)!r} is an SQLite database without optuna's "
            "study tables"
        )


def sqlite_file_lost(url: str) -> str | None:
    """For an SQLite URL whose database file has gone (deleted, moved, emptied) since it was
    opened, a phrase that says so; else None. Open connections still reach the old file, new
    ones find no tables: that is no outage to wait out."""
    if not _is_sqlite(url):
        return None
    path = _sqlite_path(url)
    if not path.is_file():
        return f"the database file {str(path)!r} is gone (deleted or moved)"
    if path.stat().st_size == 0:
        return f"the database file {str(path)!r} was emptied"
    return None


def storage_failure(exc: BaseException, url: str) -> StorageError:
    """A one-line, password-free error for a storage that failed while a search used it."""
    lost = sqlite_file_lost(url)
    if lost is not None:
        return StorageError(f"{lost}; the trials stored in it are lost with it")
    return StorageError(f"the study storage {_shown(url)} failed: {_reason(exc, url)}")


def _mysql_disconnect(context: Any) -> None:
    """Treat MySQL/MariaDB's "server shutdown in progress" and "connection was killed" as lost
    connections, as SQLAlchemy does for "server has gone away": the connection is dropped, not
    returned to the pool (where resetting it would fail and log a traceback)."""
    if _is_pymysql_connection_error(context.original_exception):
        context.is_disconnect = True


def _missing_driver(url: str, exc: ImportError) -> str:
    if _is_mysql(url):
        driver = url.partition("://")[0].partition("+")[2]
        if driver == _DEFAULT_MYSQL_DRIVER:
            return (
                "the MySQL/MariaDB driver PyMySQL is missing; install it with "
                "`pip install 'blocknas[mysql]'`"
            )
        return f"the MySQL/MariaDB driver {driver!r} is missing ({exc.name or exc})"
    return "the PostgreSQL driver is missing; install it with `pip install 'blocknas[postgres]'`"


def reruns(trials: Collection[FrozenTrial]) -> dict[int, int]:
    """Lost trials that were run again: {number of the lost trial: number of its re-run}.

    A lost trial (its worker died, or was interrupted) is failed and its parameters queued as a
    new trial by optuna's ``RetryHeartbeatStaleTrialCallback``, which records the chain of lost
    trials it stands for in the new trial's ``retry_history`` system attribute, the last one
    being the trial it directly re-runs.
    """
    found: dict[int, int] = {}
    for t in trials:
        history = t.system_attrs.get("retry_history")
        if isinstance(history, list) and history:
            found[int(history[-1])] = t.number
    return found


def is_continuation(trial: optuna.Trial | FrozenTrial) -> bool:
    """Whether ``trial`` continues a paused trial rather than trying a new candidate."""
    return trial.user_attrs.get(CONTINUES_ATTR) is not None


def continued(trials: Iterable[FrozenTrial]) -> set[int]:
    """Numbers of the paused trials that some trial of ``trials`` continues (or tried to)."""
    return {int(t.user_attrs[CONTINUES_ATTR]) for t in trials if is_continuation(t)}


def is_rerun(trial: optuna.Trial) -> bool:
    """Whether ``trial`` re-runs a lost trial (optuna's retry records ``failed_trial`` in it)."""
    # optuna.Trial exposes no system attributes; read them as optuna's own set_constraint does.
    return "failed_trial" in trial.storage.get_trial_system_attrs(trial._trial_id)


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
    stored = {
        k: v for k, v in upgrade_search_config(record["search_config"]).items() if k not in ignore
    }
    given = {k: v for k, v in dict(search_config).items() if k not in ignore}
    _drop_unused_form(stored, given)
    diff = _first_difference(stored, given, "")
    if diff is not None:
        key, old, new = diff
        raise StorageError(
            f"search config does not match study {study.study_name!r}: {key or 'config'} is "
            f"{_short(new)} here but {_short(old)} in the stored study; use a new --study name "
            "or the stored config"
        )


def upgrade_search_config(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A search config as stored with a study, in today's terms: a study stored before early
    stopping had a ``form`` ran its stopping form, whatever today's default is."""
    data = dict(stored)
    stopping = data.get("early_stopping")
    if isinstance(stopping, Mapping) and "form" not in stopping:
        data["early_stopping"] = {**stopping, "form": "stopping"}
    return data


def _drop_unused_form(stored: dict[str, Any], given: dict[str, Any]) -> None:
    """Early stopping's form does not matter when it is off in both configs."""
    one, two = stored.get("early_stopping"), given.get("early_stopping")
    off = [isinstance(c, Mapping) and c.get("enabled") is False for c in (one, two)]
    if all(off):
        assert isinstance(one, Mapping) and isinstance(two, Mapping)
        stored["early_stopping"] = {k: v for k, v in one.items() if k != "form"}
        given["early_stopping"] = {k: v for k, v in two.items() if k != "form"}


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


# --------------------------------------------------------------------------- connection errors


# MySQL/MariaDB client and server error codes that mean the connection is gone: can't connect
# (2003), server gone away (2006), lost connection (2013, 2055), server shutting down (1053),
# connection killed (1927), client disconnected by the server (4031).
_MYSQL_CONNECTION_CODES = frozenset({1053, 1927, 2003, 2006, 2013, 2055, 4031})


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
        if _is_pymysql_connection_error(current):
            return current
        current = current.__cause__ or current.__context__
    return None


def _is_pymysql_connection_error(exc: BaseException) -> bool:
    """A PyMySQL error not wrapped by SQLAlchemy that says the connection is lost."""
    pymysql = sys.modules.get("pymysql")  # not imported: no PyMySQL error can exist
    if pymysql is None:
        return False
    if isinstance(exc, pymysql.err.InterfaceError):  # "(0, '')": the connection is closed
        return True
    code = exc.args[0] if exc.args else None
    return isinstance(exc, pymysql.err.OperationalError) and code in _MYSQL_CONNECTION_CODES


def _is_connection_error(exc: BaseException) -> bool:
    return _connection_cause(exc) is not None
