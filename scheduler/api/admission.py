"""Concurrency budgets per class of call, so no class of caller can take every worker thread.

gRPC's Python server runs every call on one thread pool, first come first served. Without
budgets a storm of submits (or of follow-mode watches, which hold a thread for as long as they
follow) queues the agents' Syncs behind it: their heartbeats arrive late and live clusters look
lost. Each class gets a share of the pool and agents keep a reserve no other class can touch;
within a class one caller (a department, a cluster) may use only part of the share, so it cannot
starve the others. A call over budget waits briefly for a slot, then is refused with
RESOURCE_EXHAUSTED, which clients retry with backoff.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from scheduler.domain.errors import Overloaded

WATCH = "watch"
JOBS = "jobs"
AGENTS = "agents"
ADMIN = "admin"


@dataclass(frozen=True)
class Budget:
    total: int  # concurrent calls of the class
    per_caller: int  # concurrent calls of one caller within it


def budgets_for(workers: int) -> dict[str, Budget]:
    """Shares of a pool of `workers` threads; agents may use what the others leave, and at
    least a quarter of the pool is theirs alone."""
    if workers < 8:
        raise ValueError("at least 8 worker threads are needed to keep a reserve for agents")
    jobs = max(2, workers * 3 // 8)
    watch = max(1, workers // 4)
    admin = max(1, workers // 8)
    return {
        JOBS: Budget(jobs, max(1, jobs // 3)),
        WATCH: Budget(watch, max(1, watch // 4)),
        ADMIN: Budget(admin, admin),
        # Two per cluster: a Sync still in the database and its retry.
        AGENTS: Budget(workers, 2),
    }


# Admin-service reads departments may call: budgeted with their job calls (a third per
# caller), so one department polling its quota cannot hold every admin slot.
DEPARTMENT_READS = frozenset(
    {
        "/suanchou.v1.DepartmentService/GetDepartment",
        "/suanchou.v1.PriorityClassService/ListPriorityClasses",
    }
)


def kind_of(method: str) -> str:
    """The budget class of a full method name (/package.Service/Method)."""
    # Streams that may follow for long (ReadLogs with follow holds its thread like a watch).
    if method.endswith(("/WatchEvents", "/ExportAuditRecords", "/ReadLogs")):
        return WATCH
    if "/suanchou.v1.JobService/" in method or method in DEPARTMENT_READS:
        return JOBS
    if "/suanchou.v1.AgentService/" in method:
        return AGENTS
    return ADMIN


class Admission:
    def __init__(self, budgets: dict[str, Budget], wait_s: float = 0.25) -> None:
        self._budgets = budgets
        self._wait_s = wait_s
        self._cond = threading.Condition()
        self._in_class: dict[str, int] = {}
        self._in_caller: dict[tuple[str, str], int] = {}

    def acquire(self, kind: str, caller: str) -> None:
        """Takes a slot of `kind` for `caller`, waiting up to wait_s; raises Overloaded."""
        budget = self._budgets[kind]
        key = (kind, caller)
        deadline = time.monotonic() + self._wait_s
        with self._cond:
            while (
                self._in_class.get(kind, 0) >= budget.total
                or self._in_caller.get(key, 0) >= budget.per_caller
            ):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Overloaded(
                        f"too many concurrent {kind} calls (at most {budget.total}, "
                        f"{budget.per_caller} per caller); retry with backoff"
                    )
                self._cond.wait(left)
            self._in_class[kind] = self._in_class.get(kind, 0) + 1
            self._in_caller[key] = self._in_caller.get(key, 0) + 1

    def release(self, kind: str, caller: str) -> None:
        key = (kind, caller)
        with self._cond:
            self._in_class[kind] -= 1
            self._in_caller[key] -= 1
            if not self._in_caller[key]:
                del self._in_caller[key]  # bounded by callers in flight, not ever seen
            self._cond.notify_all()

    @contextmanager
    def admit(self, kind: str, caller: str) -> Iterator[None]:
        self.acquire(kind, caller)
        try:
            yield
        finally:
            self.release(kind, caller)
