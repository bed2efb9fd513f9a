"""Leader election on PostgreSQL: a lease row with a fencing epoch (why: service.leadership).

Three daemon threads per process:
- `leader-election` renews the lease every `renew_s` while leading, and tries to take it every
  `renew_s` while following. A leader that could not renew for `ttl_s` (by its own monotonic
  clock, measured from before its last successful renewal, so never later than the database
  expires it) steps down before anyone may take over; the epoch check still fences whatever it
  had in flight.
- `leader-listen` LISTENs on a connection of its own and wakes the local cycle when a follower
  announces a submit.
- `leader-wake` sends those announcements for this process, coalesced: a storm of submits on a
  follower costs the leader one wake-up per round trip, not one per call.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

import structlog
from sqlalchemy.exc import SQLAlchemyError

from scheduler.service.leadership import Deposed
from scheduler.state import Tx
from scheduler.state.lease import LeaseTable, WakeListener, epoch_in

log = structlog.get_logger("suanchou.leadership")
WAKE_RATE_HZ = 50


class ElectedLeader:
    """One replica among several sharing a PostgreSQL database."""

    def __init__(self, database_url: str, ttl_s: float, renew_s: float) -> None:
        self.holder = f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._ttl = ttl_s
        self._renew = renew_s
        self._table = LeaseTable(database_url)
        self._listener = WakeListener(database_url)
        self._lock = threading.Lock()
        self._term: int | None = None
        self._valid_until = 0.0  # monotonic
        self._stop = threading.Event()
        self._wake_pending = threading.Event()
        self._on_wake: Callable[[], None] = lambda: None
        self._on_change: Callable[[bool], None] = lambda _leader: None
        self._threads = [
            threading.Thread(target=self._elect_loop, name="leader-election", daemon=True),
            threading.Thread(target=self._listen_loop, name="leader-listen", daemon=True),
            threading.Thread(target=self._wake_loop, name="leader-wake", daemon=True),
        ]

    # -- Leadership -------------------------------------------------------------------------

    def start(self, on_wake: Callable[[], None], on_change: Callable[[bool], None]) -> None:
        self._on_wake = on_wake
        self._on_change = on_change
        on_change(False)
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake_pending.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(self._ttl + 5)
        with self._lock:
            term, self._term = self._term, None
        if term is not None:
            # A clean stop hands over at once instead of after the lease time.
            try:
                self._table.release(self.holder, term)
                log.info("leadership_released", holder=self.holder, term=term)
            except SQLAlchemyError as exc:
                log.warning("leadership_release_failed", error=_short(exc))
        self._table.dispose()
        self._listener.dispose()

    def is_leader(self) -> bool:
        return self.term() is not None

    def term(self) -> int | None:
        with self._lock:
            if self._term is not None and time.monotonic() < self._valid_until:
                return self._term
            return None

    def check(self, tx: Tx, term: int) -> None:
        # Twice the lease: far beyond any pause between two statements of a live cycle.
        current = epoch_in(tx.session, idle_timeout_s=2 * self._ttl)
        if current != term:
            raise Deposed(f"term {term} has ended (the lease is at term {current})")

    def wake_leader(self) -> None:
        self._wake_pending.set()

    # -- threads ----------------------------------------------------------------------------

    def _elect_loop(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            with self._lock:
                term = self._term
            if term is None:
                self._try_acquire(began)
            else:
                self._try_renew(term, began)
            self._stop.wait(max(0.0, self._renew - (time.monotonic() - began)))

    def _try_acquire(self, began: float) -> None:
        try:
            epoch = self._table.acquire(self.holder, self._ttl, wait_s=self._renew)
        except SQLAlchemyError as exc:
            log.debug("leadership_acquire_failed", error=_short(exc))
            return
        if epoch is None:
            return
        with self._lock:
            self._term = epoch
            self._valid_until = began + self._ttl
        log.info("leadership_gained", holder=self.holder, term=epoch)
        self._on_change(True)
        self._on_wake()

    def _try_renew(self, term: int, began: float) -> None:
        try:
            renewed: bool | None = self._table.renew(self.holder, term, self._ttl)
        except SQLAlchemyError as exc:
            log.warning("leadership_renew_failed", term=term, error=_short(exc))
            renewed = None
        if renewed:
            with self._lock:
                self._valid_until = began + self._ttl
            return
        if renewed is False:
            self._step_down(term, "another replica took the lease")
        elif time.monotonic() >= self._valid_until:
            self._step_down(term, f"the lease could not be renewed for {self._ttl:g} s")

    def _step_down(self, term: int, why: str) -> None:
        with self._lock:
            if self._term != term:
                return
            self._term = None
        log.warning("leadership_lost", holder=self.holder, term=term, reason=why)
        self._on_change(False)

    def _listen_loop(self) -> None:
        self._listener.run(self._stop, self._woken)

    def _woken(self) -> None:
        if self.is_leader():
            self._on_wake()

    def _wake_loop(self) -> None:
        while not self._stop.is_set():
            self._wake_pending.wait()
            self._wake_pending.clear()
            if self._stop.is_set():
                return
            try:
                self._table.wake_leader()
            except SQLAlchemyError as exc:
                # The leader's own interval still finds the jobs; only the wake-up is late.
                log.debug("leadership_wake_failed", error=_short(exc))
                self._stop.wait(1.0)
            # At most WAKE_RATE_HZ wake-ups: a cycle takes longer than their gap anyway.
            self._stop.wait(1.0 / WAKE_RATE_HZ)


def _short(exc: BaseException) -> str:
    """First line of an error, bounded: database errors can quote whole statements."""
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
    return text[:200]
