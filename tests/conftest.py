"""Fixtures shared by all tests: a real PostgreSQL server (``postgres``)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

_SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "postgres.sh"


@dataclass(frozen=True)
class PostgresServer:
    """A running server: ``url`` (with password) and, when the tests started it or .ci/postgres.sh
    did, the ``state`` folder that lets a test stop and start it."""

    url: str
    state: str | None

    def _ctl(self, action: str) -> None:
        if self.state is None:
            _unavailable("PostgreSQL given by URL only (no BLOCKNAS_TEST_POSTGRES_STATE)")
        env = {**os.environ, "BLOCKNAS_TEST_POSTGRES_STATE": self.state}
        subprocess.run(
            [str(_SCRIPT), action], env=env, check=True, capture_output=True, timeout=120
        )

    def down(self) -> None:
        self._ctl("down")

    def up(self) -> None:
        self._ctl("up")


def _unavailable(reason: str) -> None:
    """Skip, or fail in CI (BLOCKNAS_REQUIRE_ALL=1), where every optional test must run."""
    if os.environ.get("BLOCKNAS_REQUIRE_ALL") == "1":
        pytest.fail(f"{reason} (BLOCKNAS_REQUIRE_ALL=1)", pytrace=False)
    pytest.skip(reason)


def _has_postgres() -> bool:
    return shutil.which("pg_ctl") is not None or any(Path("/usr/lib/postgresql").glob("*/bin"))


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """BLOCKNAS_TEST_POSTGRES_URL's server (.ci/postgres.sh starts one), else a throw-away local
    one, else skip (fail under BLOCKNAS_REQUIRE_ALL=1)."""
    url = os.environ.get("BLOCKNAS_TEST_POSTGRES_URL")
    if url:
        yield PostgresServer(url, os.environ.get("BLOCKNAS_TEST_POSTGRES_STATE"))
        return
    if not _has_postgres():
        _unavailable("no PostgreSQL: set BLOCKNAS_TEST_POSTGRES_URL or run under .ci/postgres.sh")
    started = subprocess.run(
        [str(_SCRIPT), "start", "--no-install"], capture_output=True, text=True, timeout=180
    )
    if started.returncode != 0:
        _unavailable(f"could not start PostgreSQL: {started.stderr.strip().splitlines()[-1:]}")
    exports = dict(
        line.removeprefix("export ").split("=", 1) for line in started.stdout.splitlines()
    )
    server = PostgresServer(
        shlex.split(exports["BLOCKNAS_TEST_POSTGRES_URL"])[0],
        shlex.split(exports["BLOCKNAS_TEST_POSTGRES_STATE"])[0],
    )
    try:
        yield server
    finally:
        server._ctl("stop")
