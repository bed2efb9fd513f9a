"""Parsers of `suanchou department`, `quota` and `priority-class` (standard library only, like
scheduler.cli.main, so --help stays fast)."""

from __future__ import annotations

from typing import Any

GOVERNANCE = "scheduler.cli.governance"
QUANTITIES = "NAME=QTY,..."


def add_department_commands(commands: Any, leaf: Any) -> None:
    department = commands.add_parser(
        "department", help="create, list and inspect departments and their quotas"
    )
    sub = department.add_subparsers(title="department commands", metavar="COMMAND", required=True)
    create = leaf.add(
        sub,
        "create",
        "scheduler.cli.departments:create",
        "create a department and print its token (shown once)",
        epilog="Names are paths: a department under 交通局 is named 交通局/NAME (at most 4 "
        "levels); --parent may be left out for such a name.",
    )
    create.add_argument(
        "name", metavar="NAME", help="e.g. 公安局 or 交通局/信号处 (1-64 characters)"
    )
    create.add_argument("--parent", default="", metavar="NAME", help="the parent department")
    create.add_argument(
        "--display-name", default=None, metavar="TEXT", help="default: the last part of NAME"
    )
    leaf.add(sub, "list", "scheduler.cli.departments:list_departments", "list departments")
    get = leaf.add(
        sub,
        "get",
        f"{GOVERNANCE}:get_department",
        "show a department: parent, priority classes, quotas with usage and borrowed",
        epilog="Uses the admin token if one is configured, else the department (or operator) "
        "token; a department sees itself and its descendants.",
    )
    get.add_argument("name", metavar="NAME")
    allow = leaf.add(
        sub,
        "allow-classes",
        f"{GOVERNANCE}:allow_classes",
        "set the priority classes a department's jobs may name (none: no class allowed)",
    )
    allow.add_argument("department", metavar="NAME")
    allow.add_argument("classes", nargs="*", metavar="CLASS")
    weight = leaf.add(
        sub,
        "set-weight",
        f"{GOVERNANCE}:set_weight",
        "set a department's fair-share weight against its siblings (admin)",
        epilog="Above the guarantees the pool is shared by weight, with usage decayed by the "
        "scheduler's fair-share half life: a department that used less lately ranks higher.",
    )
    weight.add_argument("department", metavar="NAME")
    weight.add_argument("weight", type=int, metavar="WEIGHT", help="1-10000 (default 1)")


def add_quota_commands(commands: Any, leaf: Any) -> None:
    quota = commands.add_parser("quota", help="set departments' quotas (admin)")
    sub = quota.add_subparsers(title="quota commands", metavar="COMMAND", required=True)
    put = leaf.add(
        sub,
        "set",
        f"{GOVERNANCE}:set_quota",
        "replace a department's quotas in one cluster group",
        epilog="Quantities as in job files: cpu in cores or 500m, memory 256Gi / 512Mi, "
        "devices as counts. A resource given only a limit has nominal 0. Without "
        "--borrowing-limit borrowing is unlimited; without --lending-limit all idle nominal "
        "may be lent. Giving no quantity at all removes the group's quotas.",
    )
    put.add_argument("department", metavar="NAME")
    put.add_argument(
        "--group",
        action="append",
        default=[],
        metavar="K=V",
        help="cluster labels choosing the group, e.g. xinchuang=true or gpu=a100 "
        "(repeatable; none: the whole pool)",
    )
    put.add_argument("--nominal", default="", metavar=QUANTITIES, help="guaranteed quantities")
    put.add_argument(
        "--borrowing-limit", default="", metavar=QUANTITIES, help="most it may use above nominal"
    )
    put.add_argument(
        "--lending-limit", default="", metavar=QUANTITIES, help="most of its idle nominal lent"
    )


def add_priority_class_commands(commands: Any, leaf: Any) -> None:
    pc = commands.add_parser("priority-class", help="define and list priority classes")
    sub = pc.add_subparsers(title="priority-class commands", metavar="COMMAND", required=True)
    create = leaf.add(sub, "create", f"{GOVERNANCE}:create_class", "define a priority class")
    create.add_argument("name", metavar="NAME", help="1-63 characters of [a-z0-9-]")
    create.add_argument("--value", type=int, required=True, metavar="N", help="0-1000")
    create.add_argument("--preemptible", action="store_true", help="its jobs may be preempted")
    create.add_argument("--may-preempt", action="store_true", help="its jobs may preempt others")
    create.add_argument("--description", default="", metavar="TEXT")
    leaf.add(sub, "list", f"{GOVERNANCE}:list_classes", "list priority classes")
