"""Hypothesis strategies: small v2 problems that exercise most families at once."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeVar

from hypothesis import strategies as st

from scheduler.placement.model import Balance, Override, Problem, Quota, Service

WHOLE = 1000
T = TypeVar("T")


@st.composite
def problems(draw: st.DrawFn, max_nodes: int = 4, max_jobs: int = 5) -> Problem:
    """Contended problems: GPU devices, running jobs that may move or be evicted, departments
    with quotas, an anti-affinity or spread service, open costs, the odd required job."""
    gpu = draw(st.booleans())
    nodes = draw(st.integers(1, max_nodes))
    groups = draw(st.integers(1, 2))
    devices = [draw(st.integers(0, 2)) if gpu else 0 for _ in range(nodes)]
    capacity = tuple(
        (draw(st.integers(1, 6)), draw(st.integers(1, 6)), *((WHOLE * d,) if gpu else ()))
        for d in devices
    )
    node_group = tuple(draw(st.integers(0, groups - 1)) for _ in range(nodes))
    width = 3 if gpu else 2
    jobs = draw(st.integers(1, max_jobs))
    eligible: list[tuple[int, ...]] = []
    for _ in range(jobs):
        picks = tuple(n for n in range(nodes) if draw(st.sampled_from([True, True, True, False])))
        eligible.append(picks)
    node_sets = tuple(sorted(set(eligible)))
    replicas = tuple(draw(st.integers(1, 2)) for _ in range(jobs))
    demand = tuple(
        (
            draw(st.integers(0, 3)),
            draw(st.integers(1, 3)),
            *((draw(st.sampled_from([0, 0, 250, 500, WHOLE])),) if gpu else ()),
        )
        for _ in range(jobs)
    )
    current: list[tuple[int, ...] | None] = []
    for j in range(jobs):
        if eligible[j] and draw(st.integers(0, 3)) == 0:
            group = node_group[eligible[j][0]]
            same = [n for n in eligible[j] if node_group[n] == group]
            current.append(tuple(sorted(draw(st.sampled_from(same)) for _ in range(replicas[j]))))
        else:
            current.append(None)
    costs = st.sampled_from([-1, -1, 0, 2, 5])
    departments = tuple(draw(st.sampled_from([-1, 0, 1])) for _ in range(jobs))
    quotas: tuple[Quota, ...] = ()
    if draw(st.booleans()):
        quotas = (Quota(department=0, resource=0, nominal=draw(st.integers(0, 6)), borrow_limit=2),)
    # Issue 9: a parent quota over departments 0 and 1, a quota of one group, jobs that may not
    # preempt, an eviction cap. Running usage may exceed them: then the model must evict.
    if draw(st.booleans()):
        nominal = draw(st.integers(0, 8))
        quotas += (
            Quota(department=2, resource=0, nominal=nominal, borrow_limit=2, members=(0, 1)),
        )
    if groups > 1 and draw(st.booleans()):
        quotas += (Quota(department=1, resource=0, nominal=draw(st.integers(0, 4)), groups=(1,)),)
    may_preempt = tuple(draw(st.booleans()) for _ in range(jobs)) if draw(st.booleans()) else ()
    max_evictions = draw(st.sampled_from([-1, -1, 0, 1]))
    services: tuple[Service, ...] = ()
    if jobs >= 2 and draw(st.booleans()):
        members = tuple(sorted(draw(st.sets(st.integers(0, jobs - 1), min_size=2, max_size=3))))
        services = (
            Service(
                jobs=members,
                anti_affinity=draw(st.booleans()),
                spread_key=0,
                spread_min=draw(st.integers(0, 2)),
            ),
        )
        others = tuple(j for j in range(jobs) if j not in members)
        if len(others) > 0 and draw(st.booleans()):
            services += (Service(jobs=others[:2], depends_on=(0,), affinity_key=0),)
    p = Problem(
        resources=("cpu", "mem", "gpu")[:width],
        node_capacity=capacity,
        node_group=node_group,
        group_cost=tuple(
            tuple(draw(st.integers(0, 3)) for _ in range(width)) for _ in range(groups)
        ),
        node_sets=node_sets,
        job_demand=demand,
        job_replicas=replicas,
        job_priority=tuple(draw(st.sampled_from([0, 0, 1, 5])) for _ in range(jobs)),
        job_order=tuple(draw(st.permutations(range(jobs)))),
        job_nodes=tuple(node_sets.index(e) for e in eligible),
        node_devices=tuple(devices) if gpu else (),
        gpu_resource=2 if gpu else -1,
        node_domains=tuple((n % 2,) for n in range(nodes)),
        domain_keys=("zone",),
        node_open_cost=tuple(draw(st.sampled_from([0, 0, 3])) for _ in range(nodes)),
        job_required=tuple(draw(st.sampled_from([False] * 5 + [True])) for _ in range(jobs)),
        job_current=tuple(current),
        job_move_cost=tuple(draw(costs) for _ in range(jobs)),
        job_preempt_cost=tuple(draw(costs) for _ in range(jobs)),
        job_department=departments,
        job_may_preempt=may_preempt,
        max_evictions=max_evictions,
        quotas=quotas,
        services=services,
        service_move_weight=draw(st.sampled_from([0, 0, 4])),
    )
    return draw(_extras(p))


@st.composite
def _extras(draw: st.DrawFn, p: Problem) -> Problem:
    """The rarer families, each switched on by a coin: reserved usage, node types with demand
    and cost overrides, load above safety, balance, transient resources, node move costs."""
    width, nodes = p.num_resources, p.num_nodes
    changes: dict[str, Any] = {}
    if draw(st.booleans()):
        changes["node_reserved"] = tuple(
            tuple(
                0 if r == p.gpu_resource else draw(st.integers(0, c // 2))
                for r, c in enumerate(row)
            )
            for row in p.node_capacity
        )
    if draw(st.booleans()):
        changes["node_type"] = tuple(n % 2 for n in range(nodes))
        changes["overrides"] = tuple(
            Override(
                job=j,
                node_type=1,
                demand=tuple(
                    d if r == p.gpu_resource else max(0, d - 1) for r, d in enumerate(row)
                ),
                cost=draw(st.sampled_from([None, 0, 7])),
            )
            for j, row in enumerate(p.job_demand)
            if draw(st.booleans())
        )
    if draw(st.booleans()):
        changes["node_safety"] = tuple(tuple(c // 2 for c in row) for row in p.node_capacity)
        changes["load_weight"] = tuple(draw(st.integers(0, 2)) for _ in range(width))
    if draw(st.booleans()):
        changes["balances"] = (Balance(r1=0, r2=1, target=draw(st.integers(1, 2)), weight=1),)
    if draw(st.booleans()):
        changes["transient"] = tuple(draw(st.booleans()) for _ in range(width))
    if draw(st.booleans()):
        changes["node_move_cost"] = tuple(
            tuple(0 if a == b else draw(st.integers(0, 4)) for b in range(nodes))
            for a in range(nodes)
        )
    return replace(p, **changes)


def more_capacity(p: Problem, extra: int) -> Problem:
    """`p` with `extra` more of every plain resource on every node (devices unchanged)."""
    return replace(
        p,
        node_capacity=tuple(
            tuple(c + extra if r != p.gpu_resource else c for r, c in enumerate(row))
            for row in p.node_capacity
        ),
    )


def relabel(p: Problem, order: list[int]) -> Problem:
    """`p` with node `order[i]` renamed i: the same problem under other node indices."""
    new = {old: i for i, old in enumerate(order)}

    def rows(values: tuple[T, ...]) -> tuple[T, ...]:
        return tuple(values[old] for old in order) if values else values

    sets = [tuple(sorted(new[n] for n in s)) for s in p.node_sets]
    return replace(
        p,
        node_capacity=rows(p.node_capacity),
        node_group=rows(p.node_group),
        node_devices=rows(p.node_devices),
        node_domains=rows(p.node_domains),
        node_open_cost=rows(p.node_open_cost),
        node_reserved=rows(p.node_reserved),
        node_type=rows(p.node_type),
        node_safety=rows(p.node_safety),
        node_move_cost=tuple(tuple(p.node_move_cost[a][b] for b in order) for a in order)
        if p.node_move_cost
        else (),
        node_sets=tuple(sets),
        job_current=tuple(
            None if c is None else tuple(sorted(new[n] for n in c)) for c in p.job_current
        ),
    )
