"""The gRPC channel to the scheduler and the credentials sent with each call."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import grpc

# One rule for every client (agent and CLI): plaintext only when every address is loopback.
from agents.transport import is_loopback as is_loopback_target
from scheduler.cli.errors import CliError, UsageError
from scheduler.cli.settings import ENV_TLS_CA, ClientTls, Settings

# Unary calls get a deadline so a hung scheduler fails the command instead of hanging a script;
# 30 s leaves room for a 1,000-item submit that commits before replying.
CALL_TIMEOUT_SECONDS = 30.0
# SubmitJobs and CancelJobs take 1 to 1,000 items per call; the CLI splits longer lists.
MAX_BATCH_ITEMS = 1000

Metadata = tuple[tuple[str, str], ...]
T = TypeVar("T")


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


# A PEM bundle is a few KiB; a far larger file is the wrong one.
MAX_PEM_BYTES = 1024 * 1024


def message_options(max_message_bytes: int) -> list[tuple[str, int]]:
    """Channel options for the one max message size (`max_message_bytes`, as the server's)."""
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
    ]


@contextmanager
def open_channel(settings: Settings) -> Iterator[Any]:
    """A channel to `settings.scheduler` (HOST:PORT or any gRPC target), with the configured
    max message size, closed on exit.

    TLS when a CA or client certificate is configured; otherwise plaintext, which carries the
    token in clear and so is refused to anything but a loopback scheduler unless `insecure`.
    """
    target, tls = settings.scheduler, settings.tls
    options: list[tuple[str, int | str]] = list(message_options(settings.max_message_bytes))
    if tls.enabled:
        if tls.server_name:
            options.append(("grpc.ssl_target_name_override", tls.server_name))
        with grpc.secure_channel(target, _credentials(tls), options=options) as channel:
            yield channel
        return
    if not tls.insecure and not is_loopback_target(target):
        raise UsageError(
            f"refusing plaintext to {target[:80]}, which is not loopback: pass --tls-ca PATH "
            f"(env {ENV_TLS_CA}), or --insecure to send the token unencrypted"
        )
    with grpc.insecure_channel(target, options=options) as channel:
        yield channel


def _credentials(tls: ClientTls) -> grpc.ChannelCredentials:
    # Without a CA the system's roots verify the server (a publicly issued certificate).
    return grpc.ssl_channel_credentials(
        root_certificates=_read(tls.ca, "--tls-ca"),
        private_key=_read(tls.key, "--tls-key"),
        certificate_chain=_read(tls.cert, "--tls-cert"),
    )


def _read(path: Path | None, flag: str) -> bytes | None:
    if path is None:
        return None
    try:
        with path.open("rb") as f:
            data = f.read(MAX_PEM_BYTES + 1)
    except OSError as e:
        raise CliError(f"{flag} {str(path)[:200]}: {e.strerror or e}") from e
    if len(data) > MAX_PEM_BYTES:
        raise CliError(f"{flag} {str(path)[:200]}: larger than {MAX_PEM_BYTES} bytes")
    if b"-----BEGIN " not in data:
        raise CliError(f"{flag} {str(path)[:200]}: not a PEM file")
    return data


# The server says "not now, nothing was done": it is at its concurrency budget, or restarting.
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED})


RETRY_FIRST_DELAY_S = 0.5


def with_retries(
    call: Callable[[], T],
    *,
    attempts: int = 5,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`call()`, retried with doubling delays (from RETRY_FIRST_DELAY_S) while the server
    answers UNAVAILABLE or RESOURCE_EXHAUSTED. Only for idempotent calls (a submit is, by its
    client_ids)."""
    delay = RETRY_FIRST_DELAY_S
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except grpc.RpcError as e:
            if e.code() not in RETRYABLE or attempt == attempts:
                raise
            sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")
