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


def target_host(target: str) -> str:
    """The host part of a gRPC target: "host:port", "[v6]:port", "dns:///host:port", ...;
    "unix:..." targets yield "" (a local socket)."""
    rest = target
    if rest.startswith(("unix:", "unix-abstract:")):
        return ""
    if rest.startswith("dns:"):
        rest = rest[4:]
        if rest.startswith("//"):  # dns://[authority]/host:port
            rest = rest[2:].split("/", 1)[-1]
    elif rest.startswith(("ipv4:", "ipv6:")):
        rest = rest[5:]
    rest = rest.split(",", 1)[0]  # ipv4:a:1,b:2 lists addresses; judge the first like the rest
    if rest.startswith("["):
        return rest[1:].split("]", 1)[0]
    if rest.count(":") == 1:
        return rest.split(":", 1)[0]
    return rest  # no port, or a bare IPv6 address


def is_loopback(target: str) -> bool:
    """Whether `target` stays on this machine (decided from its text alone, without DNS)."""
    host = target_host(target)
    if host == "":
        return target.startswith(("unix:", "unix-abstract:"))
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it could resolve anywhere


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
