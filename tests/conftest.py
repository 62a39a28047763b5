"""Fixtures shared by all tests: real database servers (``postgres``, ``mysql``) and a cap on
a test's memory (``memory_cap``)."""

from __future__ import annotations

import os
import resource
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

_CI = Path(__file__).resolve().parents[1] / ".ci"


@pytest.fixture
def memory_cap() -> Iterator[None]:
    """At most 3 GiB more address space for the test, so that a regression that allocates
    without bound fails the test instead of taking the machine's memory (Linux only)."""
    if not sys.platform.startswith("linux"):
        yield
        return
    status = Path("/proc/self/status").read_text()
    vm = next(
        int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmSize")
    )
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = vm + 3 * 2**30
    resource.setrlimit(
        resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard)
    )
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@dataclass(frozen=True)
class DatabaseServer:
    """A running server: ``url`` (with password) and, when the tests started it or its .ci script
    did, the ``state`` folder that lets a test stop and start it."""

    url: str
    state: str | None
    script: Path  # .ci/postgres.sh or .ci/mysql.sh
    state_var: str  # the script's environment variable for ``state``

    def _ctl(self, action: str) -> None:
        if self.state is None:
            _unavailable(f"server given by URL only (no {self.state_var})")
        env = {**os.environ, self.state_var: self.state}
        subprocess.run(
            [str(self.script), action], env=env, check=True, capture_output=True, timeout=120
        )

    def down(self) -> None:
        self._ctl("down")

    def up(self) -> None:
        self._ctl("up")


PostgresServer = DatabaseServer  # the name the PostgreSQL tests know


def _unavailable(reason: str) -> None:
    """Skip, or fail in CI (BLOCKNAS_REQUIRE_ALL=1), where every optional test must run."""
    if os.environ.get("BLOCKNAS_REQUIRE_ALL") == "1":
        pytest.fail(f"{reason} (BLOCKNAS_REQUIRE_ALL=1)", pytrace=False)
    pytest.skip(reason)


def _server(name: str, script: Path, prefix: str, installed: bool) -> Iterator[DatabaseServer]:
    """``{prefix}_URL``'s server (``script`` starts one), else a throw-away local one, else skip
    (fail under BLOCKNAS_REQUIRE_ALL=1)."""
    url_var, state_var = f"{prefix}_URL", f"{prefix}_STATE"
    url = os.environ.get(url_var)
    if url:
        yield DatabaseServer(url, os.environ.get(state_var), script, state_var)
        return
    if not installed:
        _unavailable(f"no {name}: set {url_var} or run under .ci/{script.name}")
    started = subprocess.run(
        [str(script), "start", "--no-install"], capture_output=True, text=True, timeout=180
    )
    if started.returncode != 0:
        _unavailable(f"could not start {name}: {started.stderr.strip().splitlines()[-1:]}")
    exports = dict(
        line.removeprefix("export ").split("=", 1) for line in started.stdout.splitlines()
    )
    server = DatabaseServer(
        shlex.split(exports[url_var])[0], shlex.split(exports[state_var])[0], script, state_var
    )
    try:
        yield server
    finally:
        server._ctl("stop")


def _has_postgres() -> bool:
    return shutil.which("pg_ctl") is not None or any(Path("/usr/lib/postgresql").glob("*/bin"))


def _has_mysql() -> bool:
    names = ("mariadbd", "mysqld")
    return any(shutil.which(n) or Path("/usr/sbin", n).is_file() for n in names)


@pytest.fixture(scope="session")
def postgres() -> Iterator[DatabaseServer]:
    """BLOCKNAS_TEST_POSTGRES_URL's server (.ci/postgres.sh starts one), else a throw-away local
    one, else skip (fail under BLOCKNAS_REQUIRE_ALL=1)."""
    yield from _server("PostgreSQL", _CI / "postgres.sh", "BLOCKNAS_TEST_POSTGRES", _has_postgres())


@pytest.fixture(scope="session")
def mysql() -> Iterator[DatabaseServer]:
    """BLOCKNAS_TEST_MYSQL_URL's MySQL/MariaDB server (.ci/mysql.sh starts one), else a throw-away
    local MariaDB, else skip (fail under BLOCKNAS_REQUIRE_ALL=1). Needs the PyMySQL driver."""
    try:
        import pymysql  # noqa: F401
    except ImportError:
        _unavailable("no PyMySQL: pip install 'blocknas[mysql]'")
    yield from _server("MySQL/MariaDB", _CI / "mysql.sh", "BLOCKNAS_TEST_MYSQL", _has_mysql())
