"""Which clusters and nodes may take a job: the constraint vocabulary of the spine.

Pure functions shared by submit-time rejection, the scheduling cycle and ExplainJob, so all three
always agree on what "eligible" means.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from scheduler.domain import reasons
from scheduler.domain.cluster_choice import affinity_verdict
from scheduler.domain.models import Cluster, ClusterVerdict, JobSpec, Node
from scheduler.domain.resources import (
    DEVICE_RESOURCES,
    SHARES_PER_DEVICE,
    fits,
    fmt,
    shortfall,
)
from scheduler.domain.taints import few, untolerated
from scheduler.domain.topology import constrained, gang_verdict, node_zone, zone_list


def cluster_constraint_verdict(spec: JobSpec, cluster: Cluster) -> ClusterVerdict | None:
    """The first cluster-level constraint the cluster violates, or None if it meets them all."""
    c = spec.constraints
    s = cluster.spec
    if s.security_level < c.min_security_level:
        return ClusterVerdict(
            s.name,
            False,
            reasons.SECURITY_LEVEL,
            f"等保 level {s.security_level} < required {c.min_security_level}",
        )
    if c.allowed_regions and s.region not in c.allowed_regions:
        return ClusterVerdict(
            s.name,
            False,
            reasons.REGION,
            f"region {s.region} not in allowed regions {_few(c.allowed_regions)}",
        )
    if c.xinchuang_required and not s.xinchuang:
        return ClusterVerdict(s.name, False, reasons.XINCHUANG, "not 信创 (xinchuang) hardware")
    return affinity_verdict(spec, cluster)


# The node label Constraints.gpu_models is matched against.
GPU_MODEL_LABEL = "gpu.model"
# "false" on nodes whose executor runs whole devices only (the Kubernetes agent sets it).
DEVICE_SHARES_LABEL = "suanchou.io/device-shares"


def asks_share(spec: JobSpec) -> bool:
    """True if the job asks a share of one device (0 < q < 1000 thousandths)."""
    return any(0 < spec.resources.get(name, 0) < SHARES_PER_DEVICE for name in DEVICE_RESOURCES)


def _takes_shares(node: Node) -> bool:
    return node.labels.get(DEVICE_SHARES_LABEL) != "false"


def node_matches(spec: JobSpec, node: Node) -> bool:
    """Labels (selector, GPU model, device shares) and taints: may a replica go there?"""
    return _labels_match(spec, node) and not (
        node.taints and untolerated(spec.constraints.tolerations, node.taints)
    )


def _labels_match(spec: JobSpec, node: Node) -> bool:
    c = spec.constraints
    if c.gpu_models and node.labels.get(GPU_MODEL_LABEL) not in c.gpu_models:
        return False
    if not _takes_shares(node) and asks_share(spec):
        return False
    return all(node.labels.get(k) == v for k, v in c.node_selector.items())


def node_could_ever_fit(spec: JobSpec, node: Node) -> bool:
    """True if one replica fits the node when the node is empty."""
    return node_matches(spec, node) and fits(spec.resources, node.capacity)


def static_verdict(spec: JobSpec, cluster: Cluster, nodes: Sequence[Node]) -> ClusterVerdict:
    """Could this cluster ever run one replica of the job, ignoring current load and state?

    A cluster whose agent has not reported nodes yet is given the benefit of the doubt.
    """
    bad = cluster_constraint_verdict(spec, cluster)
    if bad is not None:
        return bad
    if not nodes:
        return ClusterVerdict(cluster.name, True, reasons.NO_NODES, "no nodes reported yet")
    matching = [n for n in nodes if node_matches(spec, n)]
    if not matching:
        code, message = unmatched(spec, nodes)
        return ClusterVerdict(cluster.name, False, code, message)
    if not any(fits(spec.resources, n.capacity) for n in matching):
        best = max(matching, key=lambda n: -sum(shortfall(spec.resources, n.capacity).values()))
        return ClusterVerdict(
            cluster.name,
            False,
            reasons.NO_FITTING_NODE,
            f"no node is large enough for one replica ({fmt(spec.resources)}); "
            f"largest gap on {best.name}: short {fmt(shortfall(spec.resources, best.capacity))}",
        )
    return ClusterVerdict(cluster.name, True, reasons.FITS, "meets every constraint")


def unmatched(spec: JobSpec, nodes: Sequence[Node]) -> tuple[str, str]:
    """(reason, message) for a cluster none of whose `nodes` matches the job: the GPU models
    when no node has one of them, the taints when nodes match its labels but are tainted,
    else the node selector."""
    if asks_share(spec) and not any(_takes_shares(n) for n in nodes):
        return reasons.DEVICE_SHARES, (
            "its nodes run whole devices only (a share of one device cannot run there)"
        )
    models = spec.constraints.gpu_models
    if models and not any(_model_ok(spec, n) for n in nodes):
        have = _few(sorted({_model(n) for n in nodes}))
        return reasons.GPU_MODEL, f"no node has {GPU_MODEL_LABEL} one of {_few(models)} ({have})"
    labelled = [n for n in nodes if _labels_match(spec, n)]
    if labelled:
        blocking = untolerated(spec.constraints.tolerations, labelled[0].taints)
        more = f"; {len(labelled) - 1} more are tainted too" if len(labelled) > 1 else ""
        return reasons.TAINTED, (
            f"every node it could use has a taint it does not tolerate: {labelled[0].name} "
            f"has {few(blocking)}{more}"
        )
    selector = ",".join(f"{k}={v}" for k, v in sorted(spec.constraints.node_selector.items()))
    return reasons.NODE_SELECTOR, f"no node has labels {selector}"


def _model(node: Node) -> str:
    return node.labels.get(GPU_MODEL_LABEL, "no gpu.model")


def _model_ok(spec: JobSpec, node: Node) -> bool:
    return node.labels.get(GPU_MODEL_LABEL) in spec.constraints.gpu_models


# Clusters named in one job message: the message is stored (4,096 characters at most) and sent
# with every submit result, so a pool of hundreds of clusters must not multiply it.
MAX_NAMED_CLUSTERS = 5


def summarize(verdicts: Sequence[ClusterVerdict]) -> str:
    """`a: why; b: why` for the first few verdicts, then how many more there are."""
    shown = "; ".join(f"{v.cluster}: {v.message}" for v in verdicts[:MAX_NAMED_CLUSTERS])
    more = len(verdicts) - MAX_NAMED_CLUSTERS
    return f"{shown}; and {more} more (see ExplainJob)" if more > 0 else shown


def rejection(
    spec: JobSpec, clusters: Iterable[Cluster], nodes_of: Callable[[str], Sequence[Node]]
) -> tuple[str, str, list[ClusterVerdict]] | None:
    """(reason, message, verdicts) if no registered cluster could ever run the job, else None.

    `nodes_of(cluster)` is asked only for the clusters looked at: the first cluster that could
    run the job settles it (a pool's nodes are many, and most jobs fit the first cluster whose
    constraints they meet); every verdict is made only for a rejection's message."""
    clusters = list(clusters)
    for c in clusters:
        if (
            cluster_constraint_verdict(spec, c) is None
            and static_verdict(spec, c, nodes_of(c.name)).eligible
        ):
            return topology_rejection(spec, clusters, nodes_of) if constrained(spec) else None
    verdicts = [static_verdict(spec, c, nodes_of(c.name)) for c in clusters]
    if not verdicts:
        return reasons.NO_ELIGIBLE_CLUSTER, "no cluster is registered", verdicts
    summary = summarize(verdicts)
    return reasons.NO_ELIGIBLE_CLUSTER, f"no cluster can ever run this job ({summary})", verdicts


def topology_rejection(
    spec: JobSpec, clusters: Sequence[Cluster], nodes_of: Callable[[str], Sequence[Node]]
) -> tuple[str, str, list[ClusterVerdict]] | None:
    """(reason, message, verdicts) if no cluster could ever meet the job's topology (its
    other constraints met somewhere): a gang needs one cluster whose eligible nodes span its
    zones and, anti-affine, are as many as its replicas; a spread group needs the zones in the
    whole pool. Every cluster is looked at (only jobs with a topology come here); a cluster
    without nodes reported yet is given the benefit of the doubt."""
    verdicts: list[ClusterVerdict] = []
    pool_zones: set[str] = set()
    for c in clusters:
        nodes = nodes_of(c.name)
        verdict = static_verdict(spec, c, nodes)
        if verdict.eligible and not nodes:
            return None
        if verdict.eligible:
            fitting = [(n, 1) for n in nodes if node_could_ever_fit(spec, n)]
            pool_zones.update(z for n, _ in fitting if (z := node_zone(n, c.spec.zone)))
            verdict = gang_verdict(spec, c, fitting) or verdict
        verdicts.append(verdict)
    t = spec.topology
    if t.spread_group and t.spreads and len(pool_zones) < t.spread_zones:
        return (
            reasons.SPREAD,
            f"needs {t.spread_zones} zones for spread group {t.spread_group[:64]!r}, only "
            f"{zone_list(sorted(pool_zones))} have eligible nodes in the whole pool",
            verdicts,
        )
    topo = [v for v in verdicts if v.reason in (reasons.SPREAD, reasons.ANTI_AFFINITY)]
    if not topo or any(v.eligible for v in verdicts):
        return None
    return topo[0].reason, f"no cluster can ever run this job ({summarize(topo)})", verdicts


def _few(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return f"{shown} and {len(names) - limit} more" if len(names) > limit else shown
