"""A real scheduler serving TLS (or mutual TLS) on an OS-chosen loopback port.

with running_tls_app(tmp_path, mtls=True) as server:
    server.address        # 127.0.0.1:PORT, covered by the server certificate's SAN
    server.ca             # CA file a client passes as --tls-ca
    server.client         # CertFiles(cert, key) a client passes as --tls-cert/--tls-key
    server.pki.client("xc-gov")   # an agent certificate for cluster xc-gov (CN and SAN)
    server.channel()      # a gRPC channel presenting `client` (under mTLS) and trusting `ca`
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc

from protos.suanchou.v1 import security_pb2, security_pb2_grpc
from scheduler.app import App
from scheduler.config import ServerConfig
from scheduler.service.settings import SchedulerSettings
from tests.integration.conftest import BOOTSTRAP_TOKEN, REPO, md
from tests.tls_certs import LOOPBACK_NAMES, CertFiles, TestPki

CLIENT_NAME = "suanchou-cli"


@dataclass
class TlsServer:
    app: App
    pki: TestPki
    server_cert: CertFiles
    client: CertFiles
    mtls: bool
    admin_token: str = ""  # an `admin` principal's, created with the bootstrap token at start

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.app.port}"

    @property
    def ca(self) -> Path:
        return self.pki.ca

    def channel(
        self,
        client: CertFiles | None = None,
        *,
        ca: Path | None = None,
        present: bool = True,
        server_name: str = "",
    ) -> grpc.Channel:
        """A TLS channel trusting `ca` (default: this CA), presenting `client` if `present`."""
        cert = (client or self.client) if present else None
        credentials = grpc.ssl_channel_credentials(
            root_certificates=(ca or self.ca).read_bytes(),
            private_key=cert.key.read_bytes() if cert else None,
            certificate_chain=cert.cert.read_bytes() if cert else None,
        )
        options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
        return grpc.secure_channel(self.address, credentials, options=options)


@contextmanager
def running_tls_app(
    directory: Path,
    *,
    mtls: bool = False,
    names: tuple[str, ...] = LOOPBACK_NAMES,
    settings: SchedulerSettings | None = None,
) -> Iterator[TlsServer]:
    """Starts an App whose certificate covers `names`; client certificates required if `mtls`."""
    pki = TestPki(directory / "pki")
    server_cert = pki.server(names)
    config = ServerConfig(
        listen="127.0.0.1:0",
        database_url=f"sqlite:///{directory / 'tls.db'}",
        admin_token=BOOTSTRAP_TOKEN,
        tls_cert=str(server_cert.cert),
        tls_key=str(server_cert.key),
        tls_client_ca=str(pki.ca) if mtls else "",
        scheduler=settings or SchedulerSettings(),
    )
    app = App(config)
    app.start()
    try:
        server = TlsServer(app, pki, server_cert, pki.client(CLIENT_NAME), mtls)
        name = "" if "127.0.0.1" in names else names[0]
        server.admin_token = create_admin(server.channel(server_name=name))
        yield server
    finally:
        app.stop(grace=0.5)


def create_admin(channel: grpc.Channel) -> str:
    """Creates the `admin` principal through the bootstrap token; returns its token."""
    with channel:
        reply = security_pb2_grpc.PrincipalServiceStub(channel).CreatePrincipal(
            security_pb2.CreatePrincipalRequest(name="admin", role="admin"),
            metadata=md(BOOTSTRAP_TOKEN),
            timeout=20,
        )
    token: str = reply.token
    return token


def suanchou(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Runs the real `suanchou` command with only the given SUANCHOU_* variables set."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SUANCHOU_")}
    return subprocess.run(
        [sys.executable, "-m", "scheduler.cli.main", *argv],
        # No ~/.config/suanchou/config.toml of whoever runs the tests.
        env={**clean, "HOME": "/nonexistent", **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]
