"""The sync loop's timing and error reporting, driven by a scripted client and a fake clock."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from structlog.testing import capture_logs

from agents.agent import Agent
from agents.backoff import Backoff, cap_for_lease_timeout
from agents.capacity import NodeInfo, StaticCapacity
from agents.executor import LocalExecutor
from protos.suanchou.v1 import agent_pb2

NODES = [NodeInfo("n1", {"cpu": 1000, "memory": 1024}, {})]


class StepClock:
    """Monotonic time that moves `step` seconds each time it is read: the loop never waits."""

    def __init__(self, step: float = 0.002) -> None:
        self.now, self.step = 100.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class Failure(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str = "") -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


Outcome = agent_pb2.SyncResponse | Failure


class ScriptedClient:
    """Answers each Sync with the next outcome; once they run out, stops the agent."""

    def __init__(self, clock: StepClock, stop: threading.Event, *outcomes: Outcome) -> None:
        self.clock, self.stop, self.outcomes = clock, stop, list(outcomes)
        self.calls: list[tuple[float, agent_pb2.SyncRequest]] = []

    def sync(self, request: agent_pb2.SyncRequest, timeout: float) -> agent_pb2.SyncResponse:
        self.calls.append((self.clock.now, request))
        if not self.outcomes:
            self.stop.set()
            raise Failure(grpc.StatusCode.UNAVAILABLE, "script over")
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Failure):
            raise outcome
        return outcome


def reply(**fields: object) -> agent_pb2.SyncResponse:
    fields.setdefault("sync_interval_seconds", 1.0)
    return agent_pb2.SyncResponse(cluster="c", **fields)  # type: ignore[arg-type]


@pytest.fixture
def executor(tmp_path: Path) -> Iterator[LocalExecutor]:
    executor = LocalExecutor(tmp_path / "work")
    yield executor
    executor.shutdown()


def run_script(executor: LocalExecutor, *outcomes: Outcome) -> tuple[ScriptedClient, list]:
    """Runs the agent loop over `outcomes`; returns the client and the captured log events."""
    clock, stop = StepClock(), threading.Event()
    client = ScriptedClient(clock, stop, *outcomes)
    agent = Agent(client, StaticCapacity(NODES), executor, clock=clock, tick=0.0)
    with capture_logs() as logs:
        agent.run(stop)
    return client, logs


def unavailable(n: int) -> list[Outcome]:
    return [Failure(grpc.StatusCode.UNAVAILABLE, "connection refused") for _ in range(n)]


def test_retry_delay_stays_under_a_fifth_of_the_lease_timeout(executor: LocalExecutor) -> None:
    """Before any reply retries back off to at most 5 s; once the scheduler says its lease
    timeout is 10 s, to at most 2 s; with a 60 s timeout, still at most 5 s."""
    _, logs = run_script(
        executor,
        *unavailable(8),
        reply(lease_timeout_seconds=10),
        *unavailable(8),
        reply(lease_timeout_seconds=60),
        *unavailable(8),
    )
    delays = [e["retry_in"] for e in logs if e["event"] == "sync_failed"]
    first, second, third = delays[:8], delays[8:16], delays[16:24]
    assert max(first) <= 5.0 and max(first) > 4.0  # grew to the cap, not beyond
    assert max(second) <= 2.0 and max(second) > 1.6
    assert max(third) <= 5.0 and max(third) > 4.0


def test_cap_follows_the_lease_timeout() -> None:
    """The cap is min(5 s, lease timeout / 5); no or a nonsensical timeout means 5 s."""
    assert [cap_for_lease_timeout(t) for t in (0, -1, 2, 10, 25, 30, 600)] == [
        5.0,
        5.0,
        0.4,
        2.0,
        5.0,
        5.0,
        5.0,
    ]
    backoff = Backoff(initial=1, maximum=3)
    backoff.limit(10)  # never above the configured maximum
    assert max(backoff.next() for _ in range(6)) <= 3


def test_last_error_reports_the_previous_failure_then_clears(executor: LocalExecutor) -> None:
    """After a failed exchange the next request carries its code and at most 200 characters of
    details; after a good exchange it is empty again."""
    too_big = Failure(grpc.StatusCode.RESOURCE_EXHAUSTED, "received message larger " + "x" * 900)
    client, _ = run_script(executor, reply(), too_big, reply(), reply())
    errors = [request.last_error for _, request in client.calls]
    assert errors[0] == "" and errors[1] == ""
    assert errors[2].startswith("RESOURCE_EXHAUSTED: received message larger ")
    assert len(errors[2]) == len("RESOURCE_EXHAUSTED: ") + 200
    assert errors[3] == ""


def test_more_makes_the_agent_sync_again_at_once(executor: LocalExecutor) -> None:
    """A reply with `more` is followed by another Sync within a few ms, not after the interval."""
    client, _ = run_script(executor, reply(more=True), reply(more=True), reply(), reply())
    times = [t for t, _ in client.calls]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(0.01 <= gap < 0.1 for gap in gaps[:2])
    assert gaps[2] >= 1.0  # the regular interval once nothing more is waiting
