"""The city's governance, one definition for every policy: quota groups, each department's
nominal quota (what it contributed), where each kind of work may run, and the priority classes
of the trace's job kinds.

Clusters carry `kind=gpu` or `kind=cpu`, and GPU nodes are kept for GPU work (`node_selector`),
so each kind of work has one kind of node: a department's nominal in a group is the capacity of
the clusters of that kind it contributed (0 where it contributed none), with no borrowing or
lending limit, as a Kueue cohort with the defaults and one flavour per kind. The real cycle gets
these through the governance service (`real.py`); Kueue-like keeps one flavour per kind with
the same numbers (`entitled`), the guarantee metric reads them the same way, and Slurm-like
uses their sum per resource as the fair-share entitlement (`pooled_nominal`).
"""

from __future__ import annotations

from benchmarks.city.trace import CityCluster, Trace, TraceJob
from scheduler.domain.quotas import PriorityClass
from scheduler.domain.resources import CPU, MEMORY, NVIDIA_GPU

KIND = "kind"
GROUPS = ("cpu", "gpu")
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


def group_of(cluster: CityCluster) -> str:
    return "gpu" if dict(cluster.node_capacity).get(NVIDIA_GPU) else "cpu"


def nominal(trace: Trace) -> dict[str, dict[str, dict[str, int]]]:
    """department -> group -> resource -> nominal (every resource of every group present)."""
    out = {d: {g: dict.fromkeys(RESOURCES, 0) for g in GROUPS} for d in trace.departments}
    for c in trace.clusters:
        row = out[c.department][group_of(c)]
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


def job_group(job: TraceJob) -> str:
    """The group (Kueue: flavour) a job's work counts in: the kind of node it may use."""
    return "gpu" if job.demand().get(NVIDIA_GPU) else "cpu"


def entitled(trace: Trace) -> dict[str, dict[tuple[str, str], int]]:
    """department -> (group, resource) -> nominal, for the policies that count per flavour."""
    return {
        d: {(g, r): q for g, row in groups.items() for r, q in row.items()}
        for d, groups in nominal(trace).items()
    }
