"""When this process last heard from each cluster's agent, kept in memory.

A Sync is noted here the moment it arrives, before it touches the database. The stored
heartbeat is written inside the Sync's transaction, which on a busy database can wait behind a
scheduling cycle or a storm of submits; the agent may even give up on a slow reply while the
server still commits it. Liveness must not depend on either: an agent that keeps calling is
alive, however slow our answer. The reaper and every view take the later of the two.
"""

from __future__ import annotations

import threading
from datetime import datetime


class Liveness:
    """Thread-safe map cluster -> time of the last Sync that reached this process."""

    # Bounded by the number of registered clusters in practice; forgetting a deregistered
    # cluster keeps it bounded for good.

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._heard: dict[str, datetime] = {}

    def heard(self, cluster: str, now: datetime) -> None:
        with self._lock:
            last = self._heard.get(cluster)
            if last is None or now > last:
                self._heard[cluster] = now

    def last(self, cluster: str) -> datetime | None:
        with self._lock:
            return self._heard.get(cluster)

    def forget(self, cluster: str) -> None:
        with self._lock:
            self._heard.pop(cluster, None)
