"""An agent whose Sync is refused for load (its concurrency budget is full) still counts as
alive: liveness is noted once the agent is authenticated, before any wait."""

from __future__ import annotations

import time

import grpc
import pytest

from protos.suanchou.v1 import agent_pb2, agent_pb2_grpc
from scheduler.api.admission import AGENTS
from tests.integration.conftest import Pool, md


def test_sync_refused_for_load_still_counts_as_a_heartbeat(pool: Pool) -> None:
    """With both of the cluster's Sync slots taken, a Sync is RESOURCE_EXHAUSTED, yet the
    scheduler has noted the agent's call (the reaper will not declare it lost)."""
    assert pool.app is not None
    token = pool.cluster("gov-a", [], start_agent=False)
    admission = pool.app.admission
    for _ in range(2):
        admission.acquire(AGENTS, "agent:gov-a")
    try:
        before = pool.app.clock.now()
        time.sleep(0.01)  # a strictly later call time, on a clock of ~µs resolution
        with pytest.raises(grpc.RpcError) as refused:
            agent_pb2_grpc.AgentServiceStub(pool.channel).Sync(
                agent_pb2.SyncRequest(agent_id="busy"), metadata=md(token), timeout=10
            )
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        heard = pool.app.liveness.last("gov-a")
        assert heard is not None and heard > before
    finally:
        for _ in range(2):
            admission.release(AGENTS, "agent:gov-a")
