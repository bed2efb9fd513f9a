"""The audit hash chain on every backend: appends never fork it, edits and deletions are found
with the seq named, and retention pruning keeps the rest verifiable."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text

from scheduler.domain.security import AuditEntry
from scheduler.service.audit import AuditService
from scheduler.service.auth import Authenticator
from scheduler.service.clock import ManualClock
from scheduler.service.tokens import hash_token
from scheduler.state import Store
from scheduler.state.migrate import upgrade


def entry(clock: ManualClock, n: int, principal: str = "ops") -> AuditEntry:
    return AuditEntry(
        time=clock.now(),
        principal=principal,
        role="admin",
        peer="ipv4:127.0.0.1:5000",
        rpc="/suanchou.v1.ClusterService/CordonCluster",
        targets=(f"cluster-{n}", "公安局"),
        outcome="OK",
        message=f"call {n}",
        request_id=f"r{n}",
    )


def append(store: Store, clock: ManualClock, count: int, start: int = 1) -> None:
    for n in range(start, start + count):
        with store.unit() as tx:
            tx.audit.append(entry(clock, n))
        clock.advance(60)


def verify(store: Store) -> tuple[bool, int, str]:
    check = AuditService(store, ManualClock(), 180).verify()
    return check.ok, check.first_broken_seq, check.message


def test_chain_verifies_and_reads_back_filtered(store: Store, clock: ManualClock) -> None:
    """Appended records verify, read back oldest first, and filter by time, principal, target."""
    append(store, clock, 6)
    assert verify(store) == (True, 0, "6 records verified (seq 1-6)")
    with store.unit(write=False) as tx:
        page = tx.audit.page(after_seq=2, limit=3)
        assert [r.seq for r in page] == [3, 4, 5]
        assert [r.seq for r in tx.audit.page(target="cluster-4")] == [4]
        assert len(tx.audit.page(target="公安局")) == 6
        assert tx.audit.page(target="cluster-") == []
        assert tx.audit.page(principal="nobody") == []
        since = page[0].entry.time
        assert [r.seq for r in tx.audit.page(since=since, until=since + timedelta(seconds=61))] == [
            3,
            4,
        ]


def test_edited_and_deleted_records_are_found(store: Store, clock: ManualClock) -> None:
    """UPDATE of a stored row's message, DELETE of a middle row or of the last row: verify
    names the first broken seq."""
    append(store, clock, 8)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_record SET message = 'nothing here' WHERE seq = 6"))
    ok, seq, message = verify(store)
    assert (ok, seq) == (False, 6) and "altered" in message
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_record WHERE seq = 4"))
    ok, seq, message = verify(store)
    assert (ok, seq) == (False, 4) and "missing" in message


def test_deleting_the_newest_records_is_found(store: Store, clock: ManualClock) -> None:
    """Removing records at the end of the chain is caught by the head."""
    append(store, clock, 5)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_record WHERE seq >= 4"))
    ok, seq, _ = verify(store)
    assert (ok, seq) == (False, 4)


def test_pruning_keeps_the_chain_verifiable(store: Store, clock: ManualClock) -> None:
    """Records past retention are pruned in seq order, an anchor keeps the rest verifiable,
    the pruning itself is recorded, and tampering after pruning is still found."""
    append(store, clock, 10)  # one minute apart
    clock.advance(24 * 3600)
    append(store, clock, 3, start=11)
    clock.advance(24 * 3600 - 10 * 60)  # records 1-10 are now older than one day
    service = AuditService(store, clock, retention_days=1)
    assert service.prune() == 10
    check = service.verify()
    assert check.ok and check.anchor_seq == 10 and check.checked == 4, check.message
    with store.unit(write=False) as tx:
        records = tx.audit.page(limit=10)
    assert [r.seq for r in records] == [11, 12, 13, 14]
    assert records[-1].entry.rpc == "audit.prune" and "pruned 10" in records[-1].entry.message
    assert service.prune() == 0
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_record SET principal = 'someone' WHERE seq = 11"))
    assert verify(store)[:2] == (False, 11)


def test_concurrent_appends_never_fork_the_chain(store: Store, clock: ManualClock) -> None:
    """Writers in parallel threads get consecutive seqs and one valid chain."""
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for n in range(10):
                with store.unit() as tx:
                    tx.audit.append(entry(clock, k * 100 + n, principal=f"w{k}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert verify(store) == (True, 0, "40 records verified (seq 1-40)")


def test_tokens_from_before_roles_keep_working(tmp_path: Path) -> None:
    """Migrating a 0001 database moves department and agent token hashes into the token table,
    so existing tokens authenticate as before."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = Store(url, migrate=False)
    upgrade(old.engine, "0001")
    with old.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO department VALUES ('公安局', 'x', :h, '2026-01-01 00:00:00')"),
            {"h": hash_token("scd_old-department-token")},
        )
    old.dispose()
    store = Store(url)
    principal = Authenticator(store).authenticate("scd_old-department-token")
    assert (principal.role.value, principal.name) == ("department", "公安局")
    store.dispose()
