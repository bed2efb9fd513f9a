"""Proto <-> domain conversion for principals, tokens and audit records."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from protos.suanchou.v1 import audit_pb2, security_pb2
from scheduler.domain.errors import InvalidSpec
from scheduler.domain.security import AuditRecord, NamedPrincipal, TokenInfo

# Timestamps beyond this are refused rather than overflowing datetime.
_MAX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z
_MAX_SEQ = 2**62


def _ts(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value.astimezone(UTC))
    return ts


def time_from_proto(msg: Timestamp, present: bool, field: str) -> datetime | None:
    if not present:
        return None
    if not 0 <= msg.seconds <= _MAX_SECONDS or not 0 <= msg.nanos < 1_000_000_000:
        raise InvalidSpec("is out of range", field=field)
    return msg.ToDatetime(tzinfo=UTC)


def principal_to_proto(p: NamedPrincipal) -> security_pb2.Principal:
    return security_pb2.Principal(
        name=p.name, role=p.role.value, created_at=_ts(p.created_at), created_by=p.created_by
    )


def token_to_proto(t: TokenInfo) -> security_pb2.TokenInfo:
    msg = security_pb2.TokenInfo(
        token_id=t.token_id,
        kind=t.kind.value,
        principal=t.principal,
        created_at=_ts(t.created_at),
        created_by=t.created_by,
    )
    if t.revoked_at is not None:
        msg.revoked_at.CopyFrom(_ts(t.revoked_at))
    return msg


def record_to_proto(r: AuditRecord) -> audit_pb2.AuditRecord:
    e = r.entry
    return audit_pb2.AuditRecord(
        seq=r.seq,
        time=_ts(e.time),
        principal=e.principal,
        role=e.role,
        peer=e.peer,
        rpc=e.rpc,
        targets=list(e.targets),
        outcome=e.outcome,
        message=e.message,
        request_id=e.request_id,
        prev_hash=r.prev_hash,
        hash=r.hash,
    )


def encode_audit_page(seq: int) -> str:
    return f"a{seq}"


def decode_audit_page(token: str) -> int:
    if not token:
        return 0
    digits = token[1:]
    if token[:1] == "a" and digits.isdigit() and len(digits) <= 19 and int(digits) < _MAX_SEQ:
        return int(digits)
    raise InvalidSpec("is not a token this server issued", field="page_token")
