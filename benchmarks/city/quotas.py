"""The city's governance, one definition for every policy: quota groups, each department's
nominal quota (what it contributed) and the priority classes of the trace's job kinds.

Clusters carry `kind=gpu` or `kind=cpu`. A department's nominal is what it contributed, with
no borrowing or lending limit, as a Kueue cohort with the defaults: cores and memory over the
whole pool (`quota_rows`: the empty selector), GPUs in the `kind=gpu` group. Cores and memory
are pooled because a GPU node's cores serve CPU work too: counted per group, a department
running CPU work on GPU nodes within the cores its GPU nodes brought would be "within
nominal" there while it borrows cores elsewhere, and the gang that needs that node could not
reclaim it. The real cycle gets the rows through the governance service (`real.py`);
Kueue-like and Slurm-like read the same numbers summed per resource (`pooled_nominal`:
Kueue-like has one flavour; Slurm-like uses the shares as fair-share entitlements).
"""

from __future__ import annotations

from benchmarks.city.trace import CityCluster, Trace, TraceJob
from scheduler.domain.quotas import PriorityClass
from scheduler.domain.resources import CPU, MEMORY, NVIDIA_GPU

KIND = "kind"
GROUPS = ("cpu", "gpu")
RESOURCES = (CPU, MEMORY, NVIDIA_GPU)
# The trace's priorities by job kind, as admin-defined classes: every class may be preempted
# (training checkpoints) and may preempt, so both reclaim and priority preemption can act.
CLASSES = (
    PriorityClass("batch", 100, preemptible=True, may_preempt=True, description="short CPU"),
    PriorityClass("analytics", 300, preemptible=True, may_preempt=True, description="analytics"),
    PriorityClass("training", 500, preemptible=True, may_preempt=True, description="GPU gangs"),
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


def quota_rows(trace: Trace) -> dict[str, list[tuple[dict[str, str], dict[str, int]]]]:
    """department -> (selector, resource -> nominal) rows, as an admin sets them: cores and
    memory over the whole pool, GPUs in the GPU group (module docstring)."""
    out: dict[str, list[tuple[dict[str, str], dict[str, int]]]] = {}
    for d, total in pooled_nominal(trace).items():
        out[d] = [
            ({}, {CPU: total.get(CPU, 0), MEMORY: total.get(MEMORY, 0)}),
            ({KIND: "gpu"}, {NVIDIA_GPU: total.get(NVIDIA_GPU, 0)}),
        ]
    return out


def node_selector(job: TraceJob) -> dict[str, str]:
    """Where the city lets a job run: work without GPUs only on CPU nodes. GPU nodes are kept
    for GPU work, as Kubernetes cities do with a taint: CPU work that spills onto them strands
    their GPUs (an 8-GPU gang needs 96 of the node's 128 cores), and work within its
    department's quota there cannot be reclaimed for the gang. suanchou's API has no
    tolerations yet (issue 10), so the CPU jobs carry a node selector; every policy applies
    the same rule."""
    return {} if job.demand().get(NVIDIA_GPU) else {KIND: "cpu"}
