"""TLS and mutual TLS end to end: a real scheduler, `suanchou` CLI processes, real certificates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from structlog.testing import capture_logs

from protos.suanchou.v1 import admin_pb2, admin_pb2_grpc, agent_pb2, agent_pb2_grpc
from scheduler.app import App
from scheduler.config import ServerConfig
from tests.integration.conftest import BOOTSTRAP_TOKEN, md
from tests.integration.tls_app import (
    TlsServer,
    create_admin,
    error_line,
    running_tls_app,
    suanchou,
)
from tests.tls_certs import TestPki

CITY_NAME = "scheduler.city.example"


def list_clusters(channel: grpc.Channel, token: str) -> admin_pb2.ListClustersResponse:
    stub = admin_pb2_grpc.ClusterServiceStub(channel)
    return stub.ListClusters(admin_pb2.ListClustersRequest(), metadata=md(token), timeout=20)


def refused_code(channel: grpc.Channel) -> grpc.StatusCode:
    """The status code of a ListClusters call that must fail on `channel`."""
    with pytest.raises(grpc.RpcError) as info:
        list_clusters(channel, "refused-before-authentication")
    code: grpc.StatusCode = info.value.code()
    return code


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[TlsServer]:
    with running_tls_app(tmp_path) as server:
        yield server


@pytest.fixture
def mtls_server(tmp_path: Path) -> Iterator[TlsServer]:
    with running_tls_app(tmp_path, mtls=True) as server:
        yield server


def test_cli_over_tls_creates_a_department_and_lists_clusters(tls_server: TlsServer) -> None:
    """The CLI with --tls-ca (or SUANCHOU_TLS_CA) creates, registers and lists over TLS."""
    common = ("--scheduler", tls_server.address, "--tls-ca", str(tls_server.ca), "--json")
    env = {"SUANCHOU_ADMIN_TOKEN": tls_server.admin_token}
    created = suanchou(
        *common, "department", "create", "公安局", "--display-name", "市公安局", **env
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["token"]
    registered = suanchou(
        *common, "cluster", "register", "xc-gov", "--region", "hz", "--security-level", "3", **env
    )
    assert registered.returncode == 0, registered.stderr
    listed = suanchou(
        "--scheduler",
        f"localhost:{tls_server.app.port}",
        "--json",
        "cluster",
        "list",
        SUANCHOU_TLS_CA=str(tls_server.ca),
        **env,
    )
    assert listed.returncode == 0, listed.stderr
    assert "xc-gov" in listed.stdout


def test_clients_without_the_ca_or_in_plaintext_are_unavailable(tls_server: TlsServer) -> None:
    """A client that does not trust the CA, or speaks plaintext, never reaches an RPC."""
    with grpc.secure_channel(tls_server.address, grpc.ssl_channel_credentials()) as channel:
        assert refused_code(channel) == grpc.StatusCode.UNAVAILABLE
    with grpc.insecure_channel(tls_server.address) as channel:
        assert refused_code(channel) == grpc.StatusCode.UNAVAILABLE
    plain = suanchou(
        "--scheduler",
        tls_server.address,
        "cluster",
        "list",
        SUANCHOU_ADMIN_TOKEN=tls_server.admin_token,
    )
    assert plain.returncode == 1
    assert error_line(plain).startswith("error: UNAVAILABLE")
    with tls_server.channel() as channel:
        assert list(list_clusters(channel, tls_server.admin_token).clusters) == []


def test_server_name_override_for_a_certificate_issued_to_a_dns_name(tmp_path: Path) -> None:
    """Dialling an IP, --server-name makes the CLI accept a certificate issued to a DNS name."""
    with running_tls_app(tmp_path, names=(CITY_NAME,)) as server:
        common = ("--scheduler", server.address, "--tls-ca", str(server.ca), "department", "list")
        env = {"SUANCHOU_ADMIN_TOKEN": server.admin_token}
        mismatch = suanchou(*common, **env)
        assert mismatch.returncode == 1
        assert error_line(mismatch).startswith("error: UNAVAILABLE")
        named = suanchou(*common, "--server-name", CITY_NAME, **env)
        assert named.returncode == 0, named.stderr


def test_mtls_refuses_clients_without_a_certificate_or_from_another_ca(
    mtls_server: TlsServer, tmp_path: Path
) -> None:
    """Under --tls-client-ca only a client certificate from that CA gets through the handshake."""
    stranger = TestPki(tmp_path / "other-ca").client("suanchou-cli")
    with mtls_server.channel(present=False) as channel:
        assert refused_code(channel) == grpc.StatusCode.UNAVAILABLE
    with mtls_server.channel(stranger) as channel:
        assert refused_code(channel) == grpc.StatusCode.UNAVAILABLE
    with mtls_server.channel() as channel:
        assert list(list_clusters(channel, mtls_server.admin_token).clusters) == []
    common = ("--scheduler", mtls_server.address, "--tls-ca", str(mtls_server.ca))
    env = {"SUANCHOU_ADMIN_TOKEN": mtls_server.admin_token}
    no_cert = suanchou(*common, "cluster", "list", **env)
    assert no_cert.returncode == 1
    assert error_line(no_cert).startswith("error: UNAVAILABLE")
    client = mtls_server.client
    with_cert = suanchou(
        *common, "--tls-cert", str(client.cert), "--tls-key", str(client.key), "cluster", "list",
        **env,
    )  # fmt: skip
    assert with_cert.returncode == 0, with_cert.stderr


def test_mtls_agent_certificate_must_name_its_cluster(mtls_server: TlsServer) -> None:
    """Under mTLS an agent's Sync is refused unless its certificate's CN/SAN is its cluster."""
    with mtls_server.channel() as admin:
        reply = admin_pb2_grpc.ClusterServiceStub(admin).RegisterCluster(
            admin_pb2.RegisterClusterRequest(
                spec=admin_pb2.ClusterSpec(name="xc-gov", region="hz", security_level=3)
            ),
            metadata=md(mtls_server.admin_token),
            timeout=20,
        )
    request = agent_pb2.SyncRequest(agent_id="test-agent")
    own = mtls_server.pki.client("xc-gov")
    with mtls_server.channel(own) as channel:
        agent_pb2_grpc.AgentServiceStub(channel).Sync(
            request, metadata=md(reply.agent_token), timeout=20
        )
    borrowed = mtls_server.pki.client("other-cluster")
    with mtls_server.channel(borrowed) as channel, pytest.raises(grpc.RpcError) as info:
        agent_pb2_grpc.AgentServiceStub(channel).Sync(
            request, metadata=md(reply.agent_token), timeout=20
        )
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "'xc-gov'" in info.value.details()
    assert "other-cluster" in info.value.details()


def test_started_line_names_the_tls_mode(tmp_path: Path) -> None:
    """scheduler_started logs tls=mtls with a client CA, tls=tls without one."""
    with capture_logs() as logs:
        with running_tls_app(tmp_path / "m", mtls=True):
            pass
        with running_tls_app(tmp_path / "t"):
            pass
    modes = [entry["tls"] for entry in logs if entry["event"] == "scheduler_started"]
    assert modes == ["mtls", "tls"]


def test_plaintext_server_off_loopback_refuses_to_start_without_insecure(tmp_path: Path) -> None:
    """`suanchou server --listen 0.0.0.0:0` exits 2 with one line, before creating a database."""
    database = tmp_path / "never.db"
    result = suanchou(
        "server",
        "--listen",
        "0.0.0.0:0",
        "--database-url",
        f"sqlite:///{database}",
        SUANCHOU_BOOTSTRAP_TOKEN=BOOTSTRAP_TOKEN,
    )
    assert result.returncode == 2
    assert "refusing to serve plaintext on 0.0.0.0:0 (not loopback)" in error_line(result)
    assert not database.exists()


def test_plaintext_off_loopback_with_insecure_starts_and_warns(tmp_path: Path) -> None:
    """With insecure the server serves plaintext on 0.0.0.0 and warns; the CLI needs --insecure."""
    config = ServerConfig(
        listen="0.0.0.0:0",
        database_url=f"sqlite:///{tmp_path / 'open.db'}",
        admin_token=BOOTSTRAP_TOKEN,
        insecure=True,
    )
    with capture_logs() as logs:
        app = App(config)
        app.start()
    try:
        events = {entry["event"]: entry for entry in logs}
        assert events["plaintext_listen"]["log_level"] == "warning"
        assert events["scheduler_started"]["tls"] == "off"
        # 0.0.0.0 is not a loopback address, yet on Linux dialling it reaches this machine.
        target = f"0.0.0.0:{app.port}"
        admin = create_admin(grpc.insecure_channel(f"127.0.0.1:{app.port}"))
        env = {"SUANCHOU_ADMIN_TOKEN": admin}
        refused = suanchou("--scheduler", target, "department", "list", **env)
        assert refused.returncode == 2
        assert "refusing plaintext to 0.0.0.0" in error_line(refused)
        allowed = suanchou("--scheduler", target, "--insecure", "department", "list", **env)
        assert allowed.returncode == 0, allowed.stderr
        from_env = suanchou(
            "--scheduler", target, "department", "list", SUANCHOU_INSECURE="1", **env
        )
        assert from_env.returncode == 0, from_env.stderr
    finally:
        app.stop(grace=0.5)


@pytest.mark.parametrize(
    ("problem", "expected"),
    [
        ("missing", "tls_cert {dir}/absent.pem: No such file or directory"),
        ("mismatch", "tls_key: does not match the certificate in tls_cert"),
        ("no-key", "tls_key: required with tls_cert"),
        ("not-pem", "tls_cert/tls_key: not a PEM certificate and key"),
        ("client-ca-alone", "tls_client_ca: needs tls_cert and tls_key"),
    ],
)
def test_unusable_tls_files_stop_the_server_with_one_line(
    tmp_path: Path, problem: str, expected: str
) -> None:
    """A missing file, a key of another certificate or a missing key: exit 2, one line."""
    pki = TestPki(tmp_path)
    good, other = pki.server(), pki.server(stem="other")
    flags = {
        "missing": ["--tls-cert", str(tmp_path / "absent.pem"), "--tls-key", str(good.key)],
        "mismatch": ["--tls-cert", str(good.cert), "--tls-key", str(other.key)],
        "no-key": ["--tls-cert", str(good.cert)],
        "not-pem": ["--tls-cert", str(good.key), "--tls-key", str(good.key)],
        "client-ca-alone": ["--tls-client-ca", str(pki.ca)],
    }[problem]
    result = suanchou(
        "server",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        f"sqlite:///{tmp_path / 'tls.db'}",
        *flags,
        SUANCHOU_BOOTSTRAP_TOKEN=BOOTSTRAP_TOKEN,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == error_line(result)
    assert expected.format(dir=tmp_path) in error_line(result)
