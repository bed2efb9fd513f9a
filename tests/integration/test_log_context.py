"""Log lines carry their context: a request's id on every line of that request, `cycle=N` on
every line of a scheduling cycle (the solver's debug progress included); routine agent calls
log at debug."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import fields
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from protos.suanchou.v1 import agent_pb2, agent_pb2_grpc, types_pb2
from scheduler.placement import Timings
from tests.integration.conftest import Pool, md, node, py_job


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    """Every log line at any level, with the bound context merged in as in production."""
    wrapper = structlog.get_config()["wrapper_class"]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as entries:
            yield entries
    finally:
        structlog.configure(wrapper_class=wrapper)


def test_a_line_logged_inside_a_request_carries_its_request_id(
    pool: Pool, logs: list[dict[str, Any]]
) -> None:
    """An agent's reported error, logged by the sync use case, names the caller's
    x-request-id and the method; the Sync's own routine line is at debug level."""
    token = pool.cluster("c9", [], start_agent=False)
    agent_pb2_grpc.AgentServiceStub(pool.channel).Sync(
        agent_pb2.SyncRequest(agent_id="probe", last_error="UNAVAILABLE: connection refused"),
        metadata=(*md(token), ("x-request-id", "req-7f3a")),
    )
    [reported] = [e for e in logs if e["event"] == "agent_reported_error"]
    assert reported["request_id"] == "req-7f3a"
    assert reported["method"] == "/suanchou.v1.AgentService/Sync"
    assert reported["cluster"] == "c9"
    [done] = [e for e in logs if e["event"] == "rpc_completed" and e["request_id"] == "req-7f3a"]
    assert done["log_level"] == "debug" and done["code"] == "OK"
    # Bound for the call only: lines after it (other calls, the cycle) do not inherit it.
    later = [e for e in logs[logs.index(done) + 1 :] if e.get("request_id") == "req-7f3a"]
    assert later == []


def test_every_line_of_a_cycle_carries_its_number(pool: Pool, logs: list[dict[str, Any]]) -> None:
    """The cycle that places a job logs cycle_completed with cycle=N and every solver Timings
    field; the solver's progress lines of that cycle, at debug level, carry the same N."""
    pool.department("dept")
    pool.cluster("c1", [node("n1")])
    [result] = pool.submit("dept", py_job("j", "print('hi')"))
    pool.wait_state("dept", result.job_id, {types_pb2.JOB_STATE_SUCCEEDED})
    [placing] = [e for e in logs if e["event"] == "cycle_completed" and e["placed"] == 1]
    number = placing["cycle"]
    assert isinstance(number, int) and number >= 1
    assert set(placing["solver_ms"]) == {f.name.removesuffix("_ms") for f in fields(Timings)}
    solver = [e for e in logs if str(e["event"]).startswith("solver_") and e["cycle"] == number]
    assert solver, "no solver progress line in the placing cycle"
    assert {e["log_level"] for e in solver} == {"debug"}
    # No request context leaks into the cycle thread's lines.
    assert all("request_id" not in e for e in logs if e.get("cycle") == number)
