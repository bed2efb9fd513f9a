"""Fixtures for the agent tests (helpers live in agent_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog
from agent_helpers import ScriptedScheduler, Server


@pytest.fixture
def scheduler() -> Iterator[Server]:
    server = Server(ScriptedScheduler())
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    # agents.main configures structlog globally (bound to the captured stderr of one test).
    yield
    structlog.reset_defaults()
