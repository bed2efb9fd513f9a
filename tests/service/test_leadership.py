"""Leader election and its fence: on PostgreSQL a lease row whose epoch every cycle transaction
checks; on SQLite one scheduler per file."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from scheduler.config import ConfigError, load
from scheduler.domain.errors import Unavailable
from scheduler.domain.states import JobState
from scheduler.service.clock import ManualClock
from scheduler.service.cycle import SchedulingCycle
from scheduler.service.leader_election import ElectedLeader
from scheduler.service.leadership import AnotherScheduler, CycleTerm, Deposed, SoleScheduler
from scheduler.state import Store
from scheduler.state.lease import LeaseTable
from tests.conftest import postgres_url, reset_postgres
from tests.service.conftest import build_pool, node, spec


@pytest.fixture
def pg_store() -> Iterator[Store]:
    url = postgres_url()
    reset_postgres(url)
    store = Store(url)
    yield store
    store.dispose()


def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _lapse(store: Store) -> None:
    """The lease runs out, as when its holder is cut off from the database."""
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE leader_lease SET expires_at = 0"))


def test_a_cycle_transaction_of_a_stale_term_is_rolled_back(pg_store: Store) -> None:
    """Inside its term the fence passes and holds off a takeover until the transaction ends;
    once another holder has begun a new term, the same check rolls the transaction back."""
    url = pg_store.url
    mine, other = LeaseTable(url), LeaseTable(url)
    leader = ElectedLeader(url, ttl_s=60, renew_s=20)
    try:
        term = mine.acquire("a", ttl_s=60, wait_s=1)
        assert term is not None
        assert other.acquire("b", ttl_s=60, wait_s=1) is None  # a's lease still runs
        with pg_store.unit() as tx:
            tx.departments.create("民政局", "Civil Affairs", ManualClock().now())
            leader.check(tx, term)
            _lapse(pg_store)
            # The lease lapsed, but the takeover waits for this transaction's share lock;
            # the holder's own renewal does not.
            with pytest.raises(OperationalError, match="lock"):
                other.acquire("b", ttl_s=60, wait_s=0.5)
            assert mine.renew("a", term, ttl_s=60)
        _lapse(pg_store)
        new_term = other.acquire("b", ttl_s=60, wait_s=1)
        assert new_term == term + 1
        with pytest.raises(Deposed, match=f"term {term} has ended"), pg_store.unit() as tx:
            tx.departments.create("交通局", "Transport", ManualClock().now())
            leader.check(tx, term)
        assert not mine.renew("a", term, ttl_s=60)
        with pg_store.unit(write=False) as tx:
            assert [d.name for d in tx.departments.all()] == ["民政局"]
    finally:
        mine.dispose()
        other.dispose()
        leader.stop()


def test_a_leader_silent_inside_its_fenced_transaction_does_not_block_a_takeover(
    pg_store: Store,
) -> None:
    """A leader that stops talking in the middle of a fenced transaction (cut off, its session
    still open) loses that transaction after twice its lease time (the server ends the session:
    to the store's caller UNAVAILABLE, nothing changed), and the takeover goes on."""
    url = pg_store.url
    mine, other = LeaseTable(url), LeaseTable(url)
    leader = ElectedLeader(url, ttl_s=0.5, renew_s=0.2)
    try:
        term = mine.acquire("a", ttl_s=0.5, wait_s=1)
        assert term is not None
        with (
            pytest.raises(Unavailable, match="IdleInTransactionSessionTimeout"),
            pg_store.unit() as tx,
        ):
            tx.departments.create("民政局", "Civil Affairs", ManualClock().now())
            leader.check(tx, term)
            _lapse(pg_store)
            # Waits on the share lock until the server ends the idle transaction (1 s).
            assert other.acquire("b", ttl_s=60, wait_s=30) == term + 1
        with pg_store.unit(write=False) as tx:
            assert tx.departments.all() == []
    finally:
        mine.dispose()
        other.dispose()
        leader.stop()


def test_a_deposed_leaders_cycle_places_nothing(pg_store: Store, clock: ManualClock) -> None:
    """A leader that still believes it leads, while another replica has taken the lease, runs
    a cycle that is refused (Deposed) and leaves its queued job queued."""
    pool = build_pool(pg_store, clock)
    leader = ElectedLeader(pg_store.url, ttl_s=60, renew_s=20)
    changes: list[bool] = []
    leader.start(on_wake=lambda: None, on_change=changes.append)
    other = LeaseTable(pg_store.url)
    try:
        _wait(leader.is_leader, 30, "the leader to be elected")
        cycle = SchedulingCycle(
            pg_store, clock, pool.settings, clock.now(), pool.liveness, fence=leader
        )
        pool.cluster("a", [node("a", "n1")])
        [first] = pool.submit(spec("first"))
        assert cycle.run_once().placed == 1
        [second] = pool.submit(spec("second"))
        _lapse(pg_store)
        assert other.acquire("b", ttl_s=60, wait_s=5) is not None
        assert leader.is_leader()  # it has not renewed since: it still believes it leads
        with pytest.raises(Deposed):
            cycle.run_once()
        assert pool.jobs.get("公安局", first).job.state is JobState.LEASED
        assert pool.jobs.get("公安局", second).job.state is JobState.QUEUED
        assert changes == [False, True]
    finally:
        other.dispose()
        leader.stop()


def test_a_cycle_term_is_lost_when_its_leader_steps_down(pg_store: Store) -> None:
    """CycleTerm.lost (the engine's should_stop in a cycle): false while the term the cycle
    began in is still led, true once the leader has stepped down; never on SQLite."""
    leader = ElectedLeader(pg_store.url, ttl_s=60, renew_s=20)
    leader.start(on_wake=lambda: None, on_change=lambda _leader: None)
    try:
        _wait(leader.is_leader, 30, "leadership")
        term = CycleTerm(leader)
        term.begin()
        assert not term.lost()
    finally:
        leader.stop()
    assert term.lost()


def test_a_sole_schedulers_cycle_term_is_never_lost(tmp_path: Path) -> None:
    """On SQLite the one scheduler always leads term 0."""
    sole = SoleScheduler(f"sqlite:///{tmp_path / 'one.db'}")
    try:
        term = CycleTerm(sole)
        term.begin()
        assert not term.lost()
    finally:
        sole.stop()


def test_a_follower_takes_over_when_the_leader_steps_aside(pg_store: Store) -> None:
    """Of two replicas exactly one leads; when it stops, the other leads, in a higher term."""
    a = ElectedLeader(pg_store.url, ttl_s=4, renew_s=0.5)
    b = ElectedLeader(pg_store.url, ttl_s=4, renew_s=0.5)
    woken: list[str] = []
    for name, replica in (("a", a), ("b", b)):
        replica.start(on_wake=lambda n=name: woken.append(n), on_change=lambda _: None)  # type: ignore[misc]
    try:
        _wait(lambda: a.is_leader() or b.is_leader(), 30, "a leader")
        leader, follower = (a, b) if a.is_leader() else (b, a)
        assert not follower.is_leader()
        term = leader.term()
        assert term is not None
        # A submit on the follower wakes the leader through the database.
        woken.clear()
        follower.wake_leader()
        _wait(lambda: woken, 30, "the leader to be woken")
        leader.stop()
        _wait(follower.is_leader, 30, "the follower to take over")
        assert (follower.term() or 0) > term
    finally:
        a.stop()
        b.stop()


def test_a_second_scheduler_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    """The file lock refuses a second scheduler with the holder's pid, and is free again once
    the first one stops; other files are unaffected."""
    url = f"sqlite:///{tmp_path / 'one.db'}"
    first = SoleScheduler(url)
    with pytest.raises(AnotherScheduler, match=rf"pid {os.getpid()}\).*one scheduler"):
        SoleScheduler(url)
    other = SoleScheduler(f"sqlite:///{tmp_path / 'two.db'}")
    first.stop()
    again = SoleScheduler(url)
    assert again.is_leader() and again.term() == 0
    again.stop()
    other.stop()


def test_leadership_timings_are_bounded_by_the_config() -> None:
    """The lease time is at most 300 s and renewals come at least twice per lease; the
    keys are read like every other setting."""
    env = {"SUANCHOU_LEADERSHIP_TTL_S": "4", "SUANCHOU_LEADERSHIP_RENEW_S": "1.5"}
    settings = load(None, {}, environ=env).scheduler
    assert (settings.leadership_ttl_s, settings.leadership_renew_s) == (4.0, 1.5)
    with pytest.raises(ConfigError, match="leadership_renew_s must be at most half"):
        load(None, {}, environ={**env, "SUANCHOU_LEADERSHIP_RENEW_S": "3"})
    with pytest.raises(ConfigError, match="leadership_ttl_s: must be at most 300"):
        load(None, {}, environ={"SUANCHOU_LEADERSHIP_TTL_S": "301"})
    with pytest.raises(ConfigError, match="leadership_renew_s: must be positive"):
        load(None, {}, environ={"SUANCHOU_LEADERSHIP_RENEW_S": "0"})
