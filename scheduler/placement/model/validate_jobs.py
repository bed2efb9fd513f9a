"""Validation of the job fields of a `Problem` (validate.py): jobs, running work, overrides,
quotas, services, balances, names."""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING

from scheduler.placement.model.limits import (
    MAX_COST,
    MAX_INDEX,
    MAX_ORDER,
    MAX_PRIORITY,
    MAX_QUANTITY,
    MAX_REPLICAS,
    MAX_TOTAL_REPLICAS,
    MAX_WEIGHT,
    as_tuple,
    bools,
    check_index,
    check_int,
    check_row,
    fail,
    gpu_share_ok,
    indices,
    int_ok,
    ints_ok,
    length,
    matrix,
    resource_label,
    vector,
)
from scheduler.placement.model.problem import Balance, Override, Quota, Service

if TYPE_CHECKING:
    from scheduler.placement.model.problem import Problem


def check_jobs(p: Problem) -> None:
    width = p.num_resources
    count = len(as_tuple(p.job_demand, "job_demand"))
    label = resource_label(p)
    matrix(p.job_demand, count, width, "job_demand", "job", label, 0, MAX_QUANTITY)
    vector(p.job_replicas, count, "job_replicas", "job", "replicas", 1, MAX_REPLICAS)
    if sum(p.job_replicas) > MAX_TOTAL_REPLICAS:
        raise fail(
            f"problem: {sum(p.job_replicas)} replicas in total exceed {MAX_TOTAL_REPLICAS}; "
            "split the cycle"
        )
    vector(p.job_priority, count, "job_priority", "job", "priority", 0, MAX_PRIORITY)
    vector(p.job_order, count, "job_order", "job", "order", -MAX_ORDER, MAX_ORDER)
    if len(set(p.job_order)) != count:
        owner: dict[int, int] = {}
        for j, order in enumerate(p.job_order):
            if order in owner:
                raise fail(
                    f"job {j}: order {order} repeats job {owner[order]}'s (ranks are unique)"
                )
            owner[order] = j
    indices(p.job_nodes, count, "job_nodes", "job", "node set", len(p.node_sets))
    bools(p.job_required, count, "job_required", "job")
    vector(p.job_move_cost, count, "job_move_cost", "job", "move_cost", -1, MAX_COST, True)
    vector(p.job_preempt_cost, count, "job_preempt_cost", "job", "preempt_cost", -1, MAX_COST, True)
    vector(p.job_department, count, "job_department", "job", "department", -1, MAX_INDEX, True)
    bools(p.job_may_preempt, count, "job_may_preempt", "job")
    bools(p.job_may_reclaim, count, "job_may_reclaim", "job")
    vector(p.job_preempt_rank, count, "job_preempt_rank", "job", "rank", 0, MAX_PRIORITY, True)
    check_int(p.max_evictions, "problem: max_evictions", -1, MAX_TOTAL_REPLICAS)


def check_running(p: Problem) -> None:
    count = p.num_jobs
    if not length(p.job_current, count, "job_current", "job", True):
        return
    nodes = p.num_nodes
    for j, current in enumerate(p.job_current):
        if current is None:
            continue
        if not isinstance(current, tuple):
            raise fail(f"job {j}: current must be None or a tuple of nodes, got {current!r}")
        if len(current) != p.job_replicas[j]:
            raise fail(
                f"job {j}: current lists {len(current)} nodes, expected {p.job_replicas[j]} "
                "(one per replica)"
            )
        if not ints_ok(current, 0, nodes - 1):
            for i, node in enumerate(current):
                check_index(node, f"job {j}: current replica {i}", "node", nodes)


def check_overrides(p: Problem) -> None:
    overrides = as_tuple(p.overrides, "overrides")
    if not overrides:
        return
    width = p.num_resources
    label = resource_label(p)
    gpu = p.gpu_resource
    seen: dict[tuple[int, int], int] = {}
    for i, o in enumerate(overrides):
        where = f"override {i}"
        if not isinstance(o, Override):
            raise fail(f"{where}: must be an Override, got {type(o).__name__}")
        check_index(o.job, where, "job", p.num_jobs)
        # A type without nodes in this cycle is fine: the builder knows its hardware kinds.
        check_int(o.node_type, f"{where}: node_type", 0, MAX_INDEX)
        key = (o.job, o.node_type)
        if key in seen:
            raise fail(f"{where}: repeats override {seen[key]} for job {o.job}, type {o.node_type}")
        seen[key] = i
        if o.demand is not None:
            check_row(o.demand, width, where, "demand", label, 0, MAX_QUANTITY)
            if gpu >= 0 and not gpu_share_ok(o.demand[gpu]):
                raise fail(
                    f"{where}: demand[{label(gpu)}] = {o.demand[gpu]} must be 0, 1..999 or a "
                    "multiple of 1000"
                )
        if o.cost is not None:
            check_int(o.cost, f"{where}: cost", 0, MAX_COST)


def check_quotas(p: Problem) -> None:
    # Several quotas may bound one department and resource (a parent's, a cluster group's);
    # only one with the very same scope would be a builder bug (which limit was meant?).
    seen: dict[tuple[object, ...], int] = {}
    for i, q in enumerate(as_tuple(p.quotas, "quotas")):
        where = f"quota {i}"
        if not isinstance(q, Quota):
            raise fail(f"{where}: must be a Quota, got {type(q).__name__}")
        check_int(q.department, f"{where}: department", 0, MAX_INDEX)
        check_index(q.resource, where, "resource", p.num_resources)
        check_int(q.nominal, f"{where}: nominal", 0, MAX_QUANTITY * MAX_TOTAL_REPLICAS)
        check_int(q.borrow_limit, f"{where}: borrow_limit", 0, MAX_QUANTITY * MAX_TOTAL_REPLICAS)
        _scope_list(q.groups, f"{where}: groups", "group", p.num_groups)
        _scope_list(q.members, f"{where}: members", "department", MAX_INDEX + 1)
        key = (q.department, q.resource, q.groups, q.members)
        if key in seen:
            raise fail(
                f"{where}: repeats quota {seen[key]} for department {q.department}, "
                f"resource {p.resources[q.resource]} with the same groups and members"
            )
        seen[key] = i


def _scope_list(values: object, where: str, what: str, limit: int) -> None:
    """An ascending tuple of distinct indices below `limit` (a quota's groups or members)."""
    if not isinstance(values, tuple):
        raise fail(f"{where} must be a tuple of {what} indices, got {type(values).__name__}")
    if not ints_ok(values, 0, limit - 1):
        for value in values:
            if not int_ok(value, 0, limit - 1):
                shown = repr(value)[:20]
                raise fail(f"{where}: {what} {shown} does not exist ({limit} {what}s)")
    for a, b in pairwise(values):
        if a >= b:
            raise fail(f"{where} must be ascending without repeats, got {a} before {b}")


def check_services(p: Problem) -> None:
    services = as_tuple(p.services, "services")
    keys = len(p.domain_keys) if p.domain_keys else 0
    for s, svc in enumerate(services):
        where = f"service {s}"
        if not isinstance(svc, Service):
            raise fail(f"{where}: must be a Service, got {type(svc).__name__}")
        members = svc.jobs
        if not isinstance(members, tuple):
            raise fail(f"{where}: jobs must be a tuple")
        if not ints_ok(members, 0, p.num_jobs - 1):
            for job in members:
                if not int_ok(job, 0, p.num_jobs - 1):
                    raise fail(f"{where}: member job {job!r} does not exist ({p.num_jobs} jobs)")
        if len(set(members)) != len(members):
            raise fail(f"{where}: a member job is listed twice")
        if type(svc.anti_affinity) is not bool:
            raise fail(f"{where}: anti_affinity must be a bool")
        if not int_ok(svc.spread_key, -1, keys - 1):
            raise fail(f"{where}: spread_key {svc.spread_key!r} does not exist ({keys} keys)")
        check_int(svc.spread_min, f"{where}: spread_min", 0, MAX_TOTAL_REPLICAS)
        if svc.spread_key < 0 and svc.spread_min:
            raise fail(f"{where}: spread_min {svc.spread_min} needs a spread_key")
        deps = svc.depends_on
        if not isinstance(deps, tuple):
            raise fail(f"{where}: depends_on must be a tuple of service indices")
        for t in deps:
            check_index(t, where, "depends_on service", len(services))
            if t == s:
                raise fail(f"{where}: depends on itself")
        if len(set(deps)) != len(deps):
            raise fail(f"{where}: depends_on lists a service twice")
        if not int_ok(svc.affinity_key, -1, keys - 1):
            raise fail(f"{where}: affinity_key {svc.affinity_key!r} does not exist ({keys} keys)")
        if deps and svc.affinity_key < 0:
            raise fail(f"{where}: depends_on needs an affinity_key")


def check_balances(p: Problem) -> None:
    for b, bal in enumerate(as_tuple(p.balances, "balances")):
        where = f"balance {b}"
        if not isinstance(bal, Balance):
            raise fail(f"{where}: must be a Balance, got {type(bal).__name__}")
        check_index(bal.r1, where, "resource", p.num_resources)
        check_index(bal.r2, where, "resource", p.num_resources)
        check_int(bal.target, f"{where}: target", 0, MAX_WEIGHT)
        check_int(bal.weight, f"{where}: weight", 0, MAX_WEIGHT)


def check_names(p: Problem) -> None:
    for field, count in (
        ("node_names", p.num_nodes),
        ("group_names", p.num_groups),
        ("job_names", p.num_jobs),
    ):
        names = getattr(p, field)
        if not length(names, count, field, field.split("_")[0], True):
            continue
        for i, name in enumerate(names):
            if not isinstance(name, str):
                raise fail(f"problem: {field}[{i}] must be a string, got {name!r}")
    for i, item in enumerate(as_tuple(p.meta, "meta")):
        if not (
            isinstance(item, tuple)
            and len(item) == 2
            and isinstance(item[0], str)
            and isinstance(item[1], str)
        ):
            raise fail(f"problem: meta[{i}] must be a (str, str) pair, got {item!r}")
