"""Small random engine-v2 problems with every feature, for property tests.

The running jobs form a feasible current state (capacity, devices, quotas, services), so an
answer that keeps them can be feasible; everything else is random and contended.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

from scheduler.placement import devices
from scheduler.placement.judges.verify import check
from scheduler.placement.model import Balance, Override, Problem, Quota, Service, Solution

GPU_DEMANDS = (0, 0, 0, 250, 500, 700, 1000, 2000)


def random_problem(seed: int) -> Problem:
    """A problem of up to 6 nodes in up to 3 groups and 8 jobs, GPUs, services and quotas."""
    rng = random.Random(seed)
    nodes = rng.randint(1, 6)
    groups = rng.randint(1, min(3, nodes))
    group_of = [rng.randrange(groups) for _ in range(nodes)]
    node_devices = [rng.choice((0, 0, 1, 2, 4)) for _ in range(nodes)]
    capacity = [
        (rng.randint(2, 12), 1000 * d if d else rng.choice((0, 0, 1500))) for d in node_devices
    ]
    reserved = [
        (rng.randint(0, c[0] // 3), 0 if d else rng.randint(0, c[1] // 4))
        for c, d in zip(capacity, node_devices, strict=True)
    ]
    types = [rng.randrange(2) for _ in range(nodes)]
    jobs = rng.randint(1, 8)
    demand = [(rng.randint(0, 4), rng.choice(GPU_DEMANDS)) for _ in range(jobs)]
    replicas = [rng.choice((1, 1, 1, 2, 3)) for _ in range(jobs)]
    sets = sorted({tuple(n for n in range(nodes) if rng.random() < 0.8) for _ in range(3)})
    job_nodes = [rng.randrange(len(sets)) for _ in range(jobs)]
    overrides = tuple(
        Override(
            job=j,
            node_type=1,
            demand=(rng.randint(0, 4), rng.choice(GPU_DEMANDS)) if rng.random() < 0.5 else None,
            cost=rng.randint(0, 9) if rng.random() < 0.5 else None,
        )
        for j in range(jobs)
        if rng.random() < 0.3
    )
    departments = [rng.randrange(-1, 3) for _ in range(jobs)]
    zones = [rng.randrange(2) for _ in range(nodes)]
    racks = [rng.randrange(3) for _ in range(nodes)]
    base = Problem(
        resources=("cpu", "gpu"),
        node_capacity=tuple(capacity),
        node_group=tuple(group_of),
        group_cost=tuple((rng.randint(0, 3), rng.randint(0, 3)) for _ in range(groups)),
        node_sets=tuple(sets),
        job_demand=tuple(demand),
        job_replicas=tuple(replicas),
        job_priority=tuple(rng.choice((0, 1, 5, 1000)) for _ in range(jobs)),
        job_order=tuple(rng.sample(range(100), jobs)),
        job_nodes=tuple(job_nodes),
        node_reserved=tuple(reserved),
        node_type=tuple(types),
        node_domains=tuple(zip(zones, racks, strict=True)),
        domain_keys=("zone", "rack"),
        node_devices=tuple(node_devices),
        gpu_resource=1,
        node_open_cost=tuple(rng.randint(0, 5) for _ in range(nodes)),
        load_weight=(1, 0),
        transient=(rng.random() < 0.5, False),
        balances=(Balance(r1=0, r2=1, target=1, weight=1),),
        overrides=overrides,
        job_move_cost=tuple(rng.choice((-1, 0, 3)) for _ in range(jobs)),
        job_preempt_cost=tuple(rng.choice((-1, 2)) for _ in range(jobs)),
        job_department=tuple(departments),
        services=_services(rng, jobs),
        service_move_weight=rng.randint(0, 3),
    )
    current = _current_state(rng, base)
    running = [j for j, cur in enumerate(current) if cur is not None]
    required = tuple(j in running and rng.random() < 0.5 for j in range(jobs))
    return _with_quotas(rng, replace(base, job_current=tuple(current), job_required=required))


def _services(rng: random.Random, jobs: int) -> tuple[Service, ...]:
    services: list[Service] = []
    for s in range(rng.randint(0, 3)):
        members = tuple(sorted(rng.sample(range(jobs), rng.randint(1, min(3, jobs)))))
        depends = (rng.randrange(s),) if s and rng.random() < 0.4 else ()
        spread = rng.random() < 0.4
        services.append(
            Service(
                jobs=members,
                anti_affinity=rng.random() < 0.5,
                spread_key=0 if spread else -1,
                spread_min=rng.randint(1, 2) if spread else 0,
                depends_on=depends,
                affinity_key=1 if depends else -1,
            )
        )
    return tuple(services)


def _current_state(rng: random.Random, p: Problem) -> list[tuple[int, ...] | None]:
    """Some jobs running on eligible nodes, dropping any that would make the state infeasible."""
    current: list[tuple[int, ...] | None] = [None] * p.num_jobs
    for j in range(p.num_jobs):
        eligible = p.node_sets[p.job_nodes[j]]
        if eligible and rng.random() < 0.4:
            group = p.node_group[rng.choice(eligible)]
            pool = [n for n in eligible if p.node_group[n] == group]
            current[j] = tuple(rng.choice(pool) for _ in range(p.job_replicas[j]))
    # Drop running jobs until the state that keeps them all is feasible. Device ids come from
    # the same packing the baselines use, whole devices first, then shares largest first.
    while True:
        state = replace(p, job_current=tuple(current))
        solution = Solution(tuple(current), _pack_devices(state, current))
        errors = check(state, solution)
        if not errors:
            return current
        running = [j for j, cur in enumerate(current) if cur is not None]
        current[rng.choice(running)] = None


def _pack_devices(
    p: Problem, current: list[tuple[int, ...] | None]
) -> tuple[tuple[tuple[int, ...], ...] | None, ...]:
    used = [[0] * d for d in p.node_devices]
    types = p.node_type
    out: list[tuple[tuple[int, ...], ...] | None] = [None] * p.num_jobs
    over = {(o.job, o.node_type): o.demand for o in p.overrides if o.demand is not None}

    def gpu(j: int, n: int) -> int:
        return (over.get((j, types[n])) or p.job_demand[j])[1]

    def order(j: int) -> tuple[bool, int]:
        q = p.job_demand[j][1]
        return (not devices.is_whole(q), -q)

    for j in sorted((j for j, c in enumerate(current) if c is not None), key=order):
        ids = []
        for n in current[j] or ():
            q = gpu(j, n)
            picked = devices.pick(used[n], q) if used[n] and q else ()
            if picked is None:
                picked = (0,)  # unpackable: the checker rejects it and the job is dropped
            else:
                devices.take(used[n], picked, q)
            ids.append(picked)
        if any(ids):
            out[j] = tuple(ids)
    return tuple(out)


def _with_quotas(rng: random.Random, p: Problem) -> Problem:
    """Quotas for departments 0 and 1 that the running jobs fit but the queue contends for."""
    usage: Counter[tuple[int, int]] = Counter()
    over = {(o.job, o.node_type): o.demand for o in p.overrides if o.demand is not None}
    for j, cur in enumerate(p.job_current):
        for n in cur or ():
            for r, d in enumerate(over.get((j, p.node_type[n])) or p.job_demand[j]):
                usage[(p.job_department[j], r)] += d
    quotas = []
    for dept in (0, 1):
        for r in range(2):
            if rng.random() < 0.5:
                nominal = rng.randint(0, 6) * (1 if r == 0 else 500)
                borrow = max(0, usage[(dept, r)] - nominal) + rng.randint(0, 3)
                quotas.append(
                    Quota(department=dept, resource=r, nominal=nominal, borrow_limit=borrow)
                )
    return _with_governance(rng, replace(p, quotas=tuple(quotas)))


def _with_governance(rng: random.Random, p: Problem) -> Problem:
    """Issue 9's rules on top (drawn after everything else, so older draws keep their values):
    a parent quota over departments 0-2, a quota scoped to group 0, jobs that may not preempt,
    an eviction cap. The running jobs still fit every quota."""
    quotas = list(p.quotas)
    if rng.random() < 0.3:
        quotas.append(
            _scoped(rng, p, Quota(department=3, resource=0, nominal=0, members=(0, 1, 2)))
        )
    if p.num_groups > 1 and rng.random() < 0.3:
        quotas.append(
            _scoped(rng, p, Quota(department=rng.randrange(3), resource=0, nominal=0, groups=(0,)))
        )
    may_preempt = tuple(rng.random() < 0.7 for _ in range(p.num_jobs)) if rng.random() < 0.3 else ()
    cap = rng.choice((-1, -1, -1, 0, 1))
    return replace(p, quotas=tuple(quotas), job_may_preempt=may_preempt, max_evictions=cap)


def _scoped(rng: random.Random, p: Problem, q: Quota) -> Quota:
    """`q` with a random nominal and a borrowing limit the running jobs fit."""
    over = {(o.job, o.node_type): o.demand for o in p.overrides if o.demand is not None}
    members = q.member_departments()
    used = 0
    for j, cur in enumerate(p.job_current):
        if p.job_department[j] not in members:
            continue
        for n in cur or ():
            if not q.groups or p.node_group[n] in q.groups:
                used += (over.get((j, p.node_type[n])) or p.job_demand[j])[q.resource]
    nominal = rng.randint(0, 8)
    return replace(q, nominal=nominal, borrow_limit=max(0, used - nominal) + rng.randint(0, 3))
