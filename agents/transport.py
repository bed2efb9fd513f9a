"""How the agent reaches the scheduler: TLS (optionally with a client certificate) or, only to
a loopback address or when explicitly asked for, plaintext.

The agent token travels in every Sync, so plaintext across a network would hand it to anyone on
the path. Without --tls-ca the target must be loopback (127.0.0.0/8, ::1, localhost) or a unix
socket, unless --insecure says the operator accepts that.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

import grpc

# PEM certificates and keys are a few KiB; a chain of a dozen is still far below this.
MAX_PEM_BYTES = 1024 * 1024


@dataclass(frozen=True)
class TlsFiles:
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    # The name the scheduler's certificate must carry when it is dialled by an IP address
    # its certificate does not list (grpc.ssl_target_name_override).
    server_name: str = ""

    def channel_options(self) -> tuple[tuple[str, str], ...]:
        if self.ca is None or not self.server_name:
            return ()
        return (("grpc.ssl_target_name_override", self.server_name),)


def is_loopback(target: str) -> bool:
    """Whether every address of a gRPC target (HOST:PORT, dns:, ipv4:, ipv6:, unix:) stays on
    this machine, decided from its text alone: a name other than localhost could resolve
    anywhere. The CLI uses this same function (scheduler/cli/connection.py)."""
    scheme, colon, rest = target.partition(":")
    if colon and scheme in ("unix", "unix-abstract"):
        return True
    if colon and scheme == "dns":
        hosts = [rest.rsplit("/", 1)[-1]]  # dns:///host:port or dns://authority/host:port
    elif colon and scheme in ("ipv4", "ipv6"):
        hosts = rest.split(",")
    else:
        hosts = [target]
    return all(_loopback_host(host) for host in hosts)


def _loopback_host(host_port: str) -> bool:
    if host_port.startswith("["):
        host = host_port[1:].partition("]")[0]
    elif host_port.count(":") == 1:
        host = host_port.partition(":")[0]
    else:
        host = host_port  # no port, or a bare IPv6 address
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_transport(target: str, tls: TlsFiles, insecure: bool) -> None:
    """Refuses flag combinations that are contradictory or would send the token in plaintext
    across a network; ValueError with a one-line reason."""
    shown = target[:100]
    if (tls.cert is None) != (tls.key is None):
        raise ValueError("--tls-cert and --tls-key go together (the client certificate)")
    if tls.cert is not None and tls.ca is None:
        raise ValueError("--tls-cert needs --tls-ca (the CA that signed the scheduler's)")
    if insecure and tls.ca is not None:
        raise ValueError("--insecure contradicts --tls-ca: choose one")
    if tls.server_name and tls.ca is None:
        raise ValueError("--server-name needs --tls-ca (it names the server's certificate)")
    if tls.ca is None and not insecure and not is_loopback(target):
        raise ValueError(
            f"--scheduler {shown}: plaintext to a non-loopback address would expose the agent "
            "token; pass --tls-ca CA.pem (or --insecure to accept plaintext)"
        )


def channel_credentials(tls: TlsFiles) -> grpc.ChannelCredentials | None:
    """TLS credentials from the files, or None for plaintext (no --tls-ca)."""
    if tls.ca is None:
        return None
    return grpc.ssl_channel_credentials(
        root_certificates=_read_pem(tls.ca, "--tls-ca"),
        private_key=_read_pem(tls.key, "--tls-key") if tls.key else None,
        certificate_chain=_read_pem(tls.cert, "--tls-cert") if tls.cert else None,
    )


def _read_pem(path: Path, flag: str) -> bytes:
    with path.open("rb") as handle:
        data = handle.read(MAX_PEM_BYTES + 1)
    if len(data) > MAX_PEM_BYTES:
        raise ValueError(f"{flag} {path}: larger than {MAX_PEM_BYTES} bytes")
    if b"-----BEGIN " not in data:
        raise ValueError(f"{flag} {path}: not a PEM file")
    return data
