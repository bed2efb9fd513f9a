"""Agent transport: plaintext only to loopback unless --insecure; TLS and mutual TLS."""

from __future__ import annotations

import datetime
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from agent_helpers import TOKEN, ScriptedScheduler, wait_until

from agents.main import EXIT_USAGE, main
from agents.transport import TlsFiles, check_transport, is_loopback
from protos.suanchou.v1 import agent_pb2_grpc

REPO = Path(__file__).resolve().parents[2]
SERVER_NAME = "scheduler.test"


@pytest.mark.parametrize(
    ("target", "loopback"),
    [
        ("127.0.0.1:50051", True),
        ("127.8.9.10:1", True),
        ("localhost:50051", True),
        ("LOCALHOST", True),
        ("[::1]:50051", True),
        ("::1", True),
        ("ipv4:127.0.0.1:5", True),
        ("ipv4:127.0.0.1:5,127.0.0.2:6", True),
        ("ipv4:127.0.0.1:5,10.0.0.5:6", False),
        ("dns:///localhost:50051", True),
        ("unix:/run/suanchou.sock", True),
        ("10.0.0.5:50051", False),
        ("0.0.0.0:50051", False),
        ("[::]:50051", False),
        ("[2001:db8::1]:50051", False),
        ("scheduler.gov.cn:50051", False),
        ("localhost.evil.example:50051", False),
        ("127.0.0.1.nip.io:50051", False),
        ("dns://8.8.8.8/scheduler:50051", False),
        ("xds:///scheduler", False),
        ("", False),
    ],
)
def test_loopback_is_decided_from_the_target_text(target: str, loopback: bool) -> None:
    """Only 127.0.0.0/8, ::1, localhost and unix sockets count as loopback; names never do."""
    assert is_loopback(target) is loopback


def test_plaintext_to_a_remote_scheduler_needs_tls_or_insecure() -> None:
    """A remote target is refused in plaintext, accepted with --tls-ca or explicit --insecure."""
    with pytest.raises(ValueError, match=re.escape("--tls-ca CA.pem (or --insecure")):
        check_transport("10.0.0.5:50051", TlsFiles(), insecure=False)
    check_transport("10.0.0.5:50051", TlsFiles(), insecure=True)
    check_transport("10.0.0.5:50051", TlsFiles(ca=Path("ca.pem")), insecure=False)
    check_transport("127.0.0.1:50051", TlsFiles(), insecure=False)


@pytest.mark.parametrize(
    ("tls", "insecure", "error"),
    [
        (TlsFiles(ca=Path("ca"), cert=Path("c")), False, "go together"),
        (TlsFiles(ca=Path("ca"), key=Path("k")), False, "go together"),
        (TlsFiles(cert=Path("c"), key=Path("k")), False, "needs --tls-ca"),
        (TlsFiles(ca=Path("ca")), True, "contradicts"),
        (TlsFiles(server_name="scheduler.test"), False, "--server-name needs --tls-ca"),
    ],
)
def test_contradictory_tls_flags_are_refused(tls: TlsFiles, insecure: bool, error: str) -> None:
    """Half a client certificate, a certificate without a CA, or TLS with --insecure."""
    with pytest.raises(ValueError, match=error):
        check_transport("127.0.0.1:1", tls, insecure)


def test_main_refuses_a_remote_plaintext_scheduler_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`suanchou agent --scheduler 10.0.0.5:50051` without TLS exits 2 with one line."""
    assert main(["--scheduler", "10.0.0.5:50051", "--token", TOKEN]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--scheduler 10.0.0.5:50051: plaintext" in err


# -- TLS end to end against a scripted scheduler --------------------------------------------


def issue(tmp: Path) -> dict[str, Path]:
    """A CA, a server certificate for the name scheduler.test only (dialled by IP address, it
    needs --server-name) and a client certificate, as PEM."""
    pytest.importorskip("cryptography")  # a test dependency, like the integration TLS tests
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def write(stem: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
        (tmp / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (tmp / f"{stem}.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("test ca"))
        .issuer_name(name("test ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    write("ca", ca_key, ca)

    for stem, usage, sans in (
        (
            "server",
            ExtendedKeyUsageOID.SERVER_AUTH,
            [x509.DNSName(SERVER_NAME)],
        ),
        ("client", ExtendedKeyUsageOID.CLIENT_AUTH, [x509.DNSName("agent")]),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name(stem))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        write(stem, key, cert)
    return {p.name: p for p in tmp.iterdir()}


@pytest.fixture
def mtls_scheduler(tmp_path: Path) -> Iterator[tuple[ScriptedScheduler, str, dict[str, Path]]]:
    """A scripted AgentService on 127.0.0.1 that requires a client certificate of the CA."""
    files = issue(tmp_path)
    servicer = ScriptedScheduler()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    agent_pb2_grpc.add_AgentServiceServicer_to_server(servicer, server)
    credentials = grpc.ssl_server_credentials(
        [(files["server.key"].read_bytes(), files["server.pem"].read_bytes())],
        root_certificates=files["ca.pem"].read_bytes(),
        require_client_auth=True,
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    yield servicer, f"127.0.0.1:{port}", files
    server.stop(grace=None).wait()


def run_agent(target: str, home: Path, *flags: str) -> subprocess.Popen[bytes]:
    """`python -m agents` in `home` (created), logging to home/log."""
    home.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "SUANCHOU_AGENT_TOKEN": TOKEN}
    args = ["--scheduler", target, "--workdir", str(home / "work"), "--interval", "0.05"]
    with (home / "log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "agents", *args, *flags], env=env, cwd=home, stderr=log
        )


def fails_to_sync(servicer: ScriptedScheduler, agent: subprocess.Popen[bytes], log: Path) -> None:
    """Waits for the agent to log a failed Sync; asserts none reached the server."""
    try:
        wait_until(lambda: "sync_failed" in log.read_text(), timeout=20, what="a failed sync")
        assert servicer.requests == []
    finally:
        agent.kill()
        agent.wait(timeout=10)


def test_agent_syncs_over_mutual_tls_and_fails_without_its_certificate(
    mtls_scheduler: tuple[ScriptedScheduler, str, dict[str, Path]], tmp_path: Path
) -> None:
    """With --tls-ca/--tls-cert/--tls-key (and --server-name, dialling an IP address the
    certificate does not list) the agent syncs; without its certificate, or without the
    server name, the handshake fails and no Sync arrives."""
    servicer, target, files = mtls_scheduler
    ca = ("--tls-ca", str(files["ca.pem"]))
    cert = ("--tls-cert", str(files["client.pem"]), "--tls-key", str(files["client.key"]))
    name = ("--server-name", SERVER_NAME)
    fails_to_sync(servicer, run_agent(target, tmp_path / "a", *ca, *name), tmp_path / "a" / "log")
    fails_to_sync(servicer, run_agent(target, tmp_path / "b", *ca, *cert), tmp_path / "b" / "log")
    mutual = run_agent(target, tmp_path / "c", *ca, *cert, *name)
    try:
        servicer.wait_for(lambda r: len(r.nodes) > 0, timeout=20)
    finally:
        mutual.kill()
        mutual.wait(timeout=10)
