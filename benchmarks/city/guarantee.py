"""Guarantee kept: the share of the time a department with demand received what it was
promised, min(demand, nominal).

Jobs are indivisible, so "received less than min(demand, nominal)" is read as: some job of the
department has been waiting longer than `grace_s` (one cycle interval: no scheduler starts a job
before its next cycle) although it would fit within the department's unused nominal quota,
i.e. its usage plus the job stays within the nominal on every resource of the group its kind
of work runs in (`benchmarks.city.quotas.entitled`, `job_group`). A department has demand while
a job of it waits or runs. Measured from the job records over [0, the end of the simulation].
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from benchmarks.city.quotas import job_group
from benchmarks.city.sim import JobRecord

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


def _events(
    records: Iterable[JobRecord], cutoff: float, grace_s: float
) -> list[tuple[float, int, JobRecord]]:
    out: list[tuple[float, int, JobRecord]] = []
    for rec in records:
        spans = sorted(rec.spans(cutoff))
        waits = []
        since = rec.job.arrival_s
        for start, end in spans:
            waits.append((since, start))
            since = end
        if rec.freed_s is None and rec.running_since is None:
            waits.append((since, cutoff))  # never started, or preempted and not restarted
        for start, end in spans:
            if end > start:
                out += [(start, _RUN_START, rec), (end, _RUN_END, rec)]
        for start, end in waits:
            if end > start:
                out += [(start, _QUEUE_START, rec), (end, _QUEUE_END, rec)]
                if start + grace_s < end:
                    out.append((start + grace_s, _OVERDUE, rec))
    out.sort(key=lambda e: (e[0], e[1]))
    return out


def kept(
    records: Iterable[JobRecord],
    nominal: Mapping[tuple[str, str], int],
    cutoff: float,
    grace_s: float,
) -> Kept:
    """Guarantee kept for one department's records; `nominal`: (group, resource) -> quota."""
    used: dict[tuple[str, str], int] = {}
    running = 0
    waiting: set[str] = set()
    overdue: dict[str, JobRecord] = {}
    demand_s = kept_s = 0.0
    last = 0.0
    short = dirty = False
    for t, kind, rec in _events(records, cutoff, grace_s):
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
            g = job_group(job)
            for r, q in job.resources:
                used[g, r] = used.get((g, r), 0) + sign * q * job.replicas
        elif kind == _QUEUE_START:
            waiting.add(job.job_id)
        elif kind == _QUEUE_END:
            waiting.discard(job.job_id)
            overdue.pop(job.job_id, None)
        else:
            overdue[job.job_id] = rec
        dirty = True
    return Kept(demand_s, kept_s)


def _short(
    used: Mapping[tuple[str, str], int],
    overdue: Mapping[str, JobRecord],
    nominal: Mapping[tuple[str, str], int],
) -> bool:
    return any(
        all(
            used.get((g, r), 0) + q * o.job.replicas <= nominal.get((g, r), 0)
            for g in (job_group(o.job),)
            for r, q in o.job.resources
        )
        for o in overdue.values()
    )
