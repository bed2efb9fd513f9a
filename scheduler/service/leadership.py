"""Which scheduler process runs the cycle, the reaper and housekeeping: the leader. Every
process serves the API; they meet in the database.

PostgreSQL (several replicas): a lease row with a fencing epoch (state.lease,
service.leader_election), not a session advisory lock. An advisory lock lives on one
connection: when that connection is cut the lock is gone at once, but the process learns it only
at its next query on that connection, and the cycle's transaction on another pooled connection
commits regardless, so the lock fences nothing. The epoch is read inside the cycle's own
transaction: a deposed leader's commit is refused whatever it believes. The lease runs on the
database's clock, so takeover after a leader's death is bounded by the lease time plus one
renewal interval (leadership_ttl_s + leadership_renew_s, 10 s by default).

SQLite (one scheduler): an exclusive lock (flock) on a file beside the database. The kernel
releases it when the holder dies, even by kill -9, so a crash never leaves a stale lock to wait
out, as a lease row with a live-holder check would; a second scheduler on the file refuses to
start, while processes that only call the API or open the store (the CLI, tests) are unaffected.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable
from typing import Protocol

import structlog
from sqlalchemy.engine import make_url

from scheduler.service.settings import SchedulerSettings
from scheduler.state import Tx

log = structlog.get_logger("suanchou.leadership")

# The grpc.health.v1 service name whose status says whether this process leads:
# SERVING on the leader, NOT_SERVING on a follower (`grpc_health_probe -service ...`).
LEADER_HEALTH_SERVICE = "suanchou.leader"


class Deposed(Exception):
    """This process's term ended (or never began) before a cycle's transaction committed; the
    transaction was rolled back."""


class AnotherScheduler(OSError):
    """Another scheduler process already runs on this SQLite database."""


class Leadership(Protocol):
    """Who leads, and the fence the cycle checks inside each of its write transactions.

    `term()` is the term this process leads now (None on a follower); a cycle notes it when it
    begins and `check(tx, term)` raises Deposed unless that term is still the database's.
    """

    def start(self, on_wake: Callable[[], None], on_change: Callable[[bool], None]) -> None: ...

    def stop(self) -> None: ...

    def is_leader(self) -> bool: ...

    def term(self) -> int | None: ...

    def check(self, tx: Tx, term: int) -> None: ...

    def wake_leader(self) -> None: ...


class CycleTerm:
    """The term one cycle runs in, for the cycle's fence. `begin()` notes the current term
    (Deposed on a follower) and says whether it is a new one; `check(tx)` raises Deposed inside
    a write transaction unless that term is still the database's."""

    def __init__(self, leadership: Leadership | None) -> None:
        self._leadership = leadership
        self._term: int | None = None

    def begin(self) -> bool:
        if self._leadership is None:
            return False
        term = self._leadership.term()
        if term is None:
            raise Deposed("this process is not the leader")
        # Elected terms count from 1; the sole scheduler of an SQLite file is always term 0.
        new = term != self._term and term > 0
        self._term = term
        return new

    def check(self, tx: Tx) -> None:
        if self._leadership is not None and self._term is not None:
            self._leadership.check(tx, self._term)

    def lost(self) -> bool:
        """Whether this process no longer leads the term the cycle began in: the engine's
        should_stop, so a deposed leader stops solving at once (the fence would refuse its
        answer at persist anyway). In memory, no query."""
        if self._leadership is None or self._term is None:
            return False
        return self._leadership.term() != self._term


class SoleScheduler:
    """The only scheduler of an SQLite database: always the leader, fenced by a file lock."""

    def __init__(self, database_url: str) -> None:
        self._fd: int | None = None
        path = _sqlite_path(database_url)
        if path is not None:
            self._fd = _lock_beside(path)

    def start(self, on_wake: Callable[[], None], on_change: Callable[[bool], None]) -> None:
        on_change(True)

    def stop(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None

    def __del__(self) -> None:
        # An App whose construction failed after taking the lock never reaches stop().
        self.stop()

    def is_leader(self) -> bool:
        return True

    def term(self) -> int | None:
        return 0

    def check(self, tx: Tx, term: int) -> None:
        return None

    def wake_leader(self) -> None:
        return None


def leadership_for(database_url: str, settings: SchedulerSettings) -> Leadership:
    """The election the database needs: a lease on PostgreSQL, a file lock on SQLite."""
    if database_url.startswith("sqlite"):
        return SoleScheduler(database_url)
    from scheduler.service.leader_election import ElectedLeader

    return ElectedLeader(database_url, settings.leadership_ttl_s, settings.leadership_renew_s)


def _sqlite_path(database_url: str) -> str | None:
    """The database file of an SQLite URL; None for an in-memory database."""
    database = make_url(database_url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def _lock_beside(path: str) -> int | None:
    """Takes the exclusive lock on `<path>.scheduler-lock`; its descriptor, or None when the
    lock file cannot be created (the store then reports the unusable path itself)."""
    lock_path = f"{path}.scheduler-lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 16).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise AnotherScheduler(
            f"database {path}: another scheduler (pid {holder[:16]}) already runs on it and "
            f"holds {lock_path}; SQLite runs one scheduler, use PostgreSQL for several"
        ) from None
    except OSError as exc:
        # A filesystem without locks (some network mounts): serve, but say what is unguarded.
        os.close(fd)
        log.warning("sqlite_scheduler_lock_unavailable", path=lock_path, error=str(exc)[:120])
        return None
    # The pid, for the message above and for operators.
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    log.debug("sqlite_scheduler_lock_taken", path=lock_path)
    return fd
