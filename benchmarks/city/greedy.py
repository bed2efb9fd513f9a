"""Free capacity of the pool and greedy best-fit placement, shared by the Kueue-like and
Slurm-like baselines (which differ only in the order in which they try jobs).

Eligibility is the scheduler's own (`scheduler.domain.eligibility`: 等保 level, 信创, node
selector), so every policy sees the same nodes for a job. A job is a gang: every replica on a
node of ONE cluster, several replicas may share a node, as in the real cycle. Best fit: each
replica goes to the node where it leaves the least free capacity (summed over resources,
relative to the node's size), and the cluster chosen is the one whose placement leaves least.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.city.quotas import KIND, kind_of, node_selector
from benchmarks.city.real import EPOCH, job_spec
from benchmarks.city.trace import CityCluster, Trace, TraceJob
from scheduler.domain.eligibility import cluster_constraint_verdict
from scheduler.domain.models import Cluster, ClusterSpec
from scheduler.domain.states import ClusterState


class Eligibility:
    """The clusters a job may run on, cached per job shape: the scheduler's own verdict
    (等保 level, 信创), the city's node selector (`quotas.node_selector`), and a node large
    enough for one replica when empty. One answer for the policies and the guarantee metric."""

    def __init__(self, clusters: Sequence[CityCluster]) -> None:
        self._clusters = {c.name: c for c in clusters}
        self._domain = {
            c.name: Cluster(
                ClusterSpec(c.name, "city", security_level=c.security_level, xinchuang=c.xinchuang),
                ClusterState.ACTIVE,
                EPOCH,
            )
            for c in clusters
        }
        self._cache: dict[tuple[object, ...], tuple[str, ...]] = {}

    def __call__(self, job: TraceJob) -> tuple[str, ...]:
        key = (job.min_security_level, job.xinchuang_required, job.resources)
        if key not in self._cache:
            spec = job_spec(job, own_only=False)
            selector = node_selector(job)
            self._cache[key] = tuple(
                name
                for name, c in self._clusters.items()
                if cluster_constraint_verdict(spec, self._domain[name]) is None
                and all({KIND: kind_of(c)}.get(k) == v for k, v in selector.items())
                and all(q <= dict(c.node_capacity).get(r, 0) for r, q in job.resources)
            )
        return self._cache[key]


@dataclass
class _Group:
    cluster: CityCluster
    resources: tuple[str, ...]
    size: tuple[int, ...]  # one node's capacity per resource
    free: list[list[int]]  # per node, per resource


class Pool:
    """Free capacity per node; `place` finds a gang's nodes, `take`/`give` book them."""

    def __init__(self, trace: Trace) -> None:
        self.groups: dict[str, _Group] = {}
        for c in trace.clusters:
            names = tuple(r for r, _ in c.node_capacity)
            size = tuple(q for _, q in c.node_capacity)
            self.groups[c.name] = _Group(c, names, size, [list(size) for _ in range(c.nodes)])
        self.eligible = Eligibility(trace.clusters)
        self._failed: set[tuple[object, ...]] = set()  # shapes that fit nowhere now

    def place(
        self, job: TraceJob, clusters: Sequence[str] | None = None
    ) -> tuple[str, list[int]] | None:
        """(cluster, node index per replica) of the best fit, or None if it fits nowhere now."""
        key = (job.min_security_level, job.xinchuang_required, job.resources, job.replicas,
               None if clusters is None else tuple(clusters))  # fmt: skip
        if key in self._failed:  # taking capacity never makes a failed shape fit
            return None
        best: tuple[float, str, list[int]] | None = None
        demand = job.demand()
        for name in clusters if clusters is not None else self.eligible(job):
            g = self.groups[name]
            need = [demand.get(r, 0) for r in g.resources]
            if any(demand.get(r, 0) and r not in g.resources for r in demand):
                continue
            found = _fit(g, need, job.replicas)
            if found is not None and (best is None or found[0] < best[0]):
                best = (found[0], name, found[1])
        if best is None:
            self._failed.add(key)
            return None
        return best[1], best[2]

    def take(self, cluster: str, nodes: list[int], job: TraceJob, sign: int = -1) -> None:
        g = self.groups[cluster]
        demand = job.demand()
        for n in nodes:
            row = g.free[n]
            for k, r in enumerate(g.resources):
                row[k] += sign * demand.get(r, 0)

    def give(self, cluster: str, nodes: list[int], job: TraceJob) -> None:
        self.take(cluster, nodes, job, sign=+1)
        self._failed.clear()

    def could_hold(self, cluster: str, nodes: Sequence[int], demand: dict[str, int]) -> bool:
        """Whether one of `nodes` of `cluster` has room for one replica of `demand` now."""
        g = self.groups[cluster]
        if any(q and r not in g.resources for r, q in demand.items()):
            return False
        need = [demand.get(r, 0) for r in g.resources]
        return any(all(f >= q for f, q in zip(g.free[n], need, strict=True)) for n in nodes)

    def copy(self, clusters: Sequence[str] | None = None) -> Pool:
        """A copy to try things on; only `clusters`, if given, can then be used."""
        twin = Pool.__new__(Pool)
        twin.groups = {
            n: _Group(g.cluster, g.resources, g.size, [list(row) for row in g.free])
            for n, g in self.groups.items()
            if clusters is None or n in clusters
        }
        twin.eligible, twin._failed = self.eligible, set()
        return twin


def _fit(g: _Group, need: list[int], replicas: int) -> tuple[float, list[int]] | None:
    """Best-fit replicas one at a time on a scratch copy of the nodes they touch."""
    scratch: dict[int, list[int]] = {}
    chosen: list[int] = []
    left = 0.0
    for _ in range(replicas):
        best_n, best_left = -1, 0.0
        for n, row in enumerate(g.free):
            row = scratch.get(n, row)
            if all(f >= q for f, q in zip(row, need, strict=True)):
                slack = sum((f - q) / s for f, q, s in zip(row, need, g.size, strict=True) if s)
                if best_n < 0 or slack < best_left:
                    best_n, best_left = n, slack
        if best_n < 0:
            return None
        base = scratch.get(best_n, g.free[best_n])
        scratch[best_n] = [f - q for f, q in zip(base, need, strict=True)]
        chosen.append(best_n)
        left += best_left
    return left, chosen
