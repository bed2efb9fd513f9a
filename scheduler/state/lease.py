"""The leader lease: one row saying which scheduler process runs the cycle, until when, and in
which term (epoch). PostgreSQL only; SQLite runs a single scheduler (service.leadership).

Time is the database's (`clock_timestamp()`), never a replica's, so replicas with skewed
clocks agree on when a lease expires. The epoch is the fence: it grows by one at every
takeover, and every write transaction of a cycle reads it `FOR KEY SHARE` and must find the
term the cycle began in. A takeover locks the row `FOR UPDATE`, which conflicts with that share
lock: it waits for the old leader's open cycle transaction to end, and everything that old
leader starts afterwards sees the new epoch and rolls back. A renewal only updates non-key
columns (a `FOR NO KEY UPDATE` lock), so it never waits for the leader's own cycle.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import BigInteger, Column, Engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool
from sqlmodel import Field, Session, SQLModel, create_engine

# Channel of the wake-ups a follower sends the leader after a submit (LISTEN/NOTIFY).
WAKE_CHANNEL = "suanchou_wake"
LEASE_ID = 1
_NOW = "extract(epoch from clock_timestamp())"


class LeaderLeaseRow(SQLModel, table=True):
    """The single lease row (id 1), created by the migration."""

    __tablename__ = "leader_lease"

    id: int = Field(primary_key=True)
    holder: str = Field(max_length=128)
    epoch: int = Field(sa_column=Column(BigInteger(), nullable=False))
    # Seconds since 1970 by the database's clock; 0 = free.
    expires_at: float


class LeaseTable:
    """Acquire, renew and release the lease on a small engine of its own, so a renewal never
    queues behind the RPC threads for a pooled connection."""

    def __init__(self, url: str) -> None:
        # A renewal must fail fast when the database is unreachable, not hang on a dead socket.
        self._engine: Engine = create_engine(
            url,
            pool_size=1,
            max_overflow=1,
            pool_pre_ping=True,
            pool_timeout=5,
            connect_args={"connect_timeout": 5},
        )

    def acquire(self, holder: str, ttl_s: float, wait_s: float) -> int | None:
        """Takes the lease if it is free, expired or already ours, opening a new term; returns
        the new epoch, or None while another holder's lease runs. Waits at most wait_s for the
        old leader's last cycle transaction to end."""
        with self._engine.begin() as conn:
            _lock_timeout(conn, wait_s)
            free = conn.execute(
                text(
                    f"SELECT epoch FROM leader_lease WHERE id = :id "
                    f"AND (expires_at < {_NOW} OR holder = :holder) FOR UPDATE"
                ),
                {"id": LEASE_ID, "holder": holder},
            ).first()
            if free is None:
                return None
            epoch: int = conn.execute(
                text(
                    f"UPDATE leader_lease SET holder = :holder, epoch = epoch + 1, "
                    f"expires_at = {_NOW} + :ttl WHERE id = :id RETURNING epoch"
                ),
                {"id": LEASE_ID, "holder": holder, "ttl": ttl_s},
            ).scalar_one()
            return epoch

    def renew(self, holder: str, epoch: int, ttl_s: float) -> bool:
        """Extends our lease; False if it is no longer ours (another term began)."""
        with self._engine.begin() as conn:
            _lock_timeout(conn, ttl_s)
            result = conn.execute(
                text(
                    f"UPDATE leader_lease SET expires_at = {_NOW} + :ttl "
                    "WHERE id = :id AND holder = :holder AND epoch = :epoch"
                ),
                {"id": LEASE_ID, "holder": holder, "epoch": epoch, "ttl": ttl_s},
            )
            return result.rowcount == 1

    def release(self, holder: str, epoch: int) -> None:
        """Gives the lease up at once (a clean shutdown), so a follower need not wait it out."""
        with self._engine.begin() as conn:
            _lock_timeout(conn, 2.0)
            conn.execute(
                text(
                    "UPDATE leader_lease SET holder = '', expires_at = 0 "
                    "WHERE id = :id AND holder = :holder AND epoch = :epoch"
                ),
                {"id": LEASE_ID, "holder": holder, "epoch": epoch},
            )

    def wake_leader(self) -> None:
        """Tells the leader, wherever it runs, that jobs were submitted."""
        with self._engine.begin() as conn:
            conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": WAKE_CHANNEL})

    def dispose(self) -> None:
        self._engine.dispose()


class WakeListener:
    """LISTENs for WAKE_CHANNEL on a connection of its own, outside any pool."""

    def __init__(self, url: str) -> None:
        self._engine: Engine = create_engine(
            url, poolclass=NullPool, connect_args={"connect_timeout": 5}
        )

    def run(self, stop: threading.Event, on_wake: Callable[[], None]) -> None:
        """Calls on_wake for each notification until stop is set; reconnects after a failure
        (a lost wake-up only costs the leader's next interval)."""
        while not stop.is_set():
            try:
                raw = self._engine.raw_connection()
            except Exception:
                stop.wait(1.0)
                continue
            try:
                conn = raw.driver_connection  # psycopg's own connection: notifies() is there
                assert conn is not None
                conn.autocommit = True
                conn.execute(f"LISTEN {WAKE_CHANNEL}")
                while not stop.is_set():
                    for _ in conn.notifies(timeout=1.0, stop_after=1):
                        on_wake()
            # The driver's own errors (a cut connection): psycopg is not SQLAlchemy-wrapped here.
            except Exception:
                stop.wait(1.0)
            finally:
                raw.invalidate()

    def dispose(self) -> None:
        self._engine.dispose()


def epoch_in(session: Session, idle_timeout_s: float) -> int | None:
    """The current epoch, read inside the caller's transaction with a share lock held until it
    ends (see the module docstring); None if the row is missing.

    The share lock holds off a takeover, so a leader cut off from the database (its session
    open, no reset seen) must not keep it for TCP's hours: the server ends the transaction once
    it has waited idle for the leader's next statement for idle_timeout_s.
    """
    connection = session.connection()
    ms = max(1, int(idle_timeout_s * 1000))
    connection.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {ms}"))
    row = connection.execute(
        text("SELECT epoch FROM leader_lease WHERE id = :id FOR KEY SHARE"), {"id": LEASE_ID}
    )
    value = row.scalar()
    return None if value is None else int(value)


def _lock_timeout(conn: Connection, seconds: float) -> None:
    # Bounded, so the leadership thread keeps its rhythm behind a stuck transaction.
    conn.execute(text(f"SET LOCAL lock_timeout = {max(1, int(seconds * 1000))}"))


__all__ = ["WAKE_CHANNEL", "LeaderLeaseRow", "LeaseTable", "WakeListener", "epoch_in"]
