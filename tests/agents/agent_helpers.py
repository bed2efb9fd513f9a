"""Helpers for the agent tests: a scripted AgentService on a real gRPC server, waiting and
process checks. Imported by name (pytest's default prepend mode puts this directory on
sys.path); no __init__.py here, as a test package named `agents` would shadow the real one."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from protos.suanchou.v1 import agent_pb2, agent_pb2_grpc, types_pb2

TOKEN = "test-agent-token"
FINISHED = (
    types_pb2.RUN_STATE_SUCCEEDED,
    types_pb2.RUN_STATE_FAILED,
    types_pb2.RUN_STATE_CANCELLED,
)


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    """Polls `predicate` until it is truthy; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.01)


def pid_gone(pid: int) -> bool:
    """True if no such process, or only its zombie is left (it can no longer run)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def python_cmd(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def run_state(request: agent_pb2.SyncRequest, run_id: str) -> agent_pb2.RunReport | None:
    return next((r for r in request.runs if r.run_id == run_id), None)


class ScriptedScheduler(agent_pb2_grpc.AgentServiceServicer):
    """A minimal AgentService: re-sends every lease in `leases` on each Sync (as a scheduler
    does after a restart), cancels ids in `cancel`, acknowledges finished runs when `ack`."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.requests: list[agent_pb2.SyncRequest] = []
        self.leases: dict[str, agent_pb2.RunLease] = {}
        self.cancel: set[str] = set()
        self.ack = True
        self.duplicate_starts = False
        self.interval = 0.05
        # run id -> max runtime sent in every reply (SyncResponse.runtime_limits).
        self.limits: dict[str, int] = {}

    def Sync(
        self, request: agent_pb2.SyncRequest, context: grpc.ServicerContext
    ) -> agent_pb2.SyncResponse:
        if dict(context.invocation_metadata()).get("authorization") != f"Bearer {TOKEN}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "unknown agent token")
        with self.cond:
            self.requests.append(request)
            self.cond.notify_all()
            start = list(self.leases.values())
            if self.duplicate_starts:
                start += start
            finished = [r.run_id for r in request.runs if r.state in FINISHED]
            return agent_pb2.SyncResponse(
                cluster="test-cluster",
                start=start,
                cancel=sorted(self.cancel),
                acknowledged=finished if self.ack else [],
                sync_interval_seconds=self.interval,
                lease_timeout_seconds=30,
                runtime_limits=[
                    agent_pb2.RuntimeLimit(run_id=run_id, max_runtime_seconds=seconds)
                    for run_id, seconds in self.limits.items()
                ],
            )

    def lease(self, run_id: str, command: list[str], **fields: object) -> agent_pb2.RunLease:
        msg = agent_pb2.RunLease(
            run_id=run_id,
            job_id=f"job-{run_id}",
            attempt=1,
            replica=0,
            replicas=1,
            command=command,
            **fields,  # type: ignore[arg-type]
        )
        with self.cond:
            self.leases[run_id] = msg
        return msg

    def last(self) -> agent_pb2.SyncRequest:
        with self.cond:
            return self.requests[-1]

    def wait_for(
        self, predicate: Callable[[agent_pb2.SyncRequest], bool], timeout: float = 10.0
    ) -> agent_pb2.SyncRequest:
        """The first request from now on (or already last) that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        with self.cond:
            seen = max(0, len(self.requests) - 1)
            while True:
                for request in self.requests[seen:]:
                    if predicate(request):
                        return request
                seen = len(self.requests)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"no matching Sync within {timeout}s; last: {self.requests[-1:]}")
                self.cond.wait(remaining)


class Server:
    """A real gRPC server on 127.0.0.1; `restart()` comes back on the same port."""

    def __init__(self, servicer: ScriptedScheduler) -> None:
        self.servicer = servicer
        self.port = 0
        self._server: grpc.Server | None = None
        self.start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        agent_pb2_grpc.add_AgentServiceServicer_to_server(self.servicer, server)
        self.port = server.add_insecure_port(f"127.0.0.1:{self.port}")
        server.start()
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None).wait()
            self._server = None
