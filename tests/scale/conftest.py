"""Fixtures for the scale-out tests: a :class:`Cluster` of worker processes on one study, and
``server_cluster``: one on each database server (PostgreSQL, MySQL/MariaDB)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from _cluster import Cluster


@pytest.fixture
def sqlite_cluster(tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(f"sqlite:///{tmp_path / 'study.db'}", "toy", tmp_path)
    try:
        yield cluster
    finally:
        cluster.stop_all()


def _server_cluster(server: object, tmp_path: Path) -> Iterator[Cluster]:
    # A fresh study name per test: the server's database outlives the test.
    cluster = Cluster(server.url, f"toy-{uuid.uuid4().hex[:8]}", tmp_path)  # type: ignore[attr-defined]
    try:
        yield cluster
    finally:
        cluster.stop_all()


@pytest.fixture
def postgres_cluster(postgres: object, tmp_path: Path) -> Iterator[Cluster]:
    yield from _server_cluster(postgres, tmp_path)


@pytest.fixture
def mysql_cluster(mysql: object, tmp_path: Path) -> Iterator[Cluster]:
    yield from _server_cluster(mysql, tmp_path)


SERVERS = [
    pytest.param("postgres", marks=pytest.mark.postgres, id="postgres"),
    pytest.param("mysql", marks=pytest.mark.mysql, id="mysql"),
]


@pytest.fixture(params=SERVERS)
def server_cluster(request: pytest.FixtureRequest) -> tuple[Cluster, object]:
    """A cluster on each database server in turn, with the server (``down()``, ``up()``)."""
    name = request.param
    return request.getfixturevalue(f"{name}_cluster"), request.getfixturevalue(name)
