"""What the Helm chart runs: the plaintext health port beside a TLS API, and `suanchou migrate`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos.suanchou.v1 import jobs_pb2, jobs_pb2_grpc
from scheduler.app import App
from scheduler.config import ServerConfig, load
from scheduler.state.migrate import MIGRATIONS
from tests.integration.conftest import BOOTSTRAP_TOKEN, REPO
from tests.tls_certs import TestPki


def test_health_port_answers_plaintext_beside_a_tls_api(tmp_path: Path) -> None:
    """With --health-listen the server answers grpc.health.v1 in plaintext on its own port (as a
    Kubernetes gRPC probe dials it) and serves nothing else there, while the API stays TLS-only."""
    pki = TestPki(tmp_path / "pki")
    cert = pki.server()
    app = App(
        ServerConfig(
            listen="127.0.0.1:0",
            database_url=f"sqlite:///{tmp_path / 'health.db'}",
            admin_token=BOOTSTRAP_TOKEN,
            tls_cert=str(cert.cert),
            tls_key=str(cert.key),
            health_listen="127.0.0.1:0",
        )
    )
    app.start(run_cycles=False)
    try:
        assert app.health_port not in (0, app.port)
        with grpc.insecure_channel(f"127.0.0.1:{app.health_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for service in ("", "suanchou.v1.JobService"):
                reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=20)
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.RpcError) as refused:
                jobs_pb2_grpc.JobServiceStub(channel).ListJobs(
                    jobs_pb2.ListJobsRequest(), timeout=20
                )
            assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
        # The reason for the second port: a plaintext probe cannot talk to the TLS API port.
        with grpc.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            with pytest.raises(grpc.RpcError) as plaintext:
                health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=5
                )
            assert plaintext.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        app.stop(grace=0.5)


def test_health_listen_is_read_from_the_environment() -> None:
    """SUANCHOU_HEALTH_LISTEN sets health_listen, as every server key has an environment form."""
    config = load(None, environ={"SUANCHOU_HEALTH_LISTEN": "0.0.0.0:50052"})
    assert config.health_listen == "0.0.0.0:50052"
    assert load(None, environ={}).health_listen == ""


def _suanchou(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SUANCHOU_")}
    return subprocess.run(
        [sys.executable, "-m", "scheduler.cli.main", *argv],
        env={**clean, "HOME": "/nonexistent", **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_migrate_brings_an_empty_database_to_the_newest_revision(tmp_path: Path) -> None:
    """`suanchou migrate` (the chart's hook Job) migrates the database named by
    SUANCHOU_DATABASE_URL to the newest revision and exits 0; a second run changes nothing."""
    newest = sorted(p.stem for p in (MIGRATIONS / "versions").glob("0*.py"))[-1]
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    for _ in range(2):
        result = _suanchou("migrate", SUANCHOU_DATABASE_URL=url)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"database {url} is at revision {newest}"


def test_migrate_failure_is_one_line_without_the_password() -> None:
    """An unreachable database fails the hook with exit 1 and one line naming the database,
    its password masked."""
    result = _suanchou(
        "migrate", "--database-url", "postgresql+psycopg://suanchou:hunter2@127.0.0.1:1/x"
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: database postgresql+psycopg://suanchou:***@127.0.0.1:1/x")
    assert "hunter2" not in result.stderr + result.stdout
