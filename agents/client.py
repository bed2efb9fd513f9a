"""Thin gRPC client for AgentService (Sync, AppendLogs), authenticated with the agent token."""

from __future__ import annotations

from types import TracebackType

import grpc

from protos.suanchou.v1 import agent_pb2, agent_pb2_grpc

# gRPC's own reconnect backoff grows to 120 s by default; while it waits, every call fails at
# once with UNAVAILABLE, whatever the agent's own retry interval. Capping it at 2 s means a
# restarted scheduler is seen within seconds, well inside even a 10 s lease timeout.
_CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 2000),
)
# The one message size limit shared by server, agent and CLI (gRPC's own default is 4 MiB).
DEFAULT_MAX_MESSAGE_BYTES = 8 * 1024 * 1024


class AgentClient:
    """One channel to the scheduler at `target` ("host:port"): TLS with `credentials`, else
    plaintext (agents.transport decides which is acceptable)."""

    def __init__(
        self,
        target: str,
        token: str,
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        credentials: grpc.ChannelCredentials | None = None,
        channel_options: tuple[tuple[str, str], ...] = (),
    ) -> None:
        if not target:
            raise ValueError("scheduler address is empty (expected HOST:PORT)")
        if not token or not token.isprintable() or token != token.strip():
            raise ValueError("agent token must be non-empty printable text without spaces around")
        self.target = target
        options = (
            *_CHANNEL_OPTIONS,
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            *channel_options,
        )
        if credentials is None:
            self._channel = grpc.insecure_channel(target, options=options)
        else:
            self._channel = grpc.secure_channel(target, credentials, options=options)
        self._stub = agent_pb2_grpc.AgentServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {token}"),)

    def sync(self, request: agent_pb2.SyncRequest, timeout: float) -> agent_pb2.SyncResponse:
        """One Sync call; raises grpc.RpcError (with .code()) on any failure."""
        response: agent_pb2.SyncResponse = self._stub.Sync(
            request, timeout=timeout, metadata=self._metadata
        )
        return response

    def append_logs(
        self, request: agent_pb2.AppendLogsRequest, timeout: float
    ) -> agent_pb2.AppendLogsResponse:
        """One AppendLogs call (job output); raises grpc.RpcError on any failure."""
        response: agent_pb2.AppendLogsResponse = self._stub.AppendLogs(
            request, timeout=timeout, metadata=self._metadata
        )
        return response

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
