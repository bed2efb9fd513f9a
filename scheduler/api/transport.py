"""How the server listens: TLS, mutual TLS, or plaintext (loopback only unless insecure).

Tokens travel as call metadata, so a plaintext port off the machine hands every token to
anyone on the path: binding one needs an explicit `insecure`. The certificate files are read
and checked (PEM, key matches certificate) once, at start; a reload needs a restart.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc
import structlog

log = structlog.get_logger("suanchou.transport")

# A PEM certificate chain or key is a few KiB; anything far larger is the wrong file.
MAX_PEM_BYTES = 1024 * 1024


class TransportError(ValueError):
    """The listen address or the TLS files cannot be used; the message names the setting."""


@dataclass(frozen=True)
class ServerTls:
    """Paths to PEM files (empty = not set) and whether plaintext may leave loopback."""

    cert: str = ""
    key: str = ""
    client_ca: str = ""
    insecure: bool = False

    @property
    def mode(self) -> str:
        """`off`, `tls` or `mtls` (client certificates required), as logged at start."""
        if self.client_ca:
            return "mtls"
        return "tls" if self.cert else "off"


def is_loopback_listen(listen: str) -> bool:
    """Whether a gRPC listen address (HOST:PORT, [V6]:PORT, unix:PATH) stays on this machine."""
    if listen.startswith(("unix:", "unix-abstract:")):
        return True
    host = listen.rsplit(":", 1)[0] if ":" in listen else listen
    host = host.removeprefix("[").removesuffix("]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        # A DNS name other than localhost, or "" / "0.0.0.0"-like wildcards: may be reachable.
        return False


def checked_credentials(listen: str, tls: ServerTls) -> grpc.ServerCredentials | None:
    """The TLS credentials for `listen`, or None for an allowed plaintext port.

    Raises TransportError for unusable files or plaintext off loopback without `insecure`;
    the composition root calls it before opening the database, so nothing is created first.
    """
    credentials = server_credentials(tls)
    if credentials is None and not tls.insecure and not is_loopback_listen(listen):
        raise TransportError(
            f"refusing to serve plaintext on {listen[:80]} (not loopback): set tls_cert and "
            "tls_key (--tls-cert/--tls-key), or insecure (--insecure) to send tokens unencrypted"
        )
    return credentials


def bind(server: grpc.Server, listen: str, tls: ServerTls) -> int:
    """Adds the listening port to `server`; returns the port bound. Raises TransportError."""
    credentials = checked_credentials(listen, tls)
    if credentials is not None:
        port: int = server.add_secure_port(listen, credentials)
    else:
        if not is_loopback_listen(listen):
            log.warning("plaintext_listen", address=listen, note="tokens travel unencrypted")
        port = server.add_insecure_port(listen)
    if port == 0:
        raise OSError(f"could not bind {listen}")
    return port


def server_credentials(tls: ServerTls) -> grpc.ServerCredentials | None:
    """The TLS credentials `tls` names, checked; None for plaintext."""
    if not tls.cert and not tls.key:
        if tls.client_ca:
            raise TransportError("tls_client_ca: needs tls_cert and tls_key (mTLS is TLS first)")
        return None
    if not tls.cert or not tls.key:
        missing = "tls_key" if tls.cert else "tls_cert"
        raise TransportError(f"{missing}: required with {'tls_cert' if tls.cert else 'tls_key'}")
    cert = _read("tls_cert", tls.cert)
    key = _read("tls_key", tls.key)
    client_ca = _read("tls_client_ca", tls.client_ca) if tls.client_ca else None
    _check(tls)
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def _read(setting: str, path: str) -> bytes:
    try:
        with Path(path).open("rb") as f:
            data = f.read(MAX_PEM_BYTES + 1)
    except OSError as exc:
        raise TransportError(f"{setting} {path[:200]}: {exc.strerror or exc}") from exc
    if len(data) > MAX_PEM_BYTES:
        raise TransportError(f"{setting} {path[:200]}: larger than {MAX_PEM_BYTES} bytes")
    return data


def _encrypted_key() -> bytes:
    # Called by OpenSSL only for a passphrase-protected key; gRPC cannot use one.
    raise TransportError("tls_key: the key is encrypted; give an unencrypted PEM key")


def _check(tls: ServerTls) -> None:
    """OpenSSL's own parse, so a wrong file fails at start with a reason, not at handshake."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(tls.cert, tls.key, password=_encrypted_key)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise TransportError("tls_key: does not match the certificate in tls_cert") from exc
        raise TransportError(
            f"tls_cert/tls_key: not a PEM certificate and key ({exc.reason or exc})"
        ) from exc
    if tls.client_ca:
        try:
            context.load_verify_locations(cafile=tls.client_ca)
        except ssl.SSLError as exc:
            raise TransportError(
                f"tls_client_ca: not a PEM CA certificate ({exc.reason or exc})"
            ) from exc
