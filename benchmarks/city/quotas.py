"""The city's governance, one definition for every policy: quota groups, each department's
nominal quota (what it contributed) and the priority classes of the trace's job kinds.

Clusters carry `kind=gpu` or `kind=cpu`; a department's nominal in a group is the capacity of
the clusters of that kind it contributed (0 where it contributed none), with no borrowing or
lending limit, as a Kueue cohort with the defaults. The real cycle gets these through the
governance service (`real.py`); Kueue-like and Slurm-like read the same numbers (Kueue-like sums
the groups per resource: it has one flavour; Slurm-like uses their share as the fair-share
entitlement).
"""

from __future__ import annotations

from benchmarks.city.trace import CityCluster, Trace
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
