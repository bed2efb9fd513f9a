"""The HTTP endpoint Prometheus scrapes: prometheus_client's own WSGI server on a daemon
thread, serving one App's registry at any path (conventionally /metrics)."""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

import structlog
from prometheus_client import CollectorRegistry, start_http_server

log = structlog.get_logger("suanchou.metrics")

_LOOPBACK = ("127.", "::1", "localhost")


class MetricsEndpoint:
    """Serves `registry` on `host:port`; port 0 lets the OS choose (`port` says which)."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry) -> None:
        self._host = host
        self._requested = port
        self._registry = registry
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def start(self) -> None:
        try:
            self._server, self._thread = start_http_server(
                self._requested, addr=self._host, registry=self._registry
            )
        except OSError as exc:
            raise OSError(
                f"metrics_listen {self._host}:{self._requested}: "
                f"{(exc.strerror or str(exc)).lower()}"
            ) from None
        self.port = int(self._server.server_port)
        if not self._host.startswith(_LOOPBACK):
            # Plain HTTP without authentication: department and cluster names, queue depths.
            log.warning(
                "metrics_listen_not_loopback",
                address=self.address,
                note="plain HTTP, no authentication: restrict who reaches this port",
            )
        log.info("metrics_serving", address=self.address)

    @property
    def address(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self.port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
