"""The checker's rules for running work (model/problem.py, "Running work"): moves, evictions and why
each one is justified, and the reclaim budgets; see verify.py's docstring for the rules (a, b, c).

Part of the independent checker: plain Python, reads only the problem and the answer.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from scheduler.placement.judges.usage import Demands, moved_apart

if TYPE_CHECKING:
    from scheduler.placement.model.problem import Problem

Assignment = Sequence[Sequence[int] | None]


def _job(p: Problem, j: int) -> str:
    return f"job {p.job_names[j]}" if p.job_names else f"job {j}"


def check_running(p: Problem, assignment: Assignment, demands: Demands, errors: list[str]) -> None:
    if not p.job_current:
        return
    move = p.job_move_cost or (-1,) * p.num_jobs
    preempt = p.job_preempt_cost or (-1,) * p.num_jobs
    usage = quota_usage(p, p.job_current, demands) if p.quotas and p.job_department else []
    above = _above_nominal_now(p, usage)
    arrivals = _arrivals(p, assignment)
    evicted = 0
    for j, current in enumerate(p.job_current):
        if current is None:
            continue
        nodes = assignment[j]
        if nodes is not None:
            gone, came = moved_apart(current, nodes)
            if gone and move[j] < 0:
                errors.append(
                    f"{_job(p, j)}: not migratable but {len(gone)} replica(s) moved "
                    f"(from nodes {gone} to {came})"
                )
            continue
        evicted += 1
        if preempt[j] < 0:
            errors.append(f"{_job(p, j)}: running and not preemptible, but evicted")
            continue
        if not _eviction_justified(p, j, current, arrivals, above, demands):
            errors.append(
                f"{_job(p, j)}: evicted although no higher-priority job that may preempt it "
                "(allowed to, of its department) takes its nodes and no quota covering it is "
                "above nominal"
            )
    if 0 <= p.max_evictions < evicted:
        errors.append(f"problem: {evicted} running jobs evicted > max_evictions {p.max_evictions}")
    _reclaim_budgets(p, assignment, demands, usage, errors)


def _reclaim_budgets(
    p: Problem, assignment: Assignment, demands: Demands, usage: list[int], errors: list[str]
) -> None:
    """Rule c: from a quota above nominal, at most its excess plus its largest preemptible
    running job is evicted. `usage`: quota_usage of the running jobs where they run now."""
    if not p.quotas or not p.job_department:
        return
    preempt = p.job_preempt_cost or (-1,) * p.num_jobs
    largest = {q: 0 for q, quota in enumerate(p.quotas) if usage[q] > quota.nominal}
    if not largest:
        return
    evicted = dict.fromkeys(largest, 0)
    candidates = _quotas_by_department(p)
    group = p.node_group
    for j, current in enumerate(p.job_current):
        if current is None:
            continue
        for q, resource, groups in candidates.get(p.job_department[j], ()):
            if q not in largest:
                continue
            charge = sum(
                demands.demand(j, n)[resource]
                for n in current
                if groups is None or group[n] in groups
            )
            if preempt[j] >= 0:
                largest[q] = max(largest[q], charge)
            if assignment[j] is None:
                evicted[q] += charge
    for q, gone in evicted.items():
        budget = usage[q] - p.quotas[q].nominal + largest[q]
        if gone > budget:
            errors.append(
                f"quota {q}: {gone} of {p.resources[p.quotas[q].resource]} evicted, more than "
                f"its excess over nominal plus its largest job ({budget})"
            )


def _arrivals(p: Problem, assignment: Assignment) -> dict[int, list[int]]:
    """Node -> the jobs newly placed on it (beyond the replicas they had there)."""
    out: dict[int, list[int]] = defaultdict(list)
    for j, nodes in enumerate(assignment):
        if nodes is None:
            continue
        current = p.job_current[j]
        new = Counter(nodes)
        if current is not None:
            new.subtract(current)
        for n, count in new.items():
            if count > 0:
                out[n].append(j)
    return out


def _rank(p: Problem, j: int) -> int:
    return p.job_preempt_rank[j] if p.job_preempt_rank else p.job_priority[j]


def _may_preempt(p: Problem, k: int, j: int) -> bool:
    """Whether job k arriving on a node of running job j justifies evicting j (rule a)."""
    if _rank(p, k) <= _rank(p, j):
        return False
    dk = p.job_department[k] if p.job_department else -1
    dj = p.job_department[j] if p.job_department else -1
    if dk < 0 or dj < 0:
        return True
    allowed = p.job_may_preempt[k] if p.job_may_preempt else True
    return allowed and dk == dj


def _quota_counts(p: Problem, q: int, dept: int, node: int) -> bool:
    """Whether a replica of a job of `dept` on `node` counts against quota q."""
    quota = p.quotas[q]
    members = quota.members or (quota.department,)
    return dept in members and (not quota.groups or p.node_group[node] in quota.groups)


def quota_usage(p: Problem, placement: Assignment, demands: Demands) -> list[int]:
    """Per quota, what the jobs of `placement` count against it."""
    usage = [0] * len(p.quotas)
    # Only the quotas that list a department can count its jobs (a city has ~100 quotas), and
    # per quota the groups as a set: thousands of running replicas are counted per check.
    candidates = _quotas_by_department(p)
    group = p.node_group
    for j, nodes in enumerate(placement):
        if nodes is None:
            continue
        quotas = candidates.get(p.job_department[j])
        if not quotas:
            continue
        for n in nodes:
            demand = demands.demand(j, n)
            g = group[n]
            for q, resource, groups in quotas:
                amount = demand[resource]
                if amount and (groups is None or g in groups):
                    usage[q] += amount
    return usage


def _quotas_by_department(
    p: Problem,
) -> dict[int, list[tuple[int, int, frozenset[int] | None]]]:
    """Department -> (quota, its resource, its groups or None for every group) of each quota
    whose members include it (_quota_counts, prepared once per check)."""
    out: defaultdict[int, list[tuple[int, int, frozenset[int] | None]]] = defaultdict(list)
    for q, quota in enumerate(p.quotas):
        groups = frozenset(quota.groups) if quota.groups else None
        for d in quota.members or (quota.department,):
            out[d].append((q, quota.resource, groups))
    return out


def _above_nominal_now(p: Problem, usage: Sequence[int]) -> dict[int, bool]:
    """Quotas whose running jobs, where they run now, use more than the nominal -> whether
    they also use more than nominal + borrow_limit (a lowered quota). `usage`: quota_usage of
    the running jobs where they run now (empty without quotas or departments)."""
    if not usage:
        return {}
    return {
        q: usage[q] > quota.nominal + quota.borrow_limit
        for q, quota in enumerate(p.quotas)
        if usage[q] > quota.nominal
    }


def _eviction_justified(
    p: Problem,
    j: int,
    current: Sequence[int],
    arrivals: dict[int, list[int]],
    above: dict[int, bool],
    demands: Demands,
) -> bool:
    takers = [k for n in set(current) for k in arrivals.get(n, ())]
    if any(_may_preempt(p, k, j) for k in takers):
        return True
    dept = p.job_department[j] if p.job_department else -1
    if dept < 0:
        return False
    # Rule b: a quota above nominal covers j, and it is over its limit or the room goes to a
    # job from outside its members.
    for q, over_limit in above.items():
        if not any(
            demands.demand(j, n)[p.quotas[q].resource] and _quota_counts(p, q, dept, n)
            for n in current
        ):
            continue
        members = p.quotas[q].members or (p.quotas[q].department,)
        if over_limit or any(
            (p.job_may_reclaim[k] if p.job_may_reclaim else True)
            and (p.job_department[k] if p.job_department else -1) not in members
            for k in takers
        ):
            return True
    return False
