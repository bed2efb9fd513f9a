"""scripts/issue-certs.sh issues what docs/tls.md describes; a real mTLS scheduler accepts it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import grpc
import pytest

from protos.suanchou.v1 import agent_pb2, agent_pb2_grpc
from scheduler.app import App
from scheduler.config import ServerConfig
from tests.integration.conftest import BOOTSTRAP_TOKEN, REPO, md
from tests.integration.tls_app import create_admin, error_line, suanchou

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")
SCRIPT = REPO / "scripts" / "issue-certs.sh"


def issue(directory: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), str(directory), *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )


def channel(address: str, pki: Path, client: str) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=(pki / "ca.pem").read_bytes(),
        private_key=(pki / f"{client}.key").read_bytes(),
        certificate_chain=(pki / f"{client}.pem").read_bytes(),
    )
    return grpc.secure_channel(address, credentials)


def test_issued_certificates_serve_mtls_to_the_cli_and_an_agent(tmp_path: Path) -> None:
    """A CA, a server certificate and client certificates from the script work end to end."""
    pki = tmp_path / "pki"
    for argv in (
        ("ca",),
        ("server", "scheduler.city.example", "127.0.0.1", "localhost"),
        ("client", "xc-gov"),
        ("client", "ops-admin"),
    ):
        result = issue(pki, *argv)
        assert result.returncode == 0, result.stderr
    assert {p.name for p in pki.glob("*.key")} == {
        "ca.key",
        "server.key",
        "xc-gov.key",
        "ops-admin.key",
    }
    assert all(p.stat().st_mode & 0o077 == 0 for p in pki.glob("*.key"))
    again = issue(pki, "ca")
    assert again.returncode == 2 and "exists" in again.stderr
    app = App(
        ServerConfig(
            listen="127.0.0.1:0",
            database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
            admin_token=BOOTSTRAP_TOKEN,
            tls_cert=str(pki / "server.pem"),
            tls_key=str(pki / "server.key"),
            tls_client_ca=str(pki / "ca.pem"),
        )
    )
    app.start()
    try:
        address = f"127.0.0.1:{app.port}"
        admin = create_admin(channel(address, pki, "ops-admin"))
        registered = suanchou(
            "--scheduler", address, "--tls-ca", str(pki / "ca.pem"),
            "--tls-cert", str(pki / "ops-admin.pem"), "--tls-key", str(pki / "ops-admin.key"),
            "--json", "cluster", "register", "xc-gov", "--region", "hz", "--security-level", "3",
            SUANCHOU_ADMIN_TOKEN=admin,
        )  # fmt: skip
        assert registered.returncode == 0, registered.stderr
        agent_token = json.loads(registered.stdout)["agent_token"]
        sync = agent_pb2.SyncRequest(agent_id="issued-cert-agent")
        with channel(address, pki, "xc-gov") as agent:
            agent_pb2_grpc.AgentServiceStub(agent).Sync(sync, metadata=md(agent_token), timeout=20)
        # The operator's certificate is valid for the handshake but does not name the cluster.
        with channel(address, pki, "ops-admin") as other, pytest.raises(grpc.RpcError) as info:
            agent_pb2_grpc.AgentServiceStub(other).Sync(sync, metadata=md(agent_token), timeout=20)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        no_cert = suanchou(
            "--scheduler", address, "--tls-ca", str(pki / "ca.pem"), "cluster", "list",
            SUANCHOU_ADMIN_TOKEN=admin,
        )  # fmt: skip
        assert error_line(no_cert).startswith("error: UNAVAILABLE")
    finally:
        app.stop(grace=0.5)
