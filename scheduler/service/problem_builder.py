"""Snapshot -> placement Problem (engine v2), and the index maps to read the answer back.

Running work enters as `node_reserved`: it stays where it is (the API has no migratable or
preemptible jobs yet), so each cycle solves only the queued jobs on top of the previous
placement, and a capacity report that shrank under running work can never make the problem
infeasible.
"""

from __future__ import annotations

from dataclasses import dataclass

from scheduler.domain.eligibility import cluster_constraint_verdict, node_matches
from scheduler.domain.models import Cluster, Job, JobSpec, Node
from scheduler.domain.resources import CPU, UNITS_PER_PRICED_UNIT
from scheduler.placement import Problem
from scheduler.service.snapshot import Snapshot

# The solver wants integer prices per canonical unit (millicore, MiB, device) per hour.
# Micro-yuan keeps a 0.01 yuan/GiB-hour price at ~10 per MiB.
_MICRO = 1_000_000
_MAX_PRICE = (1 << 30) - 1


@dataclass(frozen=True)
class BuiltProblem:
    problem: Problem | None  # None when no schedulable cluster has a node
    jobs: tuple[Job, ...]  # index j -> job
    nodes: tuple[Node, ...]  # index n -> node
    groups: tuple[str, ...]  # index g -> cluster name


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


def build_problem(snap: Snapshot) -> BuiltProblem:
    groups = tuple(c.name for c in snap.clusters if snap.schedulable(c.name))
    group_index = {name: g for g, name in enumerate(groups)}
    nodes = tuple(n for n in snap.nodes if n.cluster in group_index)
    jobs = snap.queued
    names = sorted(
        {r for n in nodes for r in n.capacity} | {r for j in jobs for r in j.spec.resources}
    )
    resources = tuple(names) or (CPU,)
    capacity = tuple(tuple(n.capacity.get(r, 0) for r in resources) for n in nodes)
    reserved = tuple(
        tuple(
            min(cap, snap.used.get((n.cluster, n.name), {}).get(r, 0))
            for r, cap in zip(resources, caps, strict=True)
        )
        for n, caps in zip(nodes, capacity, strict=True)
    )
    if not nodes:
        return BuiltProblem(None, jobs, nodes, groups)
    groups = tuple(g for g in groups if any(n.cluster == g for n in nodes))
    group_index = {name: g for g, name in enumerate(groups)}
    by_name = {c.name: c for c in snap.clusters}
    node_sets, job_nodes = _node_sets(jobs, nodes, [by_name[g] for g in groups])
    departments = {name: d for d, name in enumerate(sorted({j.department for j in jobs}))}
    problem = Problem(
        resources=resources,
        node_capacity=capacity,
        node_reserved=reserved,
        node_group=tuple(group_index[n.cluster] for n in nodes),
        group_cost=tuple(
            tuple(unit_price(by_name[g].spec.price.get(r, 0.0), r) for r in resources)
            for g in groups
        ),
        node_sets=node_sets,
        job_demand=tuple(tuple(j.spec.resources.get(r, 0) for r in resources) for j in jobs),
        job_replicas=tuple(j.spec.replicas for j in jobs),
        job_priority=tuple(j.spec.priority for j in jobs),
        job_order=tuple(j.seq for j in jobs),
        job_nodes=job_nodes,
        job_department=tuple(departments[j.department] for j in jobs),
        node_names=tuple(f"{n.cluster}/{n.name}" for n in nodes),
        group_names=groups,
        job_names=tuple(j.job_id for j in jobs),
    )
    return BuiltProblem(problem, jobs, nodes, groups)


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
