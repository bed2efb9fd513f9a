"""The city's governance, one definition for every policy: quota groups, each department's
nominal quota (what it contributed), where each kind of work may run, and the priority classes
of the trace's job kinds.

Clusters carry `kind=gpu` or `kind=cpu`, and GPU nodes are kept for GPU work (`node_selector`).
A quota group (Kueue: a flavour) is all CPU clusters, or the GPU clusters of one class, 信创
or not and 等保 level (`SPLIT_BY`; selectors on `kind`, `xinchuang`, `security_level`): a
department's nominal in a group is the capacity it contributed there (0 elsewhere), with no
borrowing or lending limit. Work counts in the group of the cluster it runs on, so a
department running on a GPU class it did not contribute (a 信创 or a level-4 GPU node)
borrows there, and the owner reclaims it: what a bureau contributed is what it is promised
back, as Kueue cities define a flavour per hardware class. CPU capacity stays one group:
split by class too, CPU work overflowing onto the scarce classes was reclaimed again and again
(benchmarks/README.md, "Quota groups"). The real cycle gets these through the governance service
(`real.py`); Kueue-like keeps the same flavours and numbers (`entitled`), the guarantee metric
reads them the same way, and Slurm-like uses their sum per resource as the fair-share
entitlement (`pooled_nominal`).
"""

from __future__ import annotations

from collections.abc import Iterable

from benchmarks.city.trace import CityCluster, Trace, TraceJob
from scheduler.domain.quotas import PriorityClass
from scheduler.domain.resources import CPU, MEMORY, NVIDIA_GPU

KIND = "kind"
RESOURCES = (CPU, MEMORY, NVIDIA_GPU)
# The trace's priorities by job kind, as admin-defined classes: every class may be preempted
# (training checkpoints), so a lender reclaims from any borrower; none preempts its own
# department's work, as Kueue's default (withinClusterQueue: Never) that Kueue-like follows,
# so the policies differ in how they decide, not in what they may do. Priority preemption
# within a department is tested on its own (tests/service/test_preemption.py).
CLASSES = (
    PriorityClass("batch", 100, preemptible=True, may_preempt=False, description="short CPU"),
    PriorityClass("analytics", 300, preemptible=True, may_preempt=False, description="analytics"),
    PriorityClass("training", 500, preemptible=True, may_preempt=False, description="GPU gangs"),
)
CLASS_OF_KIND = {"batch": "batch", "analytics": "analytics", "gang": "training"}


def kind_of(cluster: CityCluster) -> str:
    """The cluster's `kind` label: gpu if its nodes have GPUs."""
    return "gpu" if dict(cluster.node_capacity).get(NVIDIA_GPU) else "cpu"


# The labels beyond `kind` that split each kind's quota group (Kueue: flavours), chosen by
# measurement (benchmarks/README.md, "Quota groups").
SPLIT_BY: dict[str, tuple[str, ...]] = {"cpu": (), "gpu": ("xinchuang", "security_level")}


def flavour_selector(cluster: CityCluster) -> dict[str, str]:
    """The label selector of the cluster's quota group (`xinchuang` and `security_level` are
    labels every cluster carries: scheduler.domain.quotas.cluster_group_labels)."""
    kind = kind_of(cluster)
    labels = {
        "xinchuang": "true" if cluster.xinchuang else "false",
        "security_level": str(cluster.security_level),
    }
    return {KIND: kind} | {k: labels[k] for k in SPLIT_BY[kind]}


def flavour_of(cluster: CityCluster) -> str:
    """The cluster's quota group's name: its selector's values, e.g. "gpu-true-3"."""
    return "-".join(flavour_selector(cluster).values())


def flavours(clusters: Iterable[CityCluster]) -> dict[str, list[CityCluster]]:
    """Each quota group of the clusters, with its clusters."""
    out: dict[str, list[CityCluster]] = {}
    for c in clusters:
        out.setdefault(flavour_of(c), []).append(c)
    return out


def nominal(trace: Trace) -> dict[str, dict[str, dict[str, int]]]:
    """department -> group -> resource -> nominal (every resource of every group present)."""
    groups = flavours(trace.clusters)
    out = {d: {g: dict.fromkeys(RESOURCES, 0) for g in groups} for d in trace.departments}
    for c in trace.clusters:
        row = out[c.department][flavour_of(c)]
        for r, q in c.capacity().items():
            row[r] = row.get(r, 0) + q
    return out


def pooled_nominal(trace: Trace) -> dict[str, dict[str, int]]:
    """department -> resource -> nominal summed over the groups."""
    out: dict[str, dict[str, int]] = {}
    for d, groups in nominal(trace).items():
        total: dict[str, int] = {}
        for row in groups.values():
            for r, q in row.items():
                total[r] = total.get(r, 0) + q
        out[d] = total
    return out


def node_selector(job: TraceJob) -> dict[str, str]:
    """Where the city lets a job run: work without GPUs only on CPU nodes. GPU nodes are kept
    for GPU work, as Kubernetes cities do with a taint: CPU work that spills onto them strands
    their GPUs (an 8-GPU gang needs 96 of the node's 128 cores), and work within its
    department's quota there cannot be reclaimed for the gang. suanchou's API has no
    tolerations yet (issue 10), so the CPU jobs carry a node selector; every policy applies
    the same rule."""
    return {} if job.demand().get(NVIDIA_GPU) else {KIND: "cpu"}


def entitled(trace: Trace) -> dict[str, dict[tuple[str, str], int]]:
    """department -> (group, resource) -> nominal, for the policies that count per flavour."""
    return {
        d: {(g, r): q for g, row in groups.items() for r, q in row.items()}
        for d, groups in nominal(trace).items()
    }
