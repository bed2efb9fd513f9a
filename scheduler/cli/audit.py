"""`suanchou audit list|export|verify`: the audit trail (auditor role)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp

from protos.suanchou.v1 import audit_pb2, audit_pb2_grpc
from scheduler.cli import render
from scheduler.cli.connection import CALL_TIMEOUT_SECONDS, bearer, open_channel
from scheduler.cli.errors import EXIT_FAILURE, EXIT_OK, UsageError
from scheduler.cli.settings import Settings

_AGE = re.compile(r"^(\d{1,6})([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
# The scheduler's largest page.
MAX_PAGE = 1000


def parse_time(text: str, flag: str, now: datetime | None = None) -> Timestamp:
    """An ISO 8601 date or time (UTC when it has no offset) or an age such as 7d, 24h, 30m."""
    age = _AGE.match(text)
    if age:
        moment = (now or datetime.now(UTC)) - timedelta(**{_UNITS[age[2]]: int(age[1])})
    else:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise UsageError(
                f"{flag} {text[:40]!r}: expected an ISO time (2026-12-01T08:00:00+08:00) or an "
                "age such as 7d, 24h, 30m"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    ts = Timestamp()
    ts.FromDatetime(moment.astimezone(UTC))
    return ts


def _filtered(
    request: audit_pb2.ListAuditRecordsRequest | audit_pb2.ExportAuditRecordsRequest,
    args: argparse.Namespace,
) -> None:
    """Copies the --since/--until/--principal/--target flags into `request`."""
    request.principal, request.target = args.principal, args.target
    if args.since:
        request.since.CopyFrom(parse_time(args.since, "--since"))
    if args.until:
        request.until.CopyFrom(parse_time(args.until, "--until"))


def record_dict(record: audit_pb2.AuditRecord) -> dict[str, object]:
    """One record as a JSON object with stable keys (one line per record in `export`)."""
    data = render.message_dict(record)
    data["time"] = record.time.ToDatetime(tzinfo=UTC).isoformat(timespec="microseconds")
    data["seq"] = record.seq
    data.setdefault("targets", [])
    return data


def list_records(args: argparse.Namespace, settings: Settings) -> int:
    if not 1 <= args.limit <= MAX_PAGE:
        raise UsageError(f"--limit must be 1-{MAX_PAGE}")
    request = audit_pb2.ListAuditRecordsRequest(page_size=args.limit)
    _filtered(request, args)
    token = settings.admin()
    with open_channel(settings) as channel:
        response = audit_pb2_grpc.AuditServiceStub(channel).ListAuditRecords(
            request,
            metadata=bearer(token),
            timeout=CALL_TIMEOUT_SECONDS,
        )
    if args.json:
        print(render.dumps([record_dict(r) for r in response.records]))
        return EXIT_OK
    rows = [
        [
            str(r.seq),
            render.local_time(r.time),
            f"{r.role}:{r.principal}" if r.role else "-",
            r.rpc.rsplit("/", 1)[-1],
            ",".join(r.targets) or "-",
            r.outcome,
        ]
        for r in response.records
    ]
    print(render.table(["SEQ", "TIME", "WHO", "RPC", "TARGETS", "OUTCOME"], rows))
    return EXIT_OK


def export_records(args: argparse.Namespace, settings: Settings) -> int:
    request = audit_pb2.ExportAuditRecordsRequest()
    _filtered(request, args)
    token = settings.admin()
    with open_channel(settings) as channel:
        stream = audit_pb2_grpc.AuditServiceStub(channel).ExportAuditRecords(
            request,
            metadata=bearer(token),
        )
        for record in stream:
            sys.stdout.write(json.dumps(record_dict(record), ensure_ascii=False) + "\n")
    return EXIT_OK


def verify(args: argparse.Namespace, settings: Settings) -> int:
    token = settings.admin()
    with open_channel(settings) as channel:
        response = audit_pb2_grpc.AuditServiceStub(channel).VerifyAuditChain(
            audit_pb2.VerifyAuditChainRequest(),
            metadata=bearer(token),
            timeout=CALL_TIMEOUT_SECONDS * 10,
        )
    if args.json:
        print(render.dumps(render.message_dict(response)))
    elif response.ok:
        print(f"ok: {response.message}")
    else:
        print(f"BROKEN at seq {response.first_broken_seq}: {response.message}")
    return EXIT_OK if response.ok else EXIT_FAILURE
