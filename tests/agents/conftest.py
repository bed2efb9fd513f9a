"""Fixtures for the agent tests (helpers live in agent_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from agent_helpers import ScriptedScheduler, Server

from agents.kube.api import PodApi, connect
from tests.kube_api import KubeApiServer


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


@pytest.fixture
def kube() -> Iterator[KubeApiServer]:
    server = KubeApiServer()
    yield server
    server.stop()


@pytest.fixture
def pod_api(kube: KubeApiServer, tmp_path: Path) -> PodApi:
    """The real client, loaded from a kubeconfig file, talking to the loopback API server."""
    return PodApi(connect(str(kube.kubeconfig(tmp_path))), "jobs")
