"""Guarantee kept: the share of the time a department with demand received what it was
promised, min(demand, nominal).

Jobs are indivisible, so "received less than min(demand, nominal)" is read as: some job of the
department has been waiting longer than `grace_s` (one cycle interval: no scheduler starts a job
before its next cycle) although it would fit within the department's unused nominal quota,
i.e. in some quota group whose clusters the job's constraints allow, the department's usage
there plus the job stays within its nominal on every resource (`benchmarks.city.quotas`:
`entitled`; the clusters a job may use: `greedy.Eligibility`, as the policies see them; work
counts in the group of the cluster it runs on). A
department has demand while a job of it waits or runs. Measured from the job records over [0,
the end of the simulation].
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from benchmarks.city.greedy import Eligibility
from benchmarks.city.quotas import flavour_of
from benchmarks.city.sim import JobRecord
from benchmarks.city.trace import CityCluster, TraceJob

# Event kinds, in the order they apply at one instant: runs end and waits end before new ones
# begin, so a job preempted and restarted at one tick never counts twice.
_RUN_END, _QUEUE_END, _RUN_START, _QUEUE_START, _OVERDUE = range(5)


@dataclass(frozen=True)
class Kept:
    demand_s: float  # time with a job waiting or running
    kept_s: float  # of it, time without an overdue job that fits the unused nominal

    @property
    def share(self) -> float:
        return 1.0 if self.demand_s <= 0 else self.kept_s / self.demand_s


_Event = tuple[float, int, JobRecord, str]  # time, kind, record, cluster (runs only)


def _events(records: Iterable[JobRecord], cutoff: float, grace_s: float) -> list[_Event]:
    out: list[_Event] = []
    for rec in records:
        spans = sorted(rec.placed_spans(cutoff))
        waits = []
        since = rec.job.arrival_s
        for start, end, _ in spans:
            waits.append((since, start))
            since = end
        if rec.freed_s is None and rec.running_since is None:
            waits.append((since, cutoff))  # never started, or preempted and not restarted
        for start, end, cluster in spans:
            if end > start:
                out += [(start, _RUN_START, rec, cluster), (end, _RUN_END, rec, cluster)]
        for start, end in waits:
            if end > start:
                out += [(start, _QUEUE_START, rec, ""), (end, _QUEUE_END, rec, "")]
                if start + grace_s < end:
                    out.append((start + grace_s, _OVERDUE, rec, ""))
    out.sort(key=lambda e: (e[0], e[1]))
    return out


def kept(
    records: Iterable[JobRecord],
    nominal: Mapping[tuple[str, str], int],
    cutoff: float,
    grace_s: float,
    clusters: Sequence[CityCluster],
) -> Kept:
    """Guarantee kept for one department's records; `nominal`: (group, resource) -> quota;
    `clusters`: the pool's (for each cluster's group)."""
    group_of = {c.name: flavour_of(c) for c in clusters}
    allowed = Eligibility(clusters)
    used: dict[tuple[str, str], int] = {}
    running = 0
    waiting: set[str] = set()
    overdue: dict[str, tuple[TraceJob, tuple[str, ...]]] = {}  # with its eligible groups
    demand_s = kept_s = 0.0
    last = 0.0
    short = dirty = False
    for t, kind, rec, cluster in _events(records, cutoff, grace_s):
        if t > last:
            if dirty:  # once per instant, not per event: queues can be long
                short = _short(used, overdue, nominal)
                dirty = False
            if running or waiting:
                demand_s += t - last
                if not short:
                    kept_s += t - last
            last = t
        job = rec.job
        if kind in (_RUN_START, _RUN_END):
            sign = 1 if kind == _RUN_START else -1
            running += sign
            g = group_of[cluster]
            for r, q in job.resources:
                used[g, r] = used.get((g, r), 0) + sign * q * job.replicas
        elif kind == _QUEUE_START:
            waiting.add(job.job_id)
        elif kind == _QUEUE_END:
            waiting.discard(job.job_id)
            overdue.pop(job.job_id, None)
        else:
            groups = tuple(sorted({group_of[c] for c in allowed(job)}))
            overdue[job.job_id] = (job, groups)
        dirty = True
    return Kept(demand_s, kept_s)


def _short(
    used: Mapping[tuple[str, str], int],
    overdue: Mapping[str, tuple[TraceJob, tuple[str, ...]]],
    nominal: Mapping[tuple[str, str], int],
) -> bool:
    return any(
        all(
            used.get((g, r), 0) + q * job.replicas <= nominal.get((g, r), 0)
            for r, q in job.resources
        )
        for job, groups in overdue.values()
        for g in groups
    )
