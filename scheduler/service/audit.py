"""The audit trail: one record per mutating call and per denied call.

The API layer opens a `CallAudit` for each call (a contextvar). A mutating call's record is
appended by the store's before-commit hook (`append_pending`) inside the write transaction of
its change, so the change and its record commit or roll back together. A call that ends
without that (denied, failed and rolled back, or mutating nothing) gets its record from
`AuditService.finish` in a transaction of its own.

AgentService.Sync is "conditional": it is recorded only when it changed something (nodes
changed, runs moved, leases handed out or withdrawn) or was refused; a heartbeat-only sync is
not, or every cluster would add 86,400 records a day, and neither is a Sync that failed and
rolled back (a broken agent retrying every second would flood the trail the same way; its
error is in the scheduler log and in the cluster's agent_error).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from scheduler.domain.errors import InvalidSpec
from scheduler.domain.security import AuditEntry, AuditRecord, ChainCheck
from scheduler.service.clock import Clock
from scheduler.state import Store, Tx
from scheduler.state.audit_chain import MAX_TARGETS

log = structlog.get_logger("suanchou.audit")

MAX_PAGE = 1000
EXPORT_BATCH = 500
# Codes recorded even for calls that change nothing: the caller was refused.
DENIED = frozenset({"PERMISSION_DENIED", "UNAUTHENTICATED"})


@dataclass
class CallAudit:
    """What is known about the call being handled; filled in as the call proceeds."""

    rpc: str
    peer: str
    request_id: str
    mutating: bool
    conditional: bool = False
    principal: str = ""
    role: str = ""
    targets: list[str] = field(default_factory=list)
    changed: bool = False
    written: bool = False

    def entry(self, time: datetime, outcome: str, message: str) -> AuditEntry:
        return AuditEntry(
            time=time,
            principal=self.principal,
            role=self.role,
            peer=self.peer,
            rpc=self.rpc,
            targets=tuple(dict.fromkeys(self.targets))[:MAX_TARGETS],
            outcome=outcome,
            message=message,
            request_id=self.request_id,
        )


_call: contextvars.ContextVar[CallAudit | None] = contextvars.ContextVar("audit_call", default=None)


def begin(call: CallAudit) -> contextvars.Token[CallAudit | None]:
    return _call.set(call)


def end(token: contextvars.Token[CallAudit | None]) -> None:
    _call.reset(token)


def add_targets(*ids: str) -> None:
    """Names objects the current call touched (no-op outside a call, e.g. in the cycle)."""
    call = _call.get()
    if call is not None and len(call.targets) < MAX_TARGETS:
        call.targets.extend(ids[: MAX_TARGETS - len(call.targets)])


def mark_changed(*ids: str) -> None:
    """A conditional call (Sync) did change something: record it."""
    call = _call.get()
    if call is not None:
        call.changed = True
        add_targets(*ids)


def actor() -> str:
    """ "role:name" of the caller, for created_by columns; "system" outside a call."""
    call = _call.get()
    if call is None or not call.role:
        return "system"
    if call.role == "bootstrap":
        return "bootstrap"
    return f"{call.role}:{call.principal}"


class AuditService:
    def __init__(self, store: Store, clock: Clock, retention_days: int) -> None:
        self._store = store
        self._clock = clock
        self._retention = timedelta(days=retention_days)

    def append_pending(self, tx: Tx) -> None:
        """Store.before_commit hook: the current mutating call's record joins its transaction."""
        call = _call.get()
        if call is None or not call.mutating or call.written:
            return
        if call.conditional and not call.changed:
            return
        tx.audit.append(call.entry(self._clock.now(), "OK", ""))
        call.written = True

    def finish(self, call: CallAudit, outcome: str, message: str, *, throttled: bool) -> None:
        """Records the call in its own transaction if it needs a record and has none yet."""
        if call.written or throttled:
            return
        # A conditional call that changed nothing (a heartbeat, or a Sync that failed and
        # rolled back) is not recorded unless it was refused.
        quiet = call.conditional and not call.changed
        if outcome not in DENIED and (not call.mutating or quiet):
            return
        call.written = True  # before the unit, so the before-commit hook does not append too
        try:
            with self._store.unit() as tx:
                tx.audit.append(call.entry(self._clock.now(), outcome, message))
        except Exception:
            log.exception("audit_append_failed", rpc=call.rpc, outcome=outcome)

    def page(
        self,
        *,
        since: datetime | None,
        until: datetime | None,
        principal: str,
        target: str,
        after_seq: int,
        limit: int,
    ) -> list[AuditRecord]:
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidSpec(f"must be 1-{MAX_PAGE}", field="page_size")
        for value, name in ((principal, "principal"), (target, "target")):
            if len(value) > 128:
                raise InvalidSpec("at most 128 characters", field=name)
        with self._store.unit(write=False) as tx:
            return tx.audit.page(
                since=since,
                until=until,
                principal=principal,
                target=target,
                after_seq=after_seq,
                limit=limit,
            )

    def export(
        self, *, since: datetime | None, until: datetime | None, principal: str, target: str
    ) -> Iterator[AuditRecord]:
        """Every matching record, read in bounded batches (one short transaction each)."""
        after = 0
        while True:
            batch = self.page(
                since=since,
                until=until,
                principal=principal,
                target=target,
                after_seq=after,
                limit=EXPORT_BATCH,
            )
            yield from batch
            if len(batch) < EXPORT_BATCH:
                return
            after = batch[-1].seq

    def verify(self) -> ChainCheck:
        with self._store.unit(write=False) as tx:
            return tx.audit.verify()

    def prune(self) -> int:
        """Deletes records older than the retention period; the pruning itself is recorded,
        with the anchor it left, as a record of the chain."""
        cutoff = self._clock.now() - self._retention
        with self._store.unit() as tx:
            count = tx.audit.prune(cutoff)
            if count:
                tx.audit.append(
                    AuditEntry(
                        time=self._clock.now(),
                        principal="scheduler",
                        role="system",
                        peer="",
                        rpc="audit.prune",
                        targets=(),
                        outcome="OK",
                        message=f"pruned {count} records older than {cutoff.isoformat()}",
                        request_id="",
                    )
                )
        if count:
            log.info("audit_pruned", records=count, before=cutoff.isoformat())
        return count
