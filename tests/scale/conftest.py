"""Fixtures for the scale-out tests: a :class:`Cluster` of worker processes on one study."""

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


@pytest.fixture
def postgres_cluster(postgres: object, tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(postgres.url, f"toy-{uuid.uuid4().hex[:8]}", tmp_path)  # type: ignore[attr-defined]
    try:
        yield cluster
    finally:
        cluster.stop_all()
