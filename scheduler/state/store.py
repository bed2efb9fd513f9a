"""The database handle and its unit of work.

SQLite (the embedded default) runs in WAL mode and every write transaction starts with
BEGIN IMMEDIATE: a deferred transaction that reads and then writes can fail with "database is
locked" instead of waiting, which would turn a busy moment into a lost submit. Within one
process, write transactions on SQLite also queue on a lock of their own (`Store._writer`)
before they BEGIN: SQLite's busy handler polls with sleeps of up to 100 ms, so writers
queued inside SQLite waited seconds for a lock freed in milliseconds (issue 11's profile:
102 of 146 handler-seconds of unary submits in BEGIN IMMEDIATE). Another process sharing the
file still meets the busy handler.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlmodel import Session, create_engine

from scheduler.domain.errors import Unavailable
from scheduler.state.audit_chain import AuditLog
from scheduler.state.credentials import Principals, Tokens
from scheduler.state.fair_share import FairShare, QueueRanks
from scheduler.state.governance import DepartmentTree, PriorityClasses, Quotas
from scheduler.state.job_records import Jobs
from scheduler.state.migrate import upgrade
from scheduler.state.repositories import Clusters, Departments
from scheduler.state.run_output import RunOutputs
from scheduler.state.run_records import Events, Explanations, Runs


@dataclass
class Tx:
    """One transaction's repositories."""

    session: Session
    departments: Departments
    clusters: Clusters
    jobs: Jobs
    runs: Runs
    events: Events
    explanations: Explanations
    principals: Principals
    tokens: Tokens
    audit: AuditLog
    tree: DepartmentTree
    quotas: Quotas
    priority_classes: PriorityClasses
    fair_share: FairShare
    queue: QueueRanks
    output: RunOutputs


class Store:
    """Owns the engine; `unit()` is the only way to read or write."""

    def __init__(self, url: str, *, migrate: bool = True, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._engine = _make_engine(url, echo=echo, immediate=True)
        # Readers take no write lock on SQLite, so watchers and listings never queue
        # behind a scheduling cycle.
        self._read_engine = (
            _make_engine(url, echo=echo, immediate=False) if self.is_sqlite else self._engine
        )
        # Called with every write transaction just before it commits (the composition root
        # installs the audit hook: a call's audit record lands in the transaction of its change).
        self.before_commit: Callable[[Tx], None] | None = None
        # Called with every write transaction once it committed (the composition root installs
        # the metrics hook, which counts the job moves the transaction made: tx.jobs.moves).
        self.after_commit: Callable[[Tx], None] | None = None
        self._changed = threading.Condition()
        self._version = 0
        # SQLite has one writer: queue this process's writers here, where a release wakes the
        # next at once. Reentrant so a nested unit cannot deadlock its own thread.
        self._writer: threading.RLock | None = threading.RLock() if self.is_sqlite else None
        if migrate:
            upgrade(self._engine)

    @property
    def engine(self) -> Engine:
        return self._engine

    @contextmanager
    def unit(self, *, write: bool = True) -> Iterator[Tx]:
        """A transaction: commits when the block exits normally, rolls back on an exception."""
        gate = self._writer if write else None
        # As long as SQLite's own busy timeout would have waited, and the same answer after it.
        if gate is not None and not gate.acquire(timeout=_BUSY_TIMEOUT_S):
            raise Unavailable("database temporarily unavailable (busy); nothing was changed, retry")
        try:
            with self._unit(write) as tx:
                yield tx
        finally:
            if gate is not None:
                gate.release()
        if write:
            self._notify()
            # After the commit, outside the try: the hook cannot undo it, and must not raise
            # (the caller would see an error for a change that stands).
            if self.after_commit is not None:
                self.after_commit(tx)

    @contextmanager
    def _unit(self, write: bool) -> Iterator[Tx]:
        engine = self._engine if write else self._read_engine
        with _closing(Session(engine, expire_on_commit=False)) as session:
            tx = Tx(
                session=session,
                departments=Departments(session),
                clusters=Clusters(session),
                jobs=Jobs(session),
                runs=Runs(session),
                events=Events(session),
                explanations=Explanations(session),
                principals=Principals(session),
                tokens=Tokens(session),
                audit=AuditLog(session),
                tree=DepartmentTree(session),
                quotas=Quotas(session),
                priority_classes=PriorityClasses(session),
                fair_share=FairShare(session),
                queue=QueueRanks(session),
                output=RunOutputs(session),
            )
            try:
                yield tx
                if write:
                    if self.before_commit is not None:
                        self.before_commit(tx)
                    session.commit()
            except (OperationalError, InterfaceError, SATimeoutError) as exc:
                _rollback(session)
                # Deadlocks, serialization failures, a busy SQLite file, a lost or closed
                # connection or an exhausted pool: nothing committed, and the caller may simply
                # retry. Said as such (UNAVAILABLE), not as an internal error.
                raise _unavailable(exc) from exc
            except DBAPIError as exc:
                _rollback(session)
                if exc.connection_invalidated:  # the driver saw the connection die
                    raise _unavailable(exc) from exc
                raise
            except BaseException:
                _rollback(session)
                raise

    def wait_for_change(self, seen: int, timeout: float) -> int:
        """Blocks until a write committed after version `seen`, or `timeout`; returns the version.

        Only wakes for writes of this process; watchers also poll on the timeout, which covers
        writes by another scheduler process sharing the database.
        """
        with self._changed:
            if self._version == seen:
                self._changed.wait(timeout)
            return self._version

    def wake(self) -> None:
        """Wakes every waiter without a change (e.g. one whose client has gone)."""
        with self._changed:
            self._changed.notify_all()

    @property
    def version(self) -> int:
        with self._changed:
            return self._version

    def _notify(self) -> None:
        with self._changed:
            self._version += 1
            self._changed.notify_all()

    def dispose(self) -> None:
        self._engine.dispose()
        if self._read_engine is not self._engine:
            self._read_engine.dispose()


_BUSY_TIMEOUT_S = 30


def _make_engine(url: str, *, echo: bool, immediate: bool) -> Engine:
    if not url.startswith("sqlite"):
        # SQLAlchemy's default pool (5 + 10 overflow) is far below the 64 RPC threads: under a
        # submit storm an agent's Sync waited up to pool_timeout (30 s) for a connection and its
        # cluster was declared lost. Room for every RPC thread plus the cycle; idle connections
        # beyond pool_size are closed, so a quiet server holds few.
        return create_engine(
            url, echo=echo, pool_pre_ping=True, pool_size=8, max_overflow=72, pool_timeout=30
        )
    engine = create_engine(
        url, echo=echo, connect_args={"check_same_thread": False, "timeout": _BUSY_TIMEOUT_S}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_S * 1000}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


__all__ = ["Store", "Tx"]


def _unavailable(exc: Exception) -> Unavailable:
    cause = type(getattr(exc, "orig", None) or exc).__name__
    return Unavailable(f"database temporarily unavailable ({cause}); nothing was changed, retry")


@contextmanager
def _closing(session: Session) -> Iterator[Session]:
    """Closes the session at the end of a unit. Closing rolls back what is still open (a read
    unit, or a unit that failed), and on a connection the server ended after the unit's last
    statement that rollback is the first to fail: its error must not replace the one being
    raised (a retryable UNAVAILABLE would become an internal error, as a client saw in a
    leader failover test) nor fail a read that succeeded. The pool discards the dead
    connection."""
    try:
        yield session
    finally:
        with suppress(DBAPIError):
            session.close()


def _rollback(session: Session) -> None:
    """Rolls back; on a connection already dead the rollback itself fails, and that failure
    must not replace the error being raised (it would turn a retryable UNAVAILABLE into an
    internal error)."""
    with suppress(DBAPIError):
        session.rollback()
