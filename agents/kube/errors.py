"""The one error the Kubernetes modules raise for a failed API call (no client import)."""

from __future__ import annotations


class KubeError(Exception):
    """A failed API call: `status` is the HTTP status (0 when the server was not reached)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
