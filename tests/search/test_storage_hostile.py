"""Hostile input wherever a user types a storage URL, a study name or a search config: each case
is one line "error: ..." on stderr, exit status 2, no traceback, no password, and the stored study
is left exactly as it was."""

from __future__ import annotations

import hashlib
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from sqlalchemy.engine import make_url

from blocknas.cli import main
from blocknas.search import create_search_study, load_search_config
from blocknas.search.storage import open_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)

TINY = Path(__file__).resolve().parents[1] / "scale" / "digits_tiny.yaml"
FAKE_SECRET = "Secr3tPw"  # in URLs that must fail before reaching any server


@dataclass(frozen=True)
class Place:
    """An existing study (``name`` in ``url``) and a scratch folder."""

    url: str
    name: str
    tmp: Path


Case = Callable[[Place], list[str]]


def _under_a_file(place: Place) -> str:
    blocker = place.tmp / "a-file"
    blocker.write_text("not a folder")
    return str(blocker / "run")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg(place: Place, **parts: Any) -> str:
    url = make_url(place.url).set(**parts)
    return url.render_as_string(hide_password=False)


def _mismatched_yaml(place: Place) -> str:
    raw = yaml.safe_load(TINY.read_text())
    raw["space"]["stem"]["Conv"]["out"] = {"choices": [8, 32]}
    path = place.tmp / "changed.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def _not_a_database(place: Place) -> str:
    path = place.tmp / "notes.db"
    path.write_text("this is not a database\n" * 100)
    return f"sqlite:///{path}"


def _worker(storage: str, study: str) -> list[str]:
    return ["worker", "--storage", storage, "--study", study]


# (case id, argv from the place, a phrase the one-line message must hold)
EVERYWHERE: list[tuple[str, Case, str]] = [
    ("empty-url", lambda p: _worker("", p.name), "empty storage URL"),
    ("no-scheme", lambda p: _worker("study.db", p.name), "did you mean sqlite:///study.db"),
    ("bad-port", lambda p: _worker(f"postgresql://u:{FAKE_SECRET}@h:port/db", p.name),
     "bad port number"),
    ("unencoded-at", lambda p: _worker(f"postgresql://u:{FAKE_SECRET}@x@h/db", p.name),
     "percent-encode"),
    ("no-database-name", lambda p: _worker(f"postgresql://u:{FAKE_SECRET}@h:5432", p.name),
     "names no database"),
    ("other-scheme", lambda p: _worker(f"oracle://u:{FAKE_SECRET}@h/db", p.name),
     "unsupported storage URL scheme 'oracle'"),
    ("mysql-port-range", lambda p: _worker(f"mysql://u:{FAKE_SECRET}@h:70000/db", p.name),
     "out of range"),
    ("mysql-unencoded-at", lambda p: _worker(f"mariadb://u:{FAKE_SECRET}@x@h/db", p.name),
     "percent-encode"),
    ("mysql-no-database-name", lambda p: _worker(f"mysql://u:{FAKE_SECRET}@h:3306", p.name),
     "names no database"),
    ("mysql-unknown-driver", lambda p: _worker(f"mysql+odbc://u:{FAKE_SECRET}@h/db", p.name),
     "unsupported MySQL/MariaDB driver 'odbc'"),
    ("mysql-unreachable", lambda p: _worker(
        f"mysql://u:{FAKE_SECRET}@127.0.0.1:{_closed_port()}/db", p.name), "unreachable"),
    ("in-memory", lambda p: _worker("sqlite:///:memory:", p.name), "in-memory"),
    ("missing-sqlite-file", lambda p: _worker(f"sqlite:///{p.tmp / 'none.db'}", p.name),
     "no such database file"),
    ("not-a-database", lambda p: _worker(_not_a_database(p), p.name), "not a database"),
    ("unreachable", lambda p: _worker(
        f"postgresql://u:{FAKE_SECRET}@127.0.0.1:{_closed_port()}/db", p.name), "unreachable"),
    ("unknown-study", lambda p: _worker(p.url, "no-such-study"), "no study named 'no-such-study'"),
    ("status-unknown-study", lambda p: ["study", "status", "--storage", p.url, "--study", "nope"],
     "known studies"),
    ("create-existing-name", lambda p: ["study", "create", str(TINY), "--storage", p.url,
                                        "--study", p.name], "already exists"),
    ("create-bad-deadline", lambda p: ["study", "create", str(TINY), "--storage", p.url,
                                       "--study", "other", "--deadline", "soon"], "deadline"),
    ("create-bad-heartbeat", lambda p: ["study", "create", str(TINY), "--storage", p.url,
                                        "--study", "other", "--heartbeat-interval", "30",
                                        "--grace-period", "20"], "grace period"),
    ("create-no-trials", lambda p: ["study", "create", str(TINY), "--storage", p.url,
                                    "--study", "other", "--n-trials", "0"], "--n-trials"),
    ("create-path-name", lambda p: ["study", "create", str(TINY), "--storage", p.url,
                                    "--study", "../../x"], "plain name"),
    ("search-path-name", lambda p: ["search", str(TINY), "--storage", p.url, "--study",
                                    "../x", "--out", str(p.tmp / "new"), "-q"], "plain name"),
    ("resume-no-trials", lambda p: ["search", str(TINY), "--storage", p.url, "--study", p.name,
                                    "--resume", "--out", str(p.tmp / "run"), "--n-trials", "-3",
                                    "--quiet"], "--n-trials"),
    ("create-missing-config", lambda p: ["study", "create", str(p.tmp / "none.yaml"),
                                         "--storage", p.url], "no such file"),
    ("create-out-under-a-file", lambda p: ["study", "create", str(TINY), "--storage", p.url,
                                           "--study", "other", "--out", _under_a_file(p)],
     "cannot create the run folder"),
    ("resume-mismatched-space", lambda p: ["search", _mismatched_yaml(p), "--storage", p.url,
                                           "--study", p.name, "--resume", "--out",
                                           str(p.tmp / "run"), "--quiet"],
     "stem.Conv.out.choices[1]"),
]  # fmt: skip

POSTGRES_ONLY: list[tuple[str, Case, str]] = [
    ("wrong-password", lambda p: _worker(_pg(p, password=FAKE_SECRET), p.name),
     "wrong user or password"),
    ("unknown-user", lambda p: _worker(_pg(p, username="nobody"), p.name),
     "wrong user or password"),
    ("unknown-database", lambda p: _worker(_pg(p, database="nope"), p.name),
     'database "nope" does not exist'),
]  # fmt: skip

MYSQL_ONLY: list[tuple[str, Case, str]] = [
    ("wrong-password", lambda p: _worker(_pg(p, password=FAKE_SECRET), p.name),
     "wrong user or password"),
    ("unknown-user", lambda p: _worker(_pg(p, username="nobody"), p.name),
     "wrong user or password"),
    ("unknown-database", lambda p: _worker(_pg(p, database="nope"), p.name),
     "no such database, or no access to it"),
]  # fmt: skip


def _snapshot(url: str) -> Any:
    storage = open_storage(url)
    try:
        studies = []
        for summary in optuna.study.get_all_study_summaries(storage, include_best_trial=False):
            study = optuna.load_study(study_name=summary.study_name, storage=storage)
            trials = [(t.number, t.state, t.params, t.values, t.user_attrs, t.system_attrs)
                      for t in study.trials]  # fmt: skip
            system = storage.get_study_system_attrs(study._study_id)
            studies.append((summary.study_name, study.user_attrs, system, trials))
        return sorted(studies, key=lambda s: s[0])
    finally:
        storage.engine.dispose()


def _file_hash(url: str) -> str | None:
    if not url.startswith("sqlite:///"):
        return None
    return hashlib.sha256(Path(url.removeprefix("sqlite:///")).read_bytes()).hexdigest()


def _make_place(url: str, tmp: Path) -> Place:
    name = f"hostile-{uuid.uuid4().hex[:8]}"
    study = create_search_study(load_search_config(TINY), storage=url, study_name=name, n_trials=3)
    study._storage._backend.engine.dispose()
    return Place(url, name, tmp)


def _check(place: Place, case: Case, phrase: str, capsys: pytest.CaptureFixture[str]) -> None:
    secret = make_url(place.url).password
    before, before_hash = _snapshot(place.url), _file_hash(place.url)
    argv = case(place)
    capsys.readouterr()
    status = main(argv)
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2, (argv, out, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert phrase in lines[0]
    assert "Traceback" not in out + err
    for word in filter(None, (secret, FAKE_SECRET)):
        assert word not in out + err
    assert _snapshot(place.url) == before
    assert _file_hash(place.url) == before_hash


@pytest.fixture(scope="module")
def sqlite_place(tmp_path_factory: pytest.TempPathFactory) -> Place:
    tmp = tmp_path_factory.mktemp("hostile-sqlite")
    return _make_place(f"sqlite:///{tmp / 'study.db'}", tmp)


@pytest.fixture(scope="module")
def postgres_place(postgres: Any, tmp_path_factory: pytest.TempPathFactory) -> Place:
    return _make_place(postgres.url, tmp_path_factory.mktemp("hostile-postgres"))


@pytest.fixture(scope="module")
def mysql_place(mysql: Any, tmp_path_factory: pytest.TempPathFactory) -> Place:
    return _make_place(mysql.url, tmp_path_factory.mktemp("hostile-mysql"))


@pytest.mark.parametrize(("case", "phrase"), [c[1:] for c in EVERYWHERE],
                         ids=[c[0] for c in EVERYWHERE])  # fmt: skip
def test_hostile_input_sqlite(
    sqlite_place: Place, case: Case, phrase: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _check(sqlite_place, case, phrase, capsys)


@pytest.mark.postgres
@pytest.mark.parametrize(("case", "phrase"), [c[1:] for c in EVERYWHERE + POSTGRES_ONLY],
                         ids=[c[0] for c in EVERYWHERE + POSTGRES_ONLY])  # fmt: skip
def test_hostile_input_postgres(
    postgres_place: Place, case: Case, phrase: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _check(postgres_place, case, phrase, capsys)


@pytest.mark.mysql
@pytest.mark.parametrize(("case", "phrase"), [c[1:] for c in EVERYWHERE + MYSQL_ONLY],
                         ids=[c[0] for c in EVERYWHERE + MYSQL_ONLY])  # fmt: skip
def test_hostile_input_mysql(
    mysql_place: Place, case: Case, phrase: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _check(mysql_place, case, phrase, capsys)
