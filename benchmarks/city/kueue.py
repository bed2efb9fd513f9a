"""Kueue-like: the pool as one cohort, one ClusterQueue per department, BestEffortFIFO.

Each department's nominal quota is what it contributed (per resource); it may borrow any idle
capacity of the cohort (no borrowing or lending limit). At each decision the heads of the
department queues compete: a head that fits within its department's nominal goes before one
that needs to borrow, then the older head first (Kueue's ordering of ClusterQueues in a cohort
with borrowing). BestEffortFIFO (Kueue's default queueing strategy): a workload that does not
fit is set aside and the ones behind it are tried; `strict=True` gives StrictFIFO, where a
department whose head does not fit admits nothing behind it.
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

    def __init__(self, trace: Trace, *, strict: bool = False) -> None:
        self._strict = strict
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
        # Per department, how far down its queue this decision has looked.
        cursor = dict.fromkeys(self._queues, 0)
        admitted: dict[str, list[int]] = {d: [] for d in self._queues}
        while True:
            heads = [q[cursor[d]] for d, q in self._queues.items() if cursor[d] < len(q)]
            if not heads:
                break
            heads.sort(key=lambda j: (not self._within_nominal(j), j.arrival_s, j.job_id))
            head = heads[0]
            dept = head.department
            found = self._pool.place(head)
            if found is None:
                # StrictFIFO: nothing behind it either; BestEffortFIFO: try the next one.
                cursor[dept] = len(self._queues[dept]) if self._strict else cursor[dept] + 1
                continue
            admitted[dept].append(cursor[dept])
            cursor[dept] += 1
            self._pool.take(*found, head)
            self._where[head.job_id] = found
            self._book(head, +1)
            starts.append(Start(head.job_id, found[0]))
        for dept, taken in admitted.items():
            if taken:
                gone = set(taken)
                queue = self._queues[dept]
                self._queues[dept] = deque(j for i, j in enumerate(queue) if i not in gone)
        return starts

    def close(self) -> None:
        pass
