"""`suanchou department get`, `quota set`, `department allow-classes | set-weight` and
`priority-class ...`: the department tree's quotas, usage, fair share and priority classes."""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from google.protobuf.message import Message

from agents.quantities import format_quantity, format_resources, parse_quantity
from protos.suanchou.v1 import admin_pb2, admin_pb2_grpc, governance_pb2, governance_pb2_grpc
from scheduler.cli import render
from scheduler.cli.connection import CALL_TIMEOUT_SECONDS, bearer, open_channel
from scheduler.cli.errors import EXIT_OK, UsageError
from scheduler.cli.flagvalues import key_values
from scheduler.cli.settings import Settings

UNLIMITED = "unlimited"


def reader_token(settings: Settings) -> str:
    """The admin token when one is configured, else the department (or operator) token:
    reads are open to all three, each seeing what its role may."""
    return settings.admin() if settings.admin_token is not None else settings.department_token()


def quantities(text: str, flag: str) -> dict[str, int]:
    """`cpu=64,memory=256Gi,nvidia.com/gpu=8` into canonical units by resource name."""
    parts = [part for part in text.split(",") if part.strip()]
    out: dict[str, int] = {}
    for name, value in key_values(parts, flag).items():
        try:
            out[name] = parse_quantity(name, value)
        except ValueError as e:
            raise UsageError(f"{flag} {e}") from None
    return out


def selector(pairs: Iterable[str]) -> dict[str, str]:
    """`--group` values (repeatable, each `k=v` or `k=v,k2=v2`) into one label selector."""
    parts = [part for pair in pairs for part in pair.split(",") if part.strip()]
    return key_values(parts, "--group")


def get_department(args: argparse.Namespace, settings: Settings) -> int:
    token = reader_token(settings)
    with open_channel(settings) as channel:
        department: admin_pb2.Department = admin_pb2_grpc.DepartmentServiceStub(
            channel
        ).GetDepartment(
            admin_pb2.GetDepartmentRequest(name=args.name),
            metadata=bearer(token),
            timeout=CALL_TIMEOUT_SECONDS,
        )
    if args.json:
        print(render.dumps(render.message_dict(department)))
    else:
        print(department_detail(department))
    return EXIT_OK


def set_quota(args: argparse.Namespace, settings: Settings) -> int:
    nominal = quantities(args.nominal, "--nominal")
    borrowing = quantities(args.borrowing_limit, "--borrowing-limit")
    lending = quantities(args.lending_limit, "--lending-limit")
    request = admin_pb2.SetQuotaRequest(
        department=args.department, cluster_selector=selector(args.group)
    )
    # A limit for a resource without --nominal has nominal 0 (it only borrows).
    for name in sorted({*nominal, *borrowing, *lending}):
        item = request.quotas.add(resource=name, nominal=nominal.get(name, 0))
        if name in borrowing:
            item.borrowing_limit = borrowing[name]
        if name in lending:
            item.lending_limit = lending[name]
    token = settings.admin()
    with open_channel(settings) as channel:
        department: admin_pb2.Department = admin_pb2_grpc.DepartmentServiceStub(channel).SetQuota(
            request, metadata=bearer(token), timeout=CALL_TIMEOUT_SECONDS
        )
    if args.json:
        print(render.dumps(render.message_dict(department)))
    else:
        print(department_detail(department))
    return EXIT_OK


def allow_classes(args: argparse.Namespace, settings: Settings) -> int:
    request = admin_pb2.SetDepartmentPriorityClassesRequest(
        department=args.department, priority_classes=args.classes
    )
    department = _change_department(settings, "SetDepartmentPriorityClasses", request)
    summary = f"{department.name} may use: {', '.join(department.priority_classes) or '-'}"
    return _print_department(args, department, summary)


def set_weight(args: argparse.Namespace, settings: Settings) -> int:
    request = admin_pb2.SetDepartmentFairShareWeightRequest(
        department=args.department, weight=args.weight
    )
    department = _change_department(settings, "SetDepartmentFairShareWeight", request)
    summary = f"{department.name} fair-share weight: {department.fair_share_weight}"
    return _print_department(args, department, summary)


def _change_department(settings: Settings, rpc: str, request: Message) -> admin_pb2.Department:
    """One admin call of DepartmentService that answers with the changed department."""
    token = settings.admin()
    with open_channel(settings) as channel:
        call = getattr(admin_pb2_grpc.DepartmentServiceStub(channel), rpc)
        department: admin_pb2.Department = call(
            request, metadata=bearer(token), timeout=CALL_TIMEOUT_SECONDS
        )
    return department


def _print_department(
    args: argparse.Namespace, department: admin_pb2.Department, summary: str
) -> int:
    print(render.dumps(render.message_dict(department)) if args.json else summary)
    return EXIT_OK


def create_class(args: argparse.Namespace, settings: Settings) -> int:
    token = settings.admin()
    pc = governance_pb2.PriorityClass(
        name=args.name,
        value=args.value,
        preemptible=args.preemptible,
        may_preempt=args.may_preempt,
        description=args.description,
    )
    with open_channel(settings) as channel:
        created: governance_pb2.PriorityClass = governance_pb2_grpc.PriorityClassServiceStub(
            channel
        ).CreatePriorityClass(
            governance_pb2.CreatePriorityClassRequest(priority_class=pc),
            metadata=bearer(token),
            timeout=CALL_TIMEOUT_SECONDS,
        )
    if args.json:
        print(render.dumps(render.message_dict(created)))
    else:
        print(f"created priority class {created.name} (value {created.value})")
    return EXIT_OK


def list_classes(args: argparse.Namespace, settings: Settings) -> int:
    token = reader_token(settings)
    with open_channel(settings) as channel:
        reply: governance_pb2.ListPriorityClassesResponse = (
            governance_pb2_grpc.PriorityClassServiceStub(channel).ListPriorityClasses(
                governance_pb2.ListPriorityClassesRequest(),
                metadata=bearer(token),
                timeout=CALL_TIMEOUT_SECONDS,
            )
        )
    if args.json:
        print(render.dumps(render.message_dict(reply)))
        return EXIT_OK
    rows = [
        [
            c.name,
            str(c.value),
            "yes" if c.preemptible else "no",
            "yes" if c.may_preempt else "no",
            render.or_none(c.description),
        ]
        for c in reply.priority_classes
    ]
    print(
        render.table(
            ["NAME", "VALUE", "PREEMPTIBLE", "MAY PREEMPT", "DESCRIPTION"], rows, right={1}
        )
    )
    return EXIT_OK


def department_detail(d: admin_pb2.Department) -> str:
    """The department's fields, then one row per quota: group, resource, nominal, limits,
    used and borrowed, in human units."""
    head = render.fields(
        [
            ("name", d.name),
            ("display name", render.or_none(d.display_name)),
            ("parent", render.or_none(d.parent)),
            ("priority classes", ", ".join(d.priority_classes) or render.NONE),
            ("usage", format_resources(d.usage.quantities)),
            ("fair-share weight", str(d.fair_share_weight)),
            ("decayed usage", f"{d.decayed_usage:.1f} pool-seconds"),
            ("created", render.local_time(d.created_at)),
        ]
    )
    rows = []
    over = []
    for group in d.quotas:
        where = render.mapping(dict(group.cluster_selector)) if group.cluster_selector else "pool"
        for q in group.resources:
            if q.over_limit > 0:
                over.append(_over_limit(where, q))
            rows.append(
                [
                    where,
                    q.resource,
                    format_quantity(q.resource, q.nominal),
                    _limit(q.resource, q, "borrowing_limit"),
                    _limit(q.resource, q, "lending_limit"),
                    format_quantity(q.resource, q.used),
                    format_quantity(q.resource, q.borrowed),
                    format_quantity(q.resource, q.lent),
                ]
            )
    if not rows:
        return head + "\nquotas: none (nothing guaranteed, nothing limited)"
    headers = [
        *("GROUP", "RESOURCE", "NOMINAL", "BORROW LIMIT", "LEND LIMIT"),
        *("USED", "BORROWED", "LENT"),
    ]
    table = render.table(headers, rows, right={2, 3, 4, 5, 6, 7})
    return head + "\n\n" + table + "".join("\n" + line for line in over)


def _over_limit(where: str, q: governance_pb2.ResourceQuota) -> str:
    """'pool cpu: 8 over nominal + borrowing limit since 2026-12-03 08:00:00 (lowered);
    preempted from 2026-12-03 08:10:00' (times local)."""
    return (
        f"{where} {q.resource}: {format_quantity(q.resource, q.over_limit)} over nominal + "
        f"borrowing limit since {render.local_time(q.changed_at)} (lowered below its use); "
        f"the excess is preempted from {render.local_time(q.reclaim_at)}"
    )


def _limit(resource: str, q: governance_pb2.ResourceQuota, name: str) -> str:
    if not q.HasField(name):  # type: ignore[arg-type]
        return UNLIMITED if name == "borrowing_limit" else "all idle"
    return format_quantity(resource, getattr(q, name))
