"""The gRPC channel to the scheduler and the credentials sent with each call."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc

from scheduler.cli.settings import Settings

# Unary calls get a deadline so a hung scheduler fails the command instead of hanging a script;
# 30 s leaves room for a 1,000-item submit that commits before replying.
CALL_TIMEOUT_SECONDS = 30.0
# SubmitJobs and CancelJobs take 1 to 1,000 items per call; the CLI splits longer lists.
MAX_BATCH_ITEMS = 1000

Metadata = tuple[tuple[str, str], ...]


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


def message_options(max_message_bytes: int) -> list[tuple[str, int]]:
    """Channel options for the one max message size (`max_message_bytes`, as the server's)."""
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
    ]


@contextmanager
def open_channel(settings: Settings) -> Iterator[Any]:
    """A plaintext channel to `settings.scheduler` (HOST:PORT or any gRPC target string), with
    the configured max message size, closed on exit."""
    # Plaintext: the scheduler currently serves without TLS (see the integrator notes); tokens are
    # sent as plain metadata, which grpc only allows through call credentials on TLS channels.
    options = message_options(settings.max_message_bytes)
    with grpc.insecure_channel(settings.scheduler, options=options) as channel:
        yield channel
