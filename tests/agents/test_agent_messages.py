"""Message size limits of the agent's channel, against a real gRPC server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from agent_helpers import TOKEN, Server, python_cmd

from agents.agent import Agent
from agents.capacity import NodeInfo, StaticCapacity
from agents.client import DEFAULT_MAX_MESSAGE_BYTES, AgentClient
from agents.executor import LocalExecutor

NODES = [NodeInfo("n1", {"cpu": 1000, "memory": 1024}, {})]


@pytest.fixture
def make_agent(scheduler: Server, tmp_path: Path) -> Iterator[Callable[..., Agent]]:
    cleanup: list[Callable[[], object]] = []

    def make(**client_options: int) -> Agent:
        client = AgentClient(scheduler.target, TOKEN, **client_options)
        executor = LocalExecutor(tmp_path / "work")
        cleanup.extend([client.close, executor.shutdown])
        return Agent(client, StaticCapacity(NODES), executor)

    yield make
    for action in reversed(cleanup):
        action()


def test_default_limit_receives_replies_above_grpc_s_4_mib(
    scheduler: Server, make_agent: Callable[..., Agent]
) -> None:
    """A 5 MB reply (over gRPC's 4 MiB default) fits the default 8 MiB limit and is applied."""
    assert DEFAULT_MAX_MESSAGE_BYTES == 8 * 1024 * 1024
    scheduler.servicer.lease("big", python_cmd("pass"), env={"BLOB": "x" * 5_000_000})
    agent = make_agent()
    agent.sync_once()
    assert "big" in agent.runs() and agent.last_error == ""


def test_reply_over_the_limit_is_reported_in_the_next_request(
    scheduler: Server, make_agent: Callable[..., Agent]
) -> None:
    """A reply larger than --max-message-bytes fails with RESOURCE_EXHAUSTED, and the agent's
    next Sync tells the scheduler so in last_error."""
    scheduler.servicer.lease("big", python_cmd("pass"), env={"BLOB": "x" * 100_000})
    agent = make_agent(max_message_bytes=65536)
    with pytest.raises(grpc.RpcError) as failure:
        agent.sync_once()
    assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
    del scheduler.servicer.leases["big"]
    agent.sync_once()
    first = scheduler.servicer.last().last_error
    assert first.startswith("RESOURCE_EXHAUSTED: ") and len(first) <= 220
    agent.sync_once()
    assert scheduler.servicer.last().last_error == ""
