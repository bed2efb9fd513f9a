"""Snapshot -> placement Problem (engine v2), and the index maps to read the answer back.

Running jobs enter as jobs with `job_current` (neither migratable nor preemptible: the API has
no such jobs yet), and the previous placement is the engine's warm start, so a cycle with little
churn starts from what already runs. Running jobs on a node whose reported capacity shrank
below what runs there enter as `node_reserved` instead, clamped to the capacity: a problem whose
fixed work overfills a node would be infeasible, and nothing could be placed at all.

`gpu_value_weight` (SchedulerSettings) values the GPU above the other resources in the work
term (Problem.resource_value: the GPU at that weight, every other resource at 1), clamped to
the engine's budget of values (validate.MAX_RESOURCE_VALUE).
"""

from __future__ import annotations

from dataclasses import dataclass

from scheduler.domain.eligibility import cluster_constraint_verdict, node_matches
from scheduler.domain.models import Cluster, Job, JobSpec, Node
from scheduler.domain.resources import CPU, NVIDIA_GPU, UNITS_PER_PRICED_UNIT, add, fits
from scheduler.placement import Problem, Solution
from scheduler.placement.validate import MAX_RESOURCE_VALUE
from scheduler.service.policy import Policy, model_quotas, plan
from scheduler.service.settings import SchedulerSettings
from scheduler.service.snapshot import Snapshot

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
    )


def resource_value(resources: tuple[str, ...], gpu_value_weight: int) -> tuple[int, ...]:
    """The work term's value per resource: () (1 each) unless the GPU is weighted and present;
    else `gpu_value_weight` for the GPU, at most what the budget leaves after 1 for the rest."""
    if gpu_value_weight == 1 or NVIDIA_GPU not in resources:
        return ()
    weight = max(1, min(gpu_value_weight, MAX_RESOURCE_VALUE - (len(resources) - 1)))
    return tuple(weight if r == NVIDIA_GPU else 1 for r in resources)


def build_problem(
    snap: Snapshot, gpu_value_weight: int = 1, policy: Policy | None = None
) -> BuiltProblem:
    """`policy` (scheduler.service.policy) gives the priorities and quotas; by default the
    snapshot's with the default fair-share half life."""
    if policy is None:
        policy = plan(snap, SchedulerSettings.fair_share_half_life_s, gpu_value_weight)
    groups = tuple(c.name for c in snap.clusters if snap.schedulable(c.name))
    nodes = tuple(n for n in snap.nodes if n.cluster in set(groups))
    jobs = snap.queued
    if not nodes:
        return BuiltProblem(None, jobs, nodes, groups)
    groups = tuple(g for g in groups if any(n.cluster == g for n in nodes))
    group_index = {name: g for g, name in enumerate(groups)}
    node_index = {(n.cluster, n.name): i for i, n in enumerate(nodes)}
    running, fixed = _split_running(snap, nodes, node_index)
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
    by_name = {c.name: c for c in snap.clusters}
    node_sets, job_nodes = _node_sets(jobs, nodes, [by_name[g] for g in groups])
    index = {members: k for k, members in enumerate(node_sets)}
    current = [tuple(sorted(node_index[key] for key in keys)) for _, keys in running]
    for members in current:
        job_nodes = (*job_nodes, index.setdefault(tuple(sorted(set(members))), len(index)))
    named = {j.department for j in every} | {m for q in policy.quotas for m in q.members}
    departments = {name: d for d, name in enumerate(sorted(named))}
    problem = Problem(
        resources=resources,
        node_capacity=capacity,
        node_reserved=reserved,
        node_group=tuple(group_index[n.cluster] for n in nodes),
        group_cost=tuple(
            tuple(unit_price(by_name[g].spec.price.get(r, 0.0), r) for r in resources)
            for g in groups
        ),
        node_sets=tuple(index),
        job_demand=tuple(tuple(j.spec.resources.get(r, 0) for r in resources) for j in every),
        job_replicas=(*(j.spec.replicas for j in jobs), *(len(c) for c in current)),
        job_priority=tuple(policy.priority.get(j.job_id, j.spec.priority) for j in every),
        job_order=tuple(j.seq for j in every),
        job_nodes=job_nodes,
        job_current=(*(None for _ in jobs), *current),
        job_department=tuple(departments[j.department] for j in every),
        quotas=model_quotas(policy.quotas, departments, resources, groups),
        resource_value=resource_value(resources, gpu_value_weight),
        node_names=tuple(f"{n.cluster}/{n.name}" for n in nodes),
        group_names=groups,
        job_names=tuple(j.job_id for j in every),
    )
    warm = Solution((*(None for _ in jobs), *current))
    return BuiltProblem(problem, jobs, nodes, groups, warm)


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
