"""Slurm-like: one pooled partition, multifactor priority (age + fair share), backfill.

Priority = `w_age` x min(1, age / max_age) + `w_fairshare` x 2^(-U/S) (Slurm's classic
fair-share factor), where S is the department's entitled share (what it contributed) and U its
share of the pool's usage decayed with a half-life (PriorityDecayHalfLife; default 1 day here
against Slurm's 7, so that a week's trace sees the decay). Usage is the dominant share of the
pool a job holds, times the time it holds it. The scheduler tries pending jobs by priority: a
job that fits now starts (greedy best fit); the first `reservations` jobs that do not fit get a
reservation at the earliest time enough running work will have ended (the shadow time) on the
nodes it would then take, and a later job may start now only if it ends before the shadow time
of every reservation whose nodes it touches (EASY backfill generalised to a few reservations).

Simplified against the real Slurm: run times are known exactly (every job's time limit equals
its duration: a perfect estimate, which flatters backfill); at most `max_job_test` jobs are
looked at per decision (bf_max_job_test); a reservation ignores the reservations before it; no
associations tree, QOS, partitions or preemption.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from benchmarks.city.greedy import Pool
from benchmarks.city.quotas import pooled_nominal
from benchmarks.city.sim import Decision, Start
from benchmarks.city.trace import Trace, TraceJob


class SlurmLike:
    name = "slurm"

    def __init__(
        self,
        trace: Trace,
        *,
        half_life_s: float = 86_400.0,
        max_age_s: float = 7 * 86_400.0,
        w_age: float = 1000.0,
        w_fairshare: float = 10_000.0,
        reservations: int = 5,
        max_job_test: int = 200,
    ) -> None:
        self._pool = Pool(trace)
        self._total = trace.capacity()
        # The fair-share entitlement is the departments' nominal quota (what they contributed).
        nominal = pooled_nominal(trace)
        total_share = {d: self._share(nominal[d]) for d in trace.departments}
        whole = sum(total_share.values()) or 1.0
        self._entitled = {d: s / whole for d, s in total_share.items()}
        self._usage = {d: 0.0 for d in trace.departments}
        self._pending: list[TraceJob] = []
        self._running: dict[str, tuple[TraceJob, str, list[int], float]] = {}
        self._last = 0.0
        self._by_end: list[tuple[TraceJob, str, list[int], float]] = []
        self._half_life, self._max_age = half_life_s, max_age_s
        self._w_age, self._w_fs = w_age, w_fairshare
        self._reservations, self._max_job_test = reservations, max_job_test

    def _share(self, quantities: dict[str, int]) -> float:
        """Mean share of the pool over its resources (sums to 1 over departments)."""
        return sum(quantities.get(r, 0) / q for r, q in self._total.items()) / len(self._total)

    def _dominant(self, job: TraceJob) -> float:
        return max(
            q * job.replicas / self._total[r] for r, q in job.resources if self._total.get(r)
        )

    def submit(self, jobs: Sequence[TraceJob], now: float) -> None:
        self._pending.extend(jobs)

    def finish(self, jobs: Sequence[TraceJob], now: float) -> None:
        self._account(now)
        for job in jobs:
            _, cluster, nodes, _ = self._running.pop(job.job_id)
            self._pool.give(cluster, nodes, job)

    def _account(self, now: float) -> None:
        """Decays usage to `now` and adds what ran since the last decision."""
        dt = now - self._last
        if dt <= 0:
            return
        decay = 0.5 ** (dt / self._half_life)
        for d in self._usage:
            self._usage[d] *= decay
        for job, _, _, _ in self._running.values():
            self._usage[job.department] += self._dominant(job) * dt
        self._last = now

    def _priority(self, job: TraceJob, now: float, total: float) -> float:
        used = self._usage[job.department] / total
        entitled = max(self._entitled[job.department], 1e-9)
        age = min(1.0, (now - job.arrival_s) / self._max_age)
        return self._w_age * age + self._w_fs * 2 ** (-used / entitled)

    def schedule(self, now: float) -> Decision:
        self._account(now)
        total = sum(self._usage.values()) or 1.0
        self._pending.sort(key=lambda j: (-self._priority(j, now, total), j.arrival_s, j.job_id))
        # Running work by expected end, for the shadow times (sorted once per decision).
        self._by_end = sorted(self._running.values(), key=lambda r: r[3])
        starts: list[Start] = []
        reserved: list[tuple[float, str, set[int]]] = []  # (shadow time, cluster, nodes)
        kept: list[TraceJob] = []
        for i, job in enumerate(self._pending):
            if i >= self._max_job_test:
                kept.extend(self._pending[i:])
                break
            found = self._pool.place(job)
            if found is not None and all(
                now + job.duration_s <= shadow or cluster != found[0] or not nodes & set(found[1])
                for shadow, cluster, nodes in reserved
            ):
                self._pool.take(*found, job)
                run = (job, found[0], found[1], now + job.duration_s)
                self._running[job.job_id] = run
                bisect.insort_right(self._by_end, run, key=lambda r: r[3])
                starts.append(Start(job.job_id, found[0]))
                continue
            kept.append(job)
            if found is None and len(reserved) < self._reservations:
                shadow = self._shadow(job)
                if shadow is not None:
                    reserved.append(shadow)
        self._pending = kept
        return Decision(starts)

    def _shadow(self, job: TraceJob) -> tuple[float, str, set[int]] | None:
        """When and where `job` could start if running work ends as expected: walking the
        running work by end, the first end after which `job` fits on that run's cluster.

        Only the clusters `job` may use are copied and given back to, and a fit is tried only
        when an end leaves one of its nodes able to hold a replica: otherwise the best fit,
        replica by replica, sees the same candidate nodes as before that end and fails again
        (the same answer as trying after every end, at a fraction of the cost)."""
        eligible = set(self._pool.eligible(job))
        future = self._pool.copy(list(eligible))
        demand = job.demand()
        for run_job, cluster, nodes, end in self._by_end:
            if cluster not in eligible:
                continue
            future.give(cluster, nodes, run_job)
            if not future.could_hold(cluster, nodes, demand):
                continue
            found = future.place(job, [cluster])
            if found is not None:
                return end, found[0], set(found[1])
        return None

    def close(self) -> None:
        pass
