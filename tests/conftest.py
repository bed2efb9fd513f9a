"""Shared fixtures: stores on every backend, a manual clock."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from scheduler import logs
from scheduler.service.clock import ManualClock
from scheduler.state import Store

POSTGRES_ENV = "SUANCHOU_TEST_POSTGRES_URL"


def reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def postgres_url() -> str:
    url = os.environ.get(POSTGRES_ENV, "")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{POSTGRES_ENV} is not set; .ci/run starts PostgreSQL and sets it")
        pytest.skip(f"{POSTGRES_ENV} not set (scripts/postgres.sh start prints it)")
    return url


@pytest.fixture(autouse=True)
def _logs_to_stderr() -> None:
    """Logs of in-process servers go to stderr, as in production, so tests can read a CLI's
    stdout; re-applied per test because some tests reset structlog."""
    logs.configure("info", json=False)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'suanchou.db'}"
    url = postgres_url()
    reset_postgres(url)
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'suanchou.db'}")
    yield s
    s.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()
