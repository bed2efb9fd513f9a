"""Readable explanations of a cycle's decisions, per job and per cluster."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from scheduler.domain import reasons
from scheduler.domain.eligibility import cluster_constraint_verdict, node_matches
from scheduler.domain.models import ClusterVerdict, Job, Node
from scheduler.domain.resources import UNITS_PER_PRICED_UNIT, fits
from scheduler.service.snapshot import Snapshot

# Solver reason codes -> the API's job reason codes.
SOLVER_REASONS = {
    "NO_ELIGIBLE_NODE": reasons.NO_ELIGIBLE_CLUSTER,
    "NO_FITTING_NODE": reasons.NO_FITTING_NODE,
    "GANG_INCOMPLETE": reasons.GANG_INCOMPLETE,
    "INSUFFICIENT_CAPACITY": reasons.INSUFFICIENT_CAPACITY,
    "OUTRANKED": reasons.OUTRANKED,
    "QUOTA_EXHAUSTED": reasons.QUOTA_EXHAUSTED,
}


def hourly_cost(job: Job, price: Mapping[str, float]) -> float:
    """Yuan per hour of the whole gang at the cluster's prices."""
    per_replica = 0.0
    for name, qty in job.spec.resources.items():
        per_replica += price.get(name, 0.0) * qty / UNITS_PER_PRICED_UNIT.get(name, 1)
    return per_replica * job.spec.replicas


def verdicts(snap: Snapshot, job: Job, chosen: str = "") -> tuple[ClusterVerdict, ...]:
    """One verdict per registered cluster, as seen at the start of the cycle."""
    out: list[ClusterVerdict] = []
    for cluster in snap.clusters:
        name = cluster.name
        cost = hourly_cost(job, cluster.spec.price)
        if name == chosen:
            out.append(ClusterVerdict(name, True, reasons.CHOSEN, f"chosen; ¥{cost:.2f}/h"))
            continue
        bad = cluster_constraint_verdict(job.spec, cluster)
        if bad is not None:
            out.append(bad)
            continue
        state = snap.states[name]
        if not state.schedulable:
            out.append(
                ClusterVerdict(
                    name, False, reasons.NOT_SCHEDULABLE, f"cluster is {state.value.lower()}"
                )
            )
            continue
        nodes = [n for n in snap.nodes if n.cluster == name]
        matching = [n for n in nodes if node_matches(job.spec, n)]
        if not matching:
            out.append(
                ClusterVerdict(
                    name,
                    False,
                    reasons.NODE_SELECTOR,
                    "no node matches the node selector" if nodes else "no nodes reported",
                )
            )
            continue
        room = sum(_replicas_fitting(job, snap, n) for n in matching)
        if room >= job.spec.replicas:
            out.append(ClusterVerdict(name, True, reasons.FITS, f"has room; ¥{cost:.2f}/h"))
        else:
            out.append(
                ClusterVerdict(
                    name,
                    True,
                    reasons.INSUFFICIENT_CAPACITY,
                    f"room for {room} of {job.spec.replicas} replicas now; ¥{cost:.2f}/h",
                )
            )
    return tuple(out)


def _replicas_fitting(job: Job, snap: Snapshot, node: Node) -> int:
    used = snap.used.get((node.cluster, node.name), {})
    free = {r: node.capacity.get(r, 0) - used.get(r, 0) for r in node.capacity}
    count = 0
    while count < job.spec.replicas and fits(job.spec.resources, free):
        for r, q in job.spec.resources.items():
            free[r] = free.get(r, 0) - q
        count += 1
    return count


def placed_message(
    job: Job, cluster: str, nodes: Sequence[str], clusters: Sequence[ClusterVerdict]
) -> str:
    others = [v for v in clusters if v.cluster != cluster]
    fitting = [v for v in others if v.reason == reasons.FITS]
    chosen = next((v for v in clusters if v.cluster == cluster), None)
    where = f"placed on {cluster} ({', '.join(sorted(set(nodes)))})"
    if chosen is not None:
        where += f" at {chosen.message.removeprefix('chosen; ')}"
    if not others:
        return where + "; the only registered cluster"
    if not fitting:
        return where + "; no other cluster could take it now"
    alternatives = ", ".join(
        f"{v.cluster} {v.message.removeprefix('has room; ')}" for v in fitting[:3]
    )
    return where + f"; best objective among clusters with room (also fits: {alternatives})"


def unplaced_message(detail: str, clusters: Sequence[ClusterVerdict]) -> str:
    blocked = "; ".join(f"{v.cluster}: {v.message}" for v in clusters if v.reason != reasons.FITS)
    return f"{detail} ({blocked})" if blocked and blocked not in detail else detail
