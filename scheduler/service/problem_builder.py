"""Snapshot -> placement Problem (engine v2), and the index maps to read the answer back.

Running jobs enter as jobs with `job_current`, never migratable, preemptible as
scheduler.service.preemption says (a preemptible class, run at least the minimum runtime, an
eviction budget left), and the previous placement is the engine's warm start, so a cycle with little
churn starts from what already runs. Running jobs on a node whose reported capacity shrank
below what runs there enter as `node_reserved` instead, clamped to the capacity: a problem whose
fixed work overfills a node would be infeasible, and nothing could be placed at all.

`gpu_value_weight` (SchedulerSettings) values the GPU above the other resources in the work
term (Problem.resource_value: the GPU at that weight, every other resource at 1), clamped to
the engine's budget of values (validate.MAX_RESOURCE_VALUE).

Money-tier preferences between nodes (a job preferring 信创 clusters, small GPU work packed
onto GPU nodes already in use) are node types and overrides: scheduler.service.node_preference.

Replicas of preempted jobs still stopping hold their nodes' capacity as `node_reserved`: the
room they leave is free only once the agent reports them ended.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scheduler.domain.eligibility import asks_share, cluster_constraint_verdict, node_matches
from scheduler.domain.models import Cluster, Job, JobSpec, Node
from scheduler.domain.resources import (
    CPU,
    NVIDIA_GPU,
    SHARES_PER_DEVICE,
    UNITS_PER_PRICED_UNIT,
    add,
    device_resource,
    fits,
)
from scheduler.placement import MAX_RESOURCE_VALUE, Problem, Solution
from scheduler.service import preemption, reclaim
from scheduler.service.guarantee import class_value
from scheduler.service.node_preference import node_preferences
from scheduler.service.policy import Policy, model_quotas, plan
from scheduler.service.preemption import PreemptionRules
from scheduler.service.reclaim import Reclaim
from scheduler.service.settings import SchedulerSettings
from scheduler.service.snapshot import Snapshot
from scheduler.service.spread import topology_part

# The solver wants integer prices per canonical unit (millicore, MiB, device) per hour.
# Micro-yuan keeps a 0.01 yuan/GiB-hour price at ~10 per MiB.
_MICRO = 1_000_000
_MAX_PRICE = (1 << 30) - 1


@dataclass(frozen=True)
class BuiltProblem:
    problem: Problem | None  # None when no schedulable cluster has a node
    jobs: tuple[Job, ...]  # index j -> queued job; running jobs follow them in the problem
    nodes: tuple[Node, ...]  # index n -> node
    groups: tuple[str, ...]  # index g -> cluster name
    warm_start: Solution | None = None  # the previous placement (running jobs where they run)
    # index len(jobs) + k -> running job k modelled explicitly (the rest is node_reserved)
    running: tuple[Job, ...] = ()
    # Quotas lowered below their use whose excess the engine must evict this cycle.
    reclaims: tuple[Reclaim, ...] = ()


def unit_price(price_per_unit_hour: float, resource: str) -> int:
    """Micro-yuan per canonical unit-hour."""
    scaled = price_per_unit_hour * _MICRO / UNITS_PER_PRICED_UNIT.get(resource, 1)
    return min(_MAX_PRICE, round(scaled))


def _constraint_key(spec: JobSpec) -> tuple[object, ...]:
    c = spec.constraints
    return (
        c.min_security_level,
        tuple(sorted(c.allowed_regions)),
        c.xinchuang_required,
        tuple(sorted(c.node_selector.items())),
        tuple(sorted(c.gpu_models)),
        asks_share(spec),  # nodes running whole devices only take no share (eligibility)
        tuple(sorted(c.tolerations)),
        tuple(sorted(c.clusters)),
        tuple(sorted(c.cluster_selector.items())),
    )


def resource_value(resources: tuple[str, ...], gpu_value_weight: int) -> tuple[int, ...]:
    """The work term's value per resource: () (1 each) unless the GPU is weighted and present;
    else `gpu_value_weight` for the GPU, at most what the budget leaves after 1 for the rest."""
    if gpu_value_weight == 1 or NVIDIA_GPU not in resources:
        return ()
    weight = max(1, min(gpu_value_weight, MAX_RESOURCE_VALUE - (len(resources) - 1)))
    return tuple(weight if r == NVIDIA_GPU else 1 for r in resources)


def build_problem(
    snap: Snapshot,
    gpu_value_weight: int = 1,
    rules: PreemptionRules | None = None,
    policy: Policy | None = None,
    nominated: Mapping[str, Sequence[tuple[str, str]]] | None = None,
    gpu_packing: bool = False,
) -> BuiltProblem:
    """`rules` None: nothing is preempted (every running job stays). `policy`
    (scheduler.service.policy) gives the priorities and quotas; by default the snapshot's with
    the default fair-share half life. `nominated`: queued job id -> the (cluster, node) of each
    replica an earlier cycle placed it on by preempting (AWAITING_PREEMPTION); such a job may
    use only those nodes and starts there in the warm start, so the room its victims freed is
    its own (Kubernetes' nominated node) instead of going to other work while it evicts again
    elsewhere."""
    rules = rules or PreemptionRules()
    if policy is None:
        policy = plan(snap, SchedulerSettings.fair_share_half_life_s, gpu_value_weight)
    groups = tuple(c.name for c in snap.clusters if snap.schedulable(c.name))
    schedulable = set(groups)
    nodes = tuple(n for n in snap.nodes if n.cluster in schedulable)
    jobs = snap.queued
    if not nodes:
        return BuiltProblem(None, jobs, nodes, groups)
    with_nodes = {n.cluster for n in nodes}
    groups = tuple(g for g in groups if g in with_nodes)
    group_index = {name: g for g, name in enumerate(groups)}
    node_index = {(n.cluster, n.name): i for i, n in enumerate(nodes)}
    running, fixed = _split_running(snap, nodes, node_index)
    for key, held in snap.stopping.items():
        if key in node_index:
            fixed[node_index[key]] = add(fixed.get(node_index[key], {}), held)
    every = (*jobs, *(job for job, _ in running))
    names = sorted(
        {r for n in nodes for r in n.capacity} | {r for j in every for r in j.spec.resources}
    )
    resources = tuple(names) or (CPU,)
    capacity = tuple(tuple(n.capacity.get(r, 0) for r in resources) for n in nodes)
    reserved = tuple(
        tuple(min(cap, fixed.get(i, {}).get(r, 0)) for r, cap in zip(resources, caps, strict=True))
        for i, caps in enumerate(capacity)
    )
    gpu, node_devices = _devices(resources, capacity, reserved)
    by_name = {c.name: c for c in snap.clusters}
    node_sets, job_nodes = _node_sets(jobs, nodes, [by_name[g] for g in groups])
    index = {members: k for k, members in enumerate(node_sets)}
    # Spread and anti-affinity (JobSpec.topology): services, and sets narrowed for groups.
    topology = topology_part(snap, jobs, nodes, index, job_nodes)
    node_sets, job_nodes = tuple(index), topology.job_nodes
    hint: list[tuple[int, ...] | None] = [None] * len(jobs)
    required = [False] * len(jobs)
    if nominated:
        sets = list(job_nodes)
        for j, job in enumerate(jobs):
            keys = nominated.get(job.job_id)
            if not keys or len(keys) != job.spec.replicas or any(k not in node_index for k in keys):
                continue
            chosen = tuple(sorted(node_index[key] for key in keys))
            if set(chosen) <= set(node_sets[sets[j]]):
                sets[j] = index.setdefault(tuple(sorted(set(chosen))), len(index))
                hint[j] = chosen
                # Its victims gone, the room is free: it must be placed there (a job the
                # objective prefers may not take the room it preempted for). While they still
                # stop, if other work took it after all, or if it borrows (its quota's limit
                # may have shrunk since), it only may.
                required[j] = job.job_id in policy.within and _room_free(snap, nodes, keys, job)
        job_nodes = tuple(sets)
    current = [tuple(sorted(node_index[key] for key in keys)) for _, keys in running]
    for members in current:
        job_nodes = (*job_nodes, index.setdefault(tuple(sorted(set(members))), len(index)))
    group_cost = tuple(
        tuple(unit_price(by_name[g].spec.price.get(r, 0.0), r) for r in resources) for g in groups
    )
    job_demand = tuple(tuple(j.spec.resources.get(r, 0) for r in resources) for j in every)
    job_replicas = (*(j.spec.replicas for j in jobs), *(len(c) for c in current))
    node_type, overrides = node_preferences(
        jobs, nodes, by_name, group_cost, job_demand, snap.used, gpu_packing, groups
    )
    named = {j.department for j in every} | {m for q in policy.quotas for m in q.members}
    departments = {name: d for d, name in enumerate(sorted(named))}
    offered = [
        preemption.preemptible(job, snap.started.get(job.job_id), snap.now, snap.classes, rules)
        for job, _ in running
    ]
    # Counting only the running jobs the engine sees (those on overfull nodes are reserved).
    reclaims = reclaim.for_cycle(snap, policy, rules, running, offered)
    problem = Problem(
        resources=resources,
        node_capacity=capacity,
        node_reserved=reserved,
        node_group=tuple(group_index[n.cluster] for n in nodes),
        group_cost=group_cost,
        node_sets=tuple(index),
        job_demand=job_demand,
        job_replicas=job_replicas,
        job_priority=tuple(policy.priority.get(j.job_id, j.spec.priority) for j in every),
        job_order=tuple(j.seq for j in every),
        job_nodes=job_nodes,
        job_current=(*(None for _ in jobs), *current),
        job_department=tuple(departments[j.department] for j in every),
        job_preempt_cost=_preempt_costs(
            snap, jobs, [job for job, _ in running], offered, group_cost, job_demand, capacity
        ),
        job_may_preempt=tuple(preemption.may_preempt(j, snap.classes, rules) for j in every),
        job_required=(*required, *(False for _ in running)) if any(required) else (),
        # Within a department the class decides, not the guarantee band or fair share: a job
        # never evicts its own department's work of the same class.
        job_preempt_rank=tuple(max(0, min(1000, class_value(j, snap.classes))) for j in every),
        # Only work within its holder's guarantee takes lent capacity back (Kueue's reclaim):
        # borrowers never evict one another, whatever their fair shares.
        job_may_reclaim=tuple(j.job_id in policy.within for j in every),
        max_evictions=rules.budget,
        node_type=node_type,
        overrides=overrides,
        quotas=model_quotas(
            policy.quotas, departments, resources, groups, {r.key: r.engine_limit for r in reclaims}
        ),
        resource_value=resource_value(resources, gpu_value_weight),
        services=topology.services,
        node_domains=topology.node_domains,
        domain_keys=topology.domain_keys,
        gpu_resource=gpu,
        node_devices=node_devices,
        node_names=tuple(f"{n.cluster}/{n.name}" for n in nodes),
        group_names=groups,
        job_names=tuple(j.job_id for j in every),
    )
    warm = Solution((*hint, *current))
    return BuiltProblem(
        problem, jobs, nodes, groups, warm, tuple(job for job, _ in running), reclaims
    )


def _room_free(
    snap: Snapshot, nodes: Sequence[Node], keys: Sequence[tuple[str, str]], job: Job
) -> bool:
    """Whether every replica of `job` fits on its nominated node next to all that is active
    there now (running, leased and stopping runs)."""
    by_key = {(n.cluster, n.name): n for n in nodes}
    need: dict[tuple[str, str], dict[str, int]] = {}
    for key in keys:
        need[key] = add(need.get(key, {}), job.spec.resources)
    for key, demand in need.items():
        held = add(snap.used.get(key, {}), snap.stopping.get(key, {}))
        if not fits(add(held, demand), by_key[key].capacity):
            return False
    return True


def _preempt_costs(
    snap: Snapshot,
    queued: tuple[Job, ...],
    running: list[Job],
    offered: list[bool],
    group_cost: tuple[tuple[int, ...], ...],
    demand: tuple[tuple[int, ...], ...],
    capacity: tuple[tuple[int, ...], ...],
) -> tuple[int, ...]:
    """-1 for queued jobs and running jobs that stay; a cost in the preemption tier (module
    docstring of scheduler.service.preemption) for those `offered` for eviction."""
    if not any(offered):
        return ()
    # Above the most any one job's placement can cost (each resource at its dearest cluster's
    # price): every eviction costs more. O(jobs x resources), not x clusters.
    dearest = tuple(max(col, default=0) for col in zip(*group_cost, strict=True))
    every = (*queued, *running)
    money_unit = 1 + max(
        job.spec.replicas * sum(d * c for d, c in zip(dem, dearest, strict=True))
        for job, dem in zip(every, demand, strict=True)
    )
    largest = tuple(max(col, default=0) for col in zip(*capacity, strict=True))
    costs = [-1] * len(queued)
    for k, (job, ok) in enumerate(zip(running, offered, strict=True)):
        if not ok:
            costs.append(-1)
            continue
        hours = preemption.runtime_s(snap.started.get(job.job_id), snap.now) / 3600
        j = len(queued) + k
        costs.append(
            preemption.preempt_cost(money_unit, demand[j], job.spec.replicas, largest, hours)
        )
    return tuple(costs)


def _split_running(
    snap: Snapshot, nodes: tuple[Node, ...], node_index: dict[tuple[str, str], int]
) -> tuple[list[tuple[Job, tuple[tuple[str, str], ...]]], dict[int, dict[str, int]]]:
    """Running jobs to model explicitly, and the usage per node to treat as reserved."""
    inside = [(job, keys) for job, keys in snap.running if all(k in node_index for k in keys)]
    load: dict[int, dict[str, int]] = {}
    for job, keys in inside:
        for key in keys:
            i = node_index[key]
            load[i] = add(load.get(i, {}), job.spec.resources)
    over = {i for i, used in load.items() if not fits(used, nodes[i].capacity)}
    explicit = []
    fixed: dict[int, dict[str, int]] = {}
    for job, keys in inside:
        if any(node_index[k] in over for k in keys):
            for key in keys:
                i = node_index[key]
                fixed[i] = add(fixed.get(i, {}), job.spec.resources)
        else:
            explicit.append((job, keys))
    return explicit, fixed


def _node_sets(
    jobs: tuple[Job, ...], nodes: tuple[Node, ...], clusters: list[Cluster]
) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...]]:
    """One shared eligibility set per distinct set of constraints, not one tuple per job."""
    index: dict[tuple[int, ...], int] = {}
    by_key: dict[tuple[object, ...], int] = {}
    job_nodes: list[int] = []
    for job in jobs:
        key = _constraint_key(job.spec)
        if key not in by_key:
            ok = {c.name for c in clusters if cluster_constraint_verdict(job.spec, c) is None}
            members = tuple(
                i for i, n in enumerate(nodes) if n.cluster in ok and node_matches(job.spec, n)
            )
            by_key[key] = index.setdefault(members, len(index))
        job_nodes.append(by_key[key])
    return tuple(index), tuple(job_nodes)


def _devices(
    resources: tuple[str, ...],
    capacity: tuple[tuple[int, ...], ...],
    reserved: tuple[tuple[int, ...], ...],
) -> tuple[int, tuple[int, ...]]:
    """(gpu_resource, node_devices): a node's devices are its whole devices of the packed
    resource (scheduler.domain.resources.device_resource). A node where fixed work holds
    some of them (an overfull node, preempted replicas still stopping) counts them as a plain
    quantity this cycle: reserved usage has no device ids (placement/model/validate.py); the cycle
    still gives the replicas placed there free device ids (cycle_devices) or holds them."""
    name = device_resource(resources)
    if name is None:
        return -1, ()
    g = resources.index(name)
    devices = tuple(
        caps[g] // SHARES_PER_DEVICE if caps[g] % SHARES_PER_DEVICE == 0 and not held[g] else 0
        for caps, held in zip(capacity, reserved, strict=True)
    )
    return (g, devices) if any(devices) else (g, ())
