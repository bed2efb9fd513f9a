"""The independent checker of engine v2: every violation of model/problem.py's constraints,
readable.

The referee of every engine, baseline, test and benchmark. It reads only the problem and the
answer, imports no OR-Tools (not even indirectly) and shares nothing with the engines, so a
misreading in an engine cannot hide itself. Written for clarity first; it still checks a
100,000-job answer in a few seconds.

Conventions for `Solution.devices` that model/problem.py leaves open, fixed here:
- `devices` is () (no device ids at all) or has one entry per job;
- `devices[j]` is None when no replica of job j needs devices (j unplaced, or every replica on
  nodes without devices or with no GPU demand there); otherwise one tuple of device ids per
  replica, () for a replica that needs none, one id for a share, q/1000 distinct ids for q whole;
- a running job's device ids are not part of the problem, so they are free to choose.

Preemption (model/problem.py, "Running work"): evicting a running job j (preemptible, left unplaced)
is justified when (a) some job k with a rank above j's (job_preempt_rank, default the
priority) has a replica that this answer newly puts on one of j's current nodes (k has more
replicas on that node than it had before), k may preempt and k is of j's department -- the
last two only when both have a department -- or (b) a quota covering j (j's department a
member, one of j's current nodes in its groups, its resource demanded by j there) is above
nominal in the current state (before this decision, the running jobs it counts use more than
its nominal), and either such a newly arrived k that may reclaim (job_may_reclaim, default
True) is of a department outside the quota's members (or has none), or those running jobs use
more than nominal + borrow_limit. (c) From
such a quota, the evicted jobs' charges sum to at most its excess over nominal plus the
largest charge of one of its preemptible running jobs. At most `max_evictions` running jobs
may be evicted (-1: any number).

Quotas are read here from their fields directly (members empty = the owner alone, groups empty
= every group), not through the engines' helper, so that a misreading there shows up here.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from scheduler.placement.judges.usage import (
    SHARES_PER_DEVICE,
    Demands,
    device_count,
    node_usage,
    transient_usage,
)
from scheduler.placement.judges.verify_running import Assignment, check_running, quota_usage

if TYPE_CHECKING:
    from scheduler.placement.model.problem import Problem, Solution


def check(p: Problem, s: Solution) -> list[str]:
    """Every violation of `s` as one readable line; an empty list means feasible."""
    errors: list[str] = []
    assignment = _shape(p, s, errors)
    if assignment is None:
        return errors
    demands = Demands(p)
    _gangs(p, assignment, errors)
    _eligibility(p, assignment, errors)
    check_running(p, assignment, demands, errors)
    _required(p, assignment, errors)
    _capacity(p, assignment, demands, errors)
    _devices(p, s, assignment, demands, errors)
    _quotas(p, assignment, demands, errors)
    _services(p, assignment, errors)
    return errors


def _node(p: Problem, n: int) -> str:
    return f"node {p.node_names[n]}" if p.node_names else f"node {n}"


def _job(p: Problem, j: int) -> str:
    return f"job {p.job_names[j]}" if p.job_names else f"job {j}"


# -- shape ---------------------------------------------------------------------------------------


def _shape(p: Problem, s: Solution, errors: list[str]) -> Assignment | None:
    """The assignment with malformed jobs treated as unplaced, or None if it is unusable."""
    if len(s.assignment) != p.num_jobs:
        errors.append(f"assignment has {len(s.assignment)} entries, expected {p.num_jobs}")
        return None
    if s.devices and len(s.devices) != p.num_jobs:
        errors.append(f"devices has {len(s.devices)} entries, expected {p.num_jobs} or 0")
        return None
    clean: list[Sequence[int] | None] = []
    for j, nodes in enumerate(s.assignment):
        if nodes is None:
            clean.append(None)
            continue
        ok = len(nodes) == p.job_replicas[j]
        if not ok:
            errors.append(
                f"{_job(p, j)}: {len(nodes)} replicas placed, expected {p.job_replicas[j]} "
                "(a gang is placed all or none)"
            )
        for i, n in enumerate(nodes):
            if type(n) is not int or not 0 <= n < p.num_nodes:
                errors.append(f"{_job(p, j)}: replica {i} on node {n!r}, which does not exist")
                ok = False
        # A malformed job is reported once and then left out of every other check.
        clean.append(tuple(nodes) if ok else None)
    return clean


# -- placement -----------------------------------------------------------------------------------


def _gangs(p: Problem, assignment: Assignment, errors: list[str]) -> None:
    for j, nodes in enumerate(assignment):
        if nodes is None:
            continue
        groups = sorted({p.node_group[n] for n in nodes})
        if len(groups) > 1:
            errors.append(
                f"{_job(p, j)}: replicas span groups {groups} (a gang stays in one group)"
            )


def _eligibility(p: Problem, assignment: Assignment, errors: list[str]) -> None:
    sets: dict[int, frozenset[int]] = {}
    for j, nodes in enumerate(assignment):
        if nodes is None:
            continue
        index = p.job_nodes[j]
        if index not in sets:
            sets[index] = frozenset(p.node_sets[index])
        eligible = sets[index]
        for i, n in enumerate(nodes):
            if n not in eligible:
                errors.append(
                    f"{_job(p, j)}: replica {i} on {_node(p, n)}, not in its node set {index}"
                )


def _required(p: Problem, assignment: Assignment, errors: list[str]) -> None:
    for j, required in enumerate(p.job_required):
        if required and assignment[j] is None:
            errors.append(f"{_job(p, j)}: required but not placed")


# -- capacity and devices ------------------------------------------------------------------------


def _capacity(p: Problem, assignment: Assignment, demands: Demands, errors: list[str]) -> None:
    used = node_usage(p, demands, assignment)
    held = transient_usage(p, demands, assignment)
    for n, (row, extra, caps) in enumerate(zip(used, held, p.node_capacity, strict=True)):
        for r, cap in enumerate(caps):
            total = row[r] + extra[r]
            if total > cap:
                detail = f" ({extra[r]} of it held by replicas moving away)" if extra[r] else ""
                errors.append(
                    f"{_node(p, n)}: {p.resources[r]} used {total} > capacity {cap}{detail}"
                )


def _devices(
    p: Problem, s: Solution, assignment: Assignment, demands: Demands, errors: list[str]
) -> None:
    gpu = p.gpu_resource
    devices = p.node_devices or (0,) * p.num_nodes
    whole: dict[tuple[int, int], list[str]] = defaultdict(list)  # (node, device) -> owners
    shares: dict[tuple[int, int], int] = defaultdict(int)
    for j, nodes in enumerate(assignment):
        given = s.devices[j] if s.devices else None
        if nodes is None:
            if given is not None:
                errors.append(f"{_job(p, j)}: device ids given for an unplaced job")
            continue
        need = [
            device_count(demands.demand(j, n)[gpu]) if gpu >= 0 and devices[n] else 0 for n in nodes
        ]
        if given is None:
            if any(need):
                errors.append(f"{_job(p, j)}: placed on GPU devices but lists no device ids")
            continue
        if len(given) != len(nodes):
            errors.append(
                f"{_job(p, j)}: device ids for {len(given)} replicas, expected {len(nodes)}"
            )
            continue
        for i, (n, ids, count) in enumerate(zip(nodes, given, need, strict=True)):
            where = f"{_job(p, j)}: replica {i} on {_node(p, n)}"
            if len(ids) != count or len(set(ids)) != len(ids):
                errors.append(f"{where} lists devices {list(ids)}, needs {count} distinct")
                continue
            bad = [d for d in ids if type(d) is not int or not 0 <= d < devices[n]]
            if bad:
                errors.append(f"{where}: devices {bad} do not exist ({devices[n]} devices)")
                continue
            q = demands.demand(j, n)[gpu] if count else 0
            for d in ids:
                if q % SHARES_PER_DEVICE == 0:
                    whole[(n, d)].append(f"{_job(p, j)} replica {i}")
                else:
                    shares[(n, d)] += q
    for (n, d), owners in sorted(whole.items()):
        if len(owners) > 1 or shares.get((n, d), 0):
            errors.append(
                f"{_node(p, n)}: device {d} is taken whole by {', '.join(owners)} "
                "and used by another replica"
            )
    for (n, d), total in sorted(shares.items()):
        if total > SHARES_PER_DEVICE:
            errors.append(f"{_node(p, n)}: device {d} shares sum to {total} > {SHARES_PER_DEVICE}")


# -- quotas and services -------------------------------------------------------------------------


def _quotas(p: Problem, assignment: Assignment, demands: Demands, errors: list[str]) -> None:
    if not p.quotas or not p.job_department:
        return
    usage = quota_usage(p, assignment, demands)
    for q, quota in enumerate(p.quotas):
        limit = quota.nominal + quota.borrow_limit
        if usage[q] > limit:
            scope = f" in groups {list(quota.groups)}" if quota.groups else ""
            members = f" (members {list(quota.members)})" if quota.members else ""
            errors.append(
                f"quota {q} of department {quota.department}{members}{scope}: "
                f"{p.resources[quota.resource]} used {usage[q]} > quota {limit} "
                f"(nominal {quota.nominal} + borrowing {quota.borrow_limit})"
            )


def _services(p: Problem, assignment: Assignment, errors: list[str]) -> None:
    if not p.services:
        return
    # Nodes of the placed replicas of each service, one entry per replica.
    nodes_of = [
        [n for j in svc.jobs if assignment[j] is not None for n in assignment[j] or ()]
        for svc in p.services
    ]
    for s, svc in enumerate(p.services):
        nodes = nodes_of[s]
        if svc.anti_affinity:
            shared = sorted(n for n, c in Counter(nodes).items() if c > 1)
            if shared:
                errors.append(
                    f"service {s}: anti-affinity, but nodes {shared} host several of its replicas"
                )
        if svc.spread_key >= 0 and nodes:
            domains = {p.node_domains[n][svc.spread_key] for n in nodes}
            if len(domains) < svc.spread_min:
                errors.append(
                    f"service {s}: covers {len(domains)} {p.domain_keys[svc.spread_key]} "
                    f"domain(s), needs {svc.spread_min}"
                )
        key = svc.affinity_key
        for t in svc.depends_on:
            if not nodes:
                break
            reachable = {p.node_domains[n][key] for n in nodes_of[t]}
            for j in svc.jobs:
                for i, n in enumerate(assignment[j] or ()):
                    if p.node_domains[n][key] not in reachable:
                        errors.append(
                            f"service {s}: {_job(p, j)} replica {i} on {_node(p, n)} shares no "
                            f"{p.domain_keys[key]} with service {t}, which it depends on"
                        )
