"""A light simulated agent: the real AgentService.Sync protocol (protos/suanchou/v1/agent.proto)
over a real gRPC channel, without processes behind the runs.

It is a load generator, not a stub: the server cannot tell it from agents/ (full-state syncs
with the cluster's agent token, every `sync_interval_seconds` the server asks for, at once
when the reply says `more`). A leased run is reported RUNNING from the next sync on and
SUCCEEDED (exit 0) once it has "run" `run_s` seconds (None: it runs until the end), then
forgotten when acknowledged; a run the reply cancels is reported CANCELLED until acknowledged.
It notes when each job's lease reached it (`delivered`: job_id -> epoch seconds).
"""

from __future__ import annotations

import threading
import time

import grpc

from protos.suanchou.v1 import agent_pb2, agent_pb2_grpc, types_pb2

SYNC_TIMEOUT_S = 30.0


class SimAgent(threading.Thread):
    def __init__(
        self,
        address: str,
        cluster: str,
        token: str,
        nodes: int,
        capacity: dict[str, int],
        run_s: float | None,
    ) -> None:
        super().__init__(name=f"sim-agent-{cluster}", daemon=True)
        self.address, self.cluster, self.run_s = address, cluster, run_s
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._nodes = [
            agent_pb2.NodeReport(
                name=f"{cluster}-n{i}", capacity=types_pb2.Resources(quantities=capacity)
            )
            for i in range(nodes)
        ]
        self._halt = threading.Event()
        self._synced = threading.Event()
        self._runs: dict[
            str, tuple[float, types_pb2.RunState.ValueType]
        ] = {}  # run_id -> (started, state)
        self.delivered: dict[str, float] = {}
        self.syncs = 0
        self.failures = 0

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    def stop(self) -> None:
        self._halt.set()
        self.join(SYNC_TIMEOUT_S + 5)

    def run(self) -> None:
        with grpc.insecure_channel(self.address) as channel:
            stub = agent_pb2_grpc.AgentServiceStub(channel)
            interval = 1.0
            while not self._halt.is_set():
                try:
                    reply = stub.Sync(
                        self._request(), timeout=SYNC_TIMEOUT_S, metadata=self._metadata
                    )
                except grpc.RpcError:
                    self.failures += 1
                    self._halt.wait(interval)
                    continue
                self._apply(reply)
                self.syncs += 1
                self._synced.set()
                if reply.sync_interval_seconds > 0:
                    interval = reply.sync_interval_seconds
                if not reply.more:
                    self._halt.wait(interval)

    def _request(self) -> agent_pb2.SyncRequest:
        now = time.time()
        reports = []
        for run_id, (started, state) in self._runs.items():
            if state == types_pb2.RUN_STATE_CANCELLED:
                reports.append(agent_pb2.RunReport(run_id=run_id, state=state, exit_code=-15))
            elif self.run_s is not None and now - started >= self.run_s:
                reports.append(
                    agent_pb2.RunReport(
                        run_id=run_id, state=types_pb2.RUN_STATE_SUCCEEDED, exit_code=0
                    )
                )
            else:
                reports.append(
                    agent_pb2.RunReport(run_id=run_id, state=types_pb2.RUN_STATE_RUNNING)
                )
        return agent_pb2.SyncRequest(
            agent_id=f"bench-{self.cluster}", nodes=self._nodes, runs=reports
        )

    def _apply(self, reply: agent_pb2.SyncResponse) -> None:
        now = time.time()
        for run_id in reply.acknowledged:
            self._runs.pop(run_id, None)
        for run_id in reply.cancel:
            if run_id in self._runs:
                self._runs[run_id] = (now, types_pb2.RUN_STATE_CANCELLED)
        for lease in reply.start:
            if lease.run_id not in self._runs:
                self._runs[lease.run_id] = (now, types_pb2.RUN_STATE_RUNNING)
                self.delivered.setdefault(lease.job_id, now)
