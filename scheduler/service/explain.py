"""Readable explanations of a cycle's decisions, per job and per cluster."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from scheduler.domain import reasons
from scheduler.domain.cluster_choice import preference_rank
from scheduler.domain.eligibility import (
    MAX_NAMED_CLUSTERS,
    cluster_constraint_verdict,
    node_matches,
    summarize,
    unmatched,
)
from scheduler.domain.models import ClusterVerdict, Job
from scheduler.domain.resources import UNITS_PER_PRICED_UNIT, fmt, shortfall
from scheduler.domain.topology import constrained, gang_verdict
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
        kinds = snap.node_kinds.get(name, ())
        matching = [k for k in kinds if node_matches(job.spec, k.node)]
        if not matching:
            code, message = (
                unmatched(job.spec, [k.node for k in kinds])
                if kinds
                else (reasons.NODE_SELECTOR, "no nodes reported")
            )
            out.append(ClusterVerdict(name, False, code, message))
            continue
        if constrained(job.spec):
            fitting = [
                (k.node, k.count) for k in matching if _replicas_fitting(job, k.node.capacity)
            ]
            if (bad := gang_verdict(job.spec, cluster, fitting)) is not None:
                out.append(bad)
                continue
        replicas = job.spec.replicas
        room = sum(k.count * _replicas_fitting(job, k.node.capacity, k.used) for k in matching)
        ever = sum(k.count * _replicas_fitting(job, k.node.capacity) for k in matching)
        if room >= replicas:
            out.append(ClusterVerdict(name, True, reasons.FITS, f"has room; ¥{cost:.2f}/h"))
        elif ever == 0:
            # The first of the nodes short the least (each kind's node is its first).
            best = min(
                (k.node for k in matching),
                key=lambda n: sum(shortfall(job.spec.resources, n.capacity).values()),
            )
            out.append(
                ClusterVerdict(
                    name,
                    False,
                    reasons.NO_FITTING_NODE,
                    f"can never hold it: no node is large enough for one replica "
                    f"({fmt(job.spec.resources)}); {best.name} is short "
                    f"{fmt(shortfall(job.spec.resources, best.capacity))}",
                )
            )
        elif ever < replicas:
            out.append(
                ClusterVerdict(
                    name,
                    False,
                    reasons.GANG_INCOMPLETE,
                    f"can never hold the gang: its nodes hold at most {ever} of {replicas} "
                    "replicas even when empty",
                )
            )
        else:
            out.append(
                ClusterVerdict(
                    name,
                    True,
                    reasons.INSUFFICIENT_CAPACITY,
                    f"room for {room} of {replicas} replicas now (all fit once running work "
                    f"ends); ¥{cost:.2f}/h",
                )
            )
    return tuple(out)


# Verdicts that rule a cluster out for the job whatever the cluster's state.
_CONSTRAINT_FAILURES = frozenset(
    {reasons.SECURITY_LEVEL, reasons.REGION, reasons.XINCHUANG, reasons.CLUSTER_AFFINITY}
)


def stuck(clusters: Sequence[ClusterVerdict]) -> tuple[str, str] | None:
    """(reason, message) for a queued job that no available cluster could take whatever the
    load: every cluster meeting its constraints is cordoned, draining or lost, or none is
    registered any more. None when some cluster is merely busy (the solver's word stands)."""
    candidates = [v for v in clusters if v.reason not in _CONSTRAINT_FAILURES]
    if not candidates:
        ruled_out = summarize(clusters)
        return (
            reasons.NO_ELIGIBLE_CLUSTER,
            "no registered cluster meets its constraints any more: the clusters it was "
            "accepted for have been deregistered" + (f" ({ruled_out})" if ruled_out else ""),
        )
    if all(v.reason == reasons.NOT_SCHEDULABLE for v in candidates):
        states = ", ".join(
            f"{v.cluster} is {v.message.removeprefix('cluster is ')}"
            for v in candidates[:MAX_NAMED_CLUSTERS]
        )
        if len(candidates) > MAX_NAMED_CLUSTERS:
            states += f" and {len(candidates) - MAX_NAMED_CLUSTERS} more"
        return (
            reasons.CLUSTERS_UNAVAILABLE,
            f"every cluster that meets its constraints is unavailable ({states}); it stays "
            "queued until one is uncordoned or its agent syncs again",
        )
    return None


def _replicas_fitting(
    job: Job, capacity: Mapping[str, int], used: Mapping[str, int] | None = None
) -> int:
    """How many replicas of `job` fit in a node's free room (all of it when `used` is None)."""
    used = used or {}
    count = max(0, job.spec.replicas)
    for r, q in job.spec.resources.items():
        # Resources the node does not report are free 0 whatever runs there.
        free = capacity[r] - used.get(r, 0) if r in capacity else 0
        if q > 0:
            count = min(count, max(0, free // q))
        elif free < q:
            return 0
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
    blocked = summarize([v for v in clusters if v.reason != reasons.FITS])
    return f"{detail} ({blocked})" if blocked and blocked not in detail else detail


def xinchuang_overruled(
    job: Job, cluster: str, snap: Snapshot, clusters: Sequence[ClusterVerdict]
) -> str:
    """For a job preferring 信创 placed on `cluster`: why the preference lost ("" if it won)."""
    by_name = {c.name: c for c in snap.clusters}
    if not job.spec.constraints.xinchuang_preferred or by_name[cluster].spec.xinchuang:
        return ""
    domestic = [v for v in clusters if by_name[v.cluster].spec.xinchuang]
    if not domestic:
        return "信创 preferred but overruled: no 信创 cluster is registered"
    roomy = [v.cluster for v in domestic if v.reason == reasons.FITS]
    if roomy:
        return (
            "信创 preferred but overruled: the room on "
            f"{', '.join(roomy[:MAX_NAMED_CLUSTERS])} went to other work this cycle"
        )
    why = "; ".join(f"{v.cluster}: {v.message}" for v in domestic[:MAX_NAMED_CLUSTERS])
    return f"信创 preferred but overruled: no eligible 信创 capacity free ({why})"


def cluster_preference_overruled(job: Job, cluster: str, clusters: Sequence[ClusterVerdict]) -> str:
    """For a job with preferred_clusters placed on `cluster`: why the clusters it preferred
    to it lost ("" when it got its first choice)."""
    preferred = job.spec.constraints.preferred_clusters
    if not preferred or cluster == preferred[0]:
        return ""
    better = preferred[: preference_rank(job.spec, cluster)]
    by_name = {v.cluster: v for v in clusters}
    why = []
    for name in better[:MAX_NAMED_CLUSTERS]:
        v = by_name.get(name)
        if v is None:
            why.append(f"{name}: not registered")
        elif v.reason == reasons.FITS:
            why.append(f"{name}: its room went to other work this cycle")
        else:
            why.append(f"{name}: {v.message}")
    return f"cluster preference {', '.join(preferred)} overruled: {'; '.join(why)}"


def preference_notes(
    job: Job, cluster: str, snap: Snapshot, clusters: Sequence[ClusterVerdict]
) -> str:
    """What a placed job's message adds about its preferences that lost ("" if none did)."""
    notes = (
        xinchuang_overruled(job, cluster, snap, clusters),
        cluster_preference_overruled(job, cluster, clusters),
    )
    return "; ".join(n for n in notes if n)
