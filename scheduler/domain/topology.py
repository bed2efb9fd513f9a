"""Zones, spread and anti-affinity (JobSpec.topology): the rules every caller shares.

A node's zone is its `topology.kubernetes.io/zone` label (the Kubernetes agent reports it, a
node file may set it), else its cluster's registered zone (ClusterSpec.zone); a node with
neither has none and takes no job that spreads over zones. A job's replicas stay in one
cluster (the solver places a gang in one cluster group), so a job spreading its own replicas
needs one cluster whose nodes span its zones; a `spread_group` spreads over clusters too.
"""

from __future__ import annotations

from collections.abc import Sequence

from scheduler.domain import reasons
from scheduler.domain.models import Cluster, ClusterVerdict, JobSpec, Node

ZONE_LABEL = "topology.kubernetes.io/zone"
MAX_SPREAD_ZONES = 32
MAX_SPREAD_GROUP_LEN = 63
# Zones named in one message (messages are stored and sent with every submit result).
MAX_NAMED_ZONES = 5


def node_zone(node: Node, cluster_zone: str) -> str:
    """The node's zone, "" when it has none."""
    return node.labels.get(ZONE_LABEL) or cluster_zone


def constrained(spec: JobSpec) -> bool:
    """Whether the job's topology constrains placement at all."""
    t = spec.topology
    return t.spreads or (t.anti_affinity and (spec.replicas > 1 or bool(t.spread_group)))


def gang_spreads(spec: JobSpec) -> bool:
    """Whether the job's own replicas must cover spread_zones zones (no group)."""
    return spec.topology.spreads and not spec.topology.spread_group


def gang_verdict(
    spec: JobSpec, cluster: Cluster, candidates: Sequence[tuple[Node, int]]
) -> ClusterVerdict | None:
    """SPREAD or ANTI_AFFINITY when the cluster can never hold the gang as its topology asks,
    else None. `candidates`: the cluster's nodes that could ever hold one replica (meeting
    every other constraint), each with how many nodes like it there are."""
    t = spec.topology
    if gang_spreads(spec):
        zones = sorted({z for n, _ in candidates if (z := node_zone(n, cluster.spec.zone))})
        if len(zones) < t.spread_zones:
            return ClusterVerdict(
                cluster.name,
                False,
                reasons.SPREAD,
                f"can never hold the gang across {t.spread_zones} zones: its eligible nodes "
                f"are in {zone_list(zones)} (a gang stays in one cluster)",
            )
    if t.anti_affinity and spec.replicas > 1:
        count = sum(c for _, c in candidates)
        if count < spec.replicas:
            return ClusterVerdict(
                cluster.name,
                False,
                reasons.ANTI_AFFINITY,
                f"can never hold the gang on distinct nodes: {count} eligible node(s) for "
                f"{spec.replicas} replicas",
            )
    return None


def zone_list(zones: Sequence[str]) -> str:
    """`2 zones (a, b)`, `no zone`; at most MAX_NAMED_ZONES named."""
    if not zones:
        return "no zone"
    shown = ", ".join(zones[:MAX_NAMED_ZONES])
    if len(zones) > MAX_NAMED_ZONES:
        shown += f" and {len(zones) - MAX_NAMED_ZONES} more"
    return f"{len(zones)} zone{'s' if len(zones) != 1 else ''} ({shown})"
