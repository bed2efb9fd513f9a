"""A real scheduler on an OS-chosen loopback port, real agent processes, a real SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from protos.suanchou.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
    security_pb2,
    security_pb2_grpc,
    types_pb2,
)
from scheduler.app import App
from scheduler.config import ServerConfig
from scheduler.service.security_settings import SecuritySettings
from scheduler.service.settings import SchedulerSettings
from tests.conftest import postgres_url, reset_postgres

# The server's bootstrap token (from a file, as in production): it only creates principals.
BOOTSTRAP_TOKEN = "integration-bootstrap-token-0123456789"
REPO = Path(__file__).resolve().parents[2]
TERMINAL = {
    types_pb2.JOB_STATE_SUCCEEDED,
    types_pb2.JOB_STATE_FAILED,
    types_pb2.JOB_STATE_CANCELLED,
    types_pb2.JOB_STATE_REJECTED,
}
Metadata = tuple[tuple[str, str], ...]


def md(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


@dataclass
class Agent:
    cluster: str
    proc: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@dataclass
class Pool:
    """The scheduler under test plus helpers to drive it the way users do."""

    tmp: Path
    db_url: str
    settings: SchedulerSettings
    security: SecuritySettings = field(default_factory=SecuritySettings)
    app: App | None = None
    port: int = 0
    agents: list[Agent] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)
    # Token of the `admin` principal, created through the bootstrap token at first start.
    admin_token: str = ""
    # HOST:PORT of the Prometheus endpoint ("127.0.0.1:0" for any free port); "" serves none.
    metrics_listen: str = ""
    _channel: grpc.Channel | None = None

    # -- scheduler -------------------------------------------------------------------------

    def start(self) -> None:
        listen = f"127.0.0.1:{self.port}"
        bootstrap_file = self.tmp / "bootstrap-token"
        bootstrap_file.write_text(BOOTSTRAP_TOKEN + "\n")
        config = ServerConfig(
            listen=listen,
            database_url=self.db_url,
            admin_token_file=str(bootstrap_file),
            scheduler=self.settings,
            security=self.security,
            metrics_listen=self.metrics_listen,
        )
        self.app = App(config)
        self.app.start()
        self.port = self.app.port
        self._channel = grpc.insecure_channel(self.address)
        if not self.admin_token:
            self.admin_token = self.principal("admin", "admin")

    def principal(self, name: str, role: str) -> str:
        """The one bootstrap helper: creates a named principal with the bootstrap token and
        returns its first token (also kept in `tokens`)."""
        reply = security_pb2_grpc.PrincipalServiceStub(self.channel).CreatePrincipal(
            security_pb2.CreatePrincipalRequest(name=name, role=role),
            metadata=md(BOOTSTRAP_TOKEN),
        )
        self.tokens[name] = reply.token
        return reply.token

    def stop(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self.app is not None:
            self.app.stop(grace=0.5)
            self.app = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def channel(self) -> grpc.Channel:
        assert self._channel is not None
        return self._channel

    @property
    def jobs(self) -> jobs_pb2_grpc.JobServiceStub:
        return jobs_pb2_grpc.JobServiceStub(self.channel)

    @property
    def clusters(self) -> admin_pb2_grpc.ClusterServiceStub:
        return admin_pb2_grpc.ClusterServiceStub(self.channel)

    @property
    def departments(self) -> admin_pb2_grpc.DepartmentServiceStub:
        return admin_pb2_grpc.DepartmentServiceStub(self.channel)

    # -- admin -----------------------------------------------------------------------------

    def department(self, name: str) -> str:
        reply = self.departments.CreateDepartment(
            admin_pb2.CreateDepartmentRequest(name=name, display_name=name),
            metadata=md(self.admin_token),
        )
        self.tokens[name] = reply.token
        return reply.token

    def cluster(
        self, name: str, nodes: list[dict[str, Any]], *, start_agent: bool = True, **spec: Any
    ) -> str:
        base: dict[str, Any] = {"region": "hz", "security_level": 2}
        base.update(spec)
        reply = self.clusters.RegisterCluster(
            admin_pb2.RegisterClusterRequest(spec=admin_pb2.ClusterSpec(name=name, **base)),
            metadata=md(self.admin_token),
        )
        self.tokens[name] = reply.agent_token
        (self.tmp / f"{name}.yaml").write_text(yaml.safe_dump({"nodes": nodes}))
        if start_agent:
            self.start_agent(name)
        return reply.agent_token

    def spawn_agent(self, cluster: str, *args: str, kill_grace: float = 1) -> Agent:
        """Starts `python -m agents` for `cluster` with its token and `args` (executor, nodes),
        the pool's scheduler, a per-cluster workdir and a 0.2-s interval; logs to a file."""
        log = self.tmp / f"agent-{cluster}-{len(self.agents)}.log"
        # The child keeps its own copy of the log descriptor; ours closes right away.
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "agents",
                    "--scheduler",
                    self.address,
                    *args,
                    "--workdir",
                    str(self.tmp / f"work-{cluster}"),
                    "--interval",
                    "0.2",
                    "--kill-grace",
                    f"{kill_grace:g}",
                ],
                env=dict(os.environ, SUANCHOU_AGENT_TOKEN=self.tokens[cluster]),
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        agent = Agent(cluster, proc, log)
        self.agents.append(agent)
        return agent

    def start_agent(self, cluster: str) -> Agent:
        agent = self.spawn_agent(cluster, "--nodes", str(self.tmp / f"{cluster}.yaml"))
        self.wait_for(
            lambda: self.cluster_info(cluster).node_count > 0,
            20,
            f"agent of {cluster} to report nodes",
        )
        return agent

    def cluster_info(self, name: str) -> admin_pb2.Cluster:
        return self.clusters.GetCluster(
            admin_pb2.GetClusterRequest(name=name), metadata=md(self.admin_token)
        )

    # -- department ------------------------------------------------------------------------

    def submit(self, dept: str, *specs: types_pb2.JobSpec) -> list[jobs_pb2.SubmitResult]:
        reply = self.jobs.SubmitJobs(
            jobs_pb2.SubmitJobsRequest(items=list(specs)), metadata=md(self.tokens[dept])
        )
        return list(reply.results)

    def get(self, dept: str, job_id: str) -> types_pb2.Job:
        return self.jobs.GetJob(
            jobs_pb2.GetJobRequest(job_id=job_id), metadata=md(self.tokens[dept])
        )

    def wait_state(
        self, dept: str, job_id: str, states: set[int], timeout: float = 30
    ) -> types_pb2.Job:
        """Follows the job's event stream until it reaches one of `states`."""
        deadline = time.monotonic() + timeout
        job = self.get(dept, job_id)
        if job.state in states:
            return job
        stream = self.jobs.WatchEvents(
            jobs_pb2.WatchEventsRequest(job_id=job_id, follow=True),
            metadata=md(self.tokens[dept]),
            timeout=timeout,
        )
        try:
            for event in stream:
                if event.state in states:
                    return self.get(dept, job_id)
                if time.monotonic() > deadline:
                    break
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise
        finally:
            stream.cancel()
        job = self.get(dept, job_id)
        names = [types_pb2.JobState.Name(s) for s in states]
        raise AssertionError(
            f"job {job_id} is {types_pb2.JobState.Name(job.state)} "
            f"({job.reason}: {job.message}), not in {names}, after {timeout}s"
        )

    @staticmethod
    def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def service_tokens(pool: Pool, department: str, cluster: str) -> dict[str, str]:
    """A valid token for each suanchou service by full name, made through the Pool helpers:
    a new department's, a new cluster's agent token (no agent started), the admin principal's,
    and a new security-admin's and auditor's. The one place to adapt when authentication
    changes."""
    return {
        "suanchou.v1.JobService": pool.department(department),
        "suanchou.v1.AgentService": pool.cluster(cluster, [], start_agent=False),
        "suanchou.v1.ClusterService": pool.admin_token,
        "suanchou.v1.DepartmentService": pool.admin_token,
        "suanchou.v1.PriorityClassService": pool.admin_token,
        "suanchou.v1.PrincipalService": pool.principal(f"{department}-security", "security-admin"),
        "suanchou.v1.AuditService": pool.principal(f"{department}-auditor", "auditor"),
    } | {"suanchou.v1.TokenService": pool.tokens[f"{department}-security"]}


def py_job(
    client_id: str, code: str, *, cpu: int = 500, memory: int = 128, replicas: int = 1, **kw: Any
) -> types_pb2.JobSpec:
    """A job running `python -c code`."""
    return types_pb2.JobSpec(
        client_id=client_id,
        name=client_id,
        replicas=replicas,
        resources=types_pb2.Resources(quantities={"cpu": cpu, "memory": memory}),
        command=[sys.executable, "-c", code],
        **kw,
    )


def node(
    name: str, cpu: int = 4, memory: str = "8Gi", count: int = 1, **labels: str
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name,
        "capacity": {"cpu": cpu, "memory": memory},
        "labels": labels,
    }
    if count > 1:
        spec["count"] = count
    return spec


def _run_pool(
    tmp_path: Path,
    db_url: str,
    security: SecuritySettings | None = None,
    lease_timeout_s: float = 2.0,
) -> Iterator[Pool]:
    settings = SchedulerSettings(
        sync_interval_s=0.2, lease_timeout_s=lease_timeout_s, cycle_interval_s=0.2, max_attempts=3
    )
    p = Pool(
        tmp=tmp_path, db_url=db_url, settings=settings, security=security or SecuritySettings()
    )
    p.start()
    yield p
    for agent in p.agents:
        agent.stop()
    p.stop()


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[Pool]:
    yield from _run_pool(tmp_path, f"sqlite:///{tmp_path / 'suanchou.db'}")


@pytest.fixture
def patient_pool(tmp_path: Path) -> Iterator[Pool]:
    """The SQLite pool with a 20-s lease timeout, for tests whose cycles write megabytes: on a
    loaded machine one such commit holds SQLite's writer for seconds, the agent's next Sync
    waits behind it, and the 2-s timeout would declare a healthy cluster lost."""
    yield from _run_pool(tmp_path, f"sqlite:///{tmp_path / 'suanchou.db'}", lease_timeout_s=20.0)


@pytest.fixture
def pg_pool(tmp_path: Path) -> Iterator[Pool]:
    """The same scheduler on the test PostgreSQL server."""
    url = postgres_url()
    reset_postgres(url)
    yield from _run_pool(tmp_path, url)
