"""The audit log as a hash chain: append, read, verify and prune. Never commits.

hash(n) = sha256(hash(n-1) + canonical JSON of record n). Appends take the single `audit_head`
row FOR UPDATE (on SQLite the BEGIN IMMEDIATE write lock already serializes writers), give the
record seq = head.seq + 1 and move the head, so concurrent writers never fork the chain and a
gap in seq means a deleted record. Pruning deletes the oldest records and leaves their last
seq and hash in the head as the anchor the rest of the chain is verified from.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime

from sqlalchemy import String, cast, delete, func
from sqlmodel import Session, col, select

from scheduler.domain.security import AuditEntry, AuditRecord, ChainCheck
from scheduler.state.mapping import utc
from scheduler.state.tables import AuditHeadRow, AuditRecordRow

MAX_TARGETS = 50
MAX_MESSAGE = 256
VERIFY_BATCH = 1000


def canonical(seq: int, entry: AuditEntry) -> str:
    """The record as hashed: sorted keys, no whitespace, UTC time to the microsecond."""
    return json.dumps(
        {
            "seq": seq,
            "time": entry.time.astimezone(UTC).isoformat(timespec="microseconds"),
            "principal": entry.principal,
            "role": entry.role,
            "peer": entry.peer,
            "rpc": entry.rpc,
            "targets": list(entry.targets),
            "outcome": entry.outcome,
            "message": entry.message,
            "request_id": entry.request_id,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def chain_hash(prev_hash: str, seq: int, entry: AuditEntry) -> str:
    return hashlib.sha256((prev_hash + canonical(seq, entry)).encode()).hexdigest()


def bounded(entry: AuditEntry) -> AuditEntry:
    """The entry cut to what the table holds, so what is hashed is exactly what is stored."""
    return AuditEntry(
        time=entry.time.astimezone(UTC),
        principal=entry.principal[:128],
        role=entry.role[:32],
        peer=entry.peer[:128],
        rpc=entry.rpc[:128],
        targets=tuple(t[:128] for t in entry.targets[:MAX_TARGETS]),
        outcome=entry.outcome[:32],
        message=entry.message[:MAX_MESSAGE],
        request_id=entry.request_id[:64],
    )


class AuditLog:
    def __init__(self, session: Session) -> None:
        self._s = session

    def append(self, entry: AuditEntry) -> AuditRecord:
        entry = bounded(entry)
        head = self._head(lock=True)
        seq, prev = head.seq + 1, head.hash
        record = AuditRecord(seq, entry, prev, chain_hash(prev, seq, entry))
        self._s.add(_to_row(record))
        head.seq, head.hash = seq, record.hash
        self._s.add(head)
        self._s.flush()
        return record

    def page(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        principal: str = "",
        target: str = "",
        after_seq: int = 0,
        limit: int = 100,
    ) -> list[AuditRecord]:
        """Oldest first, from after `after_seq`."""
        query = select(AuditRecordRow).where(col(AuditRecordRow.seq) > after_seq)
        if since is not None:
            query = query.where(col(AuditRecordRow.time) >= since)
        if until is not None:
            query = query.where(col(AuditRecordRow.time) < until)
        if principal:
            query = query.where(AuditRecordRow.principal == principal)
        if target:
            # Targets are a JSON list; match the JSON-encoded id, quotes included, as text.
            needle = json.dumps(target)
            for char in "!%_":
                needle = needle.replace(char, "!" + char)
            query = query.where(
                cast(col(AuditRecordRow.targets), String).like(f"%{needle}%", escape="!")
            )
        query = query.order_by(col(AuditRecordRow.seq)).limit(limit)
        return [_from_row(r) for r in self._s.exec(query).all()]

    def verify(self) -> ChainCheck:
        head = self._head(lock=False)
        prev, expected = head.anchor_hash, head.anchor_seq + 1
        checked = 0
        for record in self._all_up_to(head.seq):
            if record.seq != expected:
                return _broken(checked, expected, f"record {expected} is missing", head)
            if record.prev_hash != prev:
                return _broken(
                    checked,
                    record.seq,
                    f"record {record.seq} does not link to its predecessor",
                    head,
                )
            if chain_hash(prev, record.seq, record.entry) != record.hash:
                return _broken(
                    checked, record.seq, f"record {record.seq} was altered (hash mismatch)", head
                )
            prev, expected = record.hash, expected + 1
            checked += 1
        if expected != head.seq + 1 or prev != head.hash:
            return _broken(checked, expected, f"records {expected}-{head.seq} are missing", head)
        return ChainCheck(
            True,
            checked,
            0,
            f"{checked} records verified (seq {head.anchor_seq + 1}-{head.seq})",
            head.anchor_seq,
        )

    def prune(self, before: datetime) -> int:
        """Deletes the oldest records, in seq order, up to the first one at or after `before`;
        returns how many. The last deleted record becomes the anchor."""
        head = self._head(lock=True)
        keep_from = self._s.exec(
            select(func.min(AuditRecordRow.seq)).where(col(AuditRecordRow.time) >= before)
        ).first()
        last = head.seq if keep_from is None else keep_from - 1
        if last <= head.anchor_seq:
            return 0
        anchor = self._s.get(AuditRecordRow, last)
        if anchor is None:
            return 0  # already gone: verify reports it; pruning must not hide it
        count = self._s.exec(select(func.count()).where(col(AuditRecordRow.seq) <= last)).one()
        self._s.execute(delete(AuditRecordRow).where(col(AuditRecordRow.seq) <= last))
        head.anchor_seq, head.anchor_hash = last, anchor.hash
        self._s.add(head)
        self._s.flush()
        return int(count)

    def _all_up_to(self, last_seq: int) -> Iterator[AuditRecord]:
        after = 0
        while True:
            rows = self._s.exec(
                select(AuditRecordRow)
                .where(col(AuditRecordRow.seq) > after, col(AuditRecordRow.seq) <= last_seq)
                .order_by(col(AuditRecordRow.seq))
                .limit(VERIFY_BATCH)
            ).all()
            if not rows:
                return
            for row in rows:
                yield _from_row(row)
            after = rows[-1].seq

    def _head(self, *, lock: bool) -> AuditHeadRow:
        query = select(AuditHeadRow).where(AuditHeadRow.id == 1)
        if lock:
            query = query.with_for_update()
        head = self._s.exec(query).first()
        if head is None:
            raise RuntimeError("audit_head row missing: run the database migrations")
        return head


def _broken(checked: int, seq: int, message: str, head: AuditHeadRow) -> ChainCheck:
    return ChainCheck(False, checked, seq, message, head.anchor_seq)


def _to_row(record: AuditRecord) -> AuditRecordRow:
    e = record.entry
    return AuditRecordRow(
        seq=record.seq,
        time=e.time,
        principal=e.principal,
        role=e.role,
        peer=e.peer,
        rpc=e.rpc,
        targets=list(e.targets),
        outcome=e.outcome,
        message=e.message,
        request_id=e.request_id,
        prev_hash=record.prev_hash,
        hash=record.hash,
    )


def _from_row(row: AuditRecordRow) -> AuditRecord:
    entry = AuditEntry(
        time=utc(row.time),
        principal=row.principal,
        role=row.role,
        peer=row.peer,
        rpc=row.rpc,
        targets=tuple(row.targets),
        outcome=row.outcome,
        message=row.message,
        request_id=row.request_id,
    )
    return AuditRecord(row.seq, entry, row.prev_hash, row.hash)
