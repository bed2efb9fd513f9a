"""An agent over mutual TLS end to end: a real agent process with its cluster's certificate
syncs and runs a job through a scheduler that requires client certificates; an agent without a
certificate never gets through the handshake, and one presenting another cluster's certificate
is refused and stops."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from protos.suanchou.v1 import admin_pb2, admin_pb2_grpc, jobs_pb2, jobs_pb2_grpc, types_pb2
from scheduler.service.settings import SchedulerSettings
from tests.integration.conftest import REPO, md
from tests.integration.tls_app import TlsServer, running_tls_app

SETTINGS = SchedulerSettings(sync_interval_s=0.2, lease_timeout_s=5, cycle_interval_s=0.2)


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _register(server: TlsServer, name: str) -> str:
    with server.channel() as channel:
        reply = admin_pb2_grpc.ClusterServiceStub(channel).RegisterCluster(
            admin_pb2.RegisterClusterRequest(
                spec=admin_pb2.ClusterSpec(name=name, region="hz", security_level=3)
            ),
            metadata=md(server.admin_token),
            timeout=20,
        )
    token: str = reply.agent_token
    return token


def _node_count(server: TlsServer, name: str) -> int:
    with server.channel() as channel:
        cluster = admin_pb2_grpc.ClusterServiceStub(channel).GetCluster(
            admin_pb2.GetClusterRequest(name=name), metadata=md(server.admin_token), timeout=20
        )
    count: int = cluster.node_count
    return count


def _agent(
    tmp: Path, server: TlsServer, cluster: str, token: str, *tls: str
) -> subprocess.Popen[bytes]:
    token_file = tmp / f"{cluster}-{len(tls)}.token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    nodes = tmp / f"{cluster}.yaml"
    nodes.write_text(
        yaml.safe_dump({"nodes": [{"name": "n1", "capacity": {"cpu": 4, "memory": "8Gi"}}]})
    )
    log = tmp / f"agent-{cluster}-{len(tls)}.log"
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                sys.executable, "-m", "agents", "--scheduler", server.address,
                "--nodes", str(nodes), "--workdir", str(tmp / f"work-{cluster}-{len(tls)}"),
                "--interval", "0.2", "--kill-grace", "1", "--token-file", str(token_file), *tls,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )  # fmt: skip


def test_agent_with_its_certificate_runs_a_job_and_others_are_refused(tmp_path: Path) -> None:
    """mTLS: the cluster's own certificate syncs and runs a job to SUCCEEDED; no certificate
    fails the handshake (nodes never appear); another cluster's certificate is refused with
    PERMISSION_DENIED and the agent exits 3."""
    with running_tls_app(tmp_path, mtls=True, settings=SETTINGS) as server:
        ca = str(server.ca)
        token = _register(server, "xc-gov")
        own = server.pki.client("xc-gov")
        agents = [
            _agent(tmp_path, server, "xc-gov", token, "--tls-ca", ca,
                   "--tls-cert", str(own.cert), "--tls-key", str(own.key)),
        ]  # fmt: skip
        try:
            _wait(lambda: _node_count(server, "xc-gov") == 1, 60, "the agent's nodes over mTLS")
            with server.channel() as channel:
                department = admin_pb2_grpc.DepartmentServiceStub(channel).CreateDepartment(
                    admin_pb2.CreateDepartmentRequest(name="公安局", display_name="公安局"),
                    metadata=md(server.admin_token),
                    timeout=20,
                )
                jobs = jobs_pb2_grpc.JobServiceStub(channel)
                [result] = jobs.SubmitJobs(
                    jobs_pb2.SubmitJobsRequest(
                        items=[
                            types_pb2.JobSpec(
                                client_id="over-mtls",
                                resources=types_pb2.Resources(quantities={"cpu": 500}),
                                command=[sys.executable, "-c", "print('ok')"],
                            )
                        ]
                    ),
                    metadata=md(department.token),
                    timeout=20,
                ).results

                def succeeded() -> bool:
                    job = jobs.GetJob(
                        jobs_pb2.GetJobRequest(job_id=result.job_id),
                        metadata=md(department.token),
                        timeout=20,
                    )
                    return bool(job.state == types_pb2.JOB_STATE_SUCCEEDED)

                _wait(succeeded, 60, "the job to succeed through the mTLS agent")

            other = _register(server, "xc-two")
            bare = _agent(tmp_path, server, "xc-two", other, "--tls-ca", ca)
            agents.append(bare)
            log = tmp_path / "agent-xc-two-2.log"
            _wait(
                lambda: log.read_text(errors="replace").count("sync_failed") >= 2,
                60,
                "the certificate-less agent to fail its handshakes",
            )
            assert _node_count(server, "xc-two") == 0 and bare.poll() is None
            bare.kill()
            borrowed = _agent(tmp_path, server, "xc-two", other, "--tls-ca", ca,
                              "--tls-cert", str(own.cert), "--tls-key", str(own.key))  # fmt: skip
            agents.append(borrowed)
            assert borrowed.wait(60) == 3
            assert "PERMISSION_DENIED" in (tmp_path / "agent-xc-two-6.log").read_text()
            assert _node_count(server, "xc-two") == 0
        finally:
            for agent in agents:
                if agent.poll() is None:
                    agent.terminate()
                    try:
                        agent.wait(15)
                    except subprocess.TimeoutExpired:
                        agent.kill()
