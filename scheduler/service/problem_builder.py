"""Snapshot -> placement Problem, and the index maps to read the answer back."""

from __future__ import annotations

from dataclasses import dataclass

from scheduler.domain.eligibility import cluster_constraint_verdict, node_matches
from scheduler.domain.models import Job, Node
from scheduler.domain.resources import CPU, UNITS_PER_PRICED_UNIT
from scheduler.placement import Problem
from scheduler.service.snapshot import Snapshot

# The solver wants integer prices per canonical unit (millicore, MiB, device) per hour.
# Micro-yuan keeps a 0.01 yuan/GiB-hour price at ~10 per MiB.
_MICRO = 1_000_000
_MAX_PRICE = (1 << 30) - 1


@dataclass(frozen=True)
class BuiltProblem:
    problem: Problem
    jobs: tuple[Job, ...]  # index j -> job
    nodes: tuple[Node, ...]  # index n -> node
    groups: tuple[str, ...]  # index g -> cluster name


def unit_price(price_per_unit_hour: float, resource: str) -> int:
    """Micro-yuan per canonical unit-hour."""
    scaled = price_per_unit_hour * _MICRO / UNITS_PER_PRICED_UNIT.get(resource, 1)
    return min(_MAX_PRICE, round(scaled))


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
    free = tuple(
        tuple(
            max(0, min(cap, cap - snap.used.get((n.cluster, n.name), {}).get(r, 0)))
            for r, cap in zip(resources, caps, strict=True)
        )
        for n, caps in zip(nodes, capacity, strict=True)
    )
    by_name = {c.name: c for c in snap.clusters}
    group_cost = tuple(
        tuple(unit_price(by_name[g].spec.price.get(r, 0.0), r) for r in resources) for g in groups
    )
    eligible: list[tuple[int, ...]] = []
    for job in jobs:
        ok_groups = {g for g in groups if cluster_constraint_verdict(job.spec, by_name[g]) is None}
        eligible.append(
            tuple(
                i
                for i, n in enumerate(nodes)
                if n.cluster in ok_groups and node_matches(job.spec, n)
            )
        )
    problem = Problem(
        resources=resources,
        node_free=free,
        node_capacity=capacity,
        node_group=tuple(group_index[n.cluster] for n in nodes),
        group_cost=group_cost,
        job_demand=tuple(tuple(j.spec.resources.get(r, 0) for r in resources) for j in jobs),
        job_replicas=tuple(j.spec.replicas for j in jobs),
        job_priority=tuple(j.spec.priority for j in jobs),
        job_order=tuple(j.seq for j in jobs),
        job_eligible=tuple(eligible),
        node_names=tuple(f"{n.cluster}/{n.name}" for n in nodes),
        group_names=groups,
    )
    return BuiltProblem(problem, jobs, nodes, groups)
