"""Kueue-like: the pool as one cohort, one ClusterQueue per department, StrictFIFO.

Each department's nominal quota is what it contributed (per resource); it may borrow any idle
capacity of the cohort (no borrowing or lending limit). At each decision the heads of the
department queues compete: a head that fits within its department's nominal goes before one
that needs to borrow, then the older head first (Kueue's ordering of ClusterQueues in a cohort
with borrowing). StrictFIFO: a department whose head does not fit admits nothing behind it.
Admission places the gang greedily (best fit, `benchmarks.city.greedy`).

Simplified against the real Kueue: no preemption to reclaim borrowed capacity (a department
below its nominal waits for borrowers to finish), no flavours or fungibility beyond "any
cluster the job's constraints allow", admission and placement in one step (Kueue admits on
quota and leaves placement to kube-scheduler, which may then fail to place a gang).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from benchmarks.city.greedy import Pool
from benchmarks.city.sim import Start
from benchmarks.city.trace import Trace, TraceJob


class KueueLike:
    name = "kueue"

    def __init__(self, trace: Trace) -> None:
        self._pool = Pool(trace)
        self._queues: dict[str, deque[TraceJob]] = {d: deque() for d in trace.departments}
        self._nominal = {d: trace.capacity(d) for d in trace.departments}
        self._used: dict[str, dict[str, int]] = {d: {} for d in trace.departments}
        self._where: dict[str, tuple[str, list[int]]] = {}

    def submit(self, jobs: Sequence[TraceJob], now: float) -> None:
        for job in jobs:
            self._queues[job.department].append(job)

    def finish(self, jobs: Sequence[TraceJob], now: float) -> None:
        for job in jobs:
            cluster, nodes = self._where.pop(job.job_id)
            self._pool.give(cluster, nodes, job)
            self._book(job, -1)

    def _book(self, job: TraceJob, sign: int) -> None:
        used = self._used[job.department]
        for r, q in job.resources:
            used[r] = used.get(r, 0) + sign * q * job.replicas

    def _within_nominal(self, job: TraceJob) -> bool:
        used, nominal = self._used[job.department], self._nominal[job.department]
        return all(used.get(r, 0) + q * job.replicas <= nominal.get(r, 0) for r, q in job.resources)

    def schedule(self, now: float) -> list[Start]:
        starts: list[Start] = []
        blocked: set[str] = set()
        while True:
            heads = [q[0] for d, q in self._queues.items() if q and d not in blocked]
            if not heads:
                return starts
            heads.sort(key=lambda j: (not self._within_nominal(j), j.arrival_s, j.job_id))
            head = heads[0]
            found = self._pool.place(head)
            if found is None:
                blocked.add(head.department)  # StrictFIFO: nothing behind it either
                continue
            self._queues[head.department].popleft()
            self._pool.take(*found, head)
            self._where[head.job_id] = found
            self._book(head, +1)
            starts.append(Start(head.job_id, found[0]))

    def close(self) -> None:
        pass
