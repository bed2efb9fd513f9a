"""What each policy delivered, computed the same way from every policy's job records.

- utilisation per resource: time-weighted share of the pool's capacity held by runs over the
  trace's period [0, horizon] (a run holds its capacity from its start to the tick at which it
  was released);
- wait (arrival to start) mean / p95 / p99 overall and per department; a job that never started
  counts as waiting until the simulation stopped, and is counted in `unfinished`;
- Jain's fairness index over departments of x = delivered share / entitled share, where a
  department's entitled share is its contributed capacity and its delivered share is what its
  runs held over the period, both as the mean over resources of the share of the pool (so both
  sum to 1 over departments). 1 is perfectly proportional; 1/n is one department taking all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmarks.city.sim import Result

HOUR = 3600.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def jain(xs: list[float]) -> float:
    if not xs or not any(xs):
        return 0.0
    return sum(xs) ** 2 / (len(xs) * sum(x * x for x in xs))


@dataclass(frozen=True)
class Waits:
    jobs: int
    mean_h: float
    p95_h: float
    p99_h: float


def waits(values_s: list[float]) -> Waits:
    hours = [v / HOUR for v in values_s]
    mean = sum(hours) / len(hours) if hours else 0.0
    return Waits(len(hours), mean, percentile(hours, 95), percentile(hours, 99))


@dataclass(frozen=True)
class Metrics:
    policy: str
    jobs: int
    finished: int
    unfinished: int
    utilisation: dict[str, float]
    wait: Waits
    wait_by_department: dict[str, Waits]
    jain: float
    delivered_share: dict[str, float]
    entitled_share: dict[str, float]
    wall_s: float
    decisions: int
    job_ids: frozenset[str] = field(repr=False, default=frozenset())


def measure(result: Result) -> Metrics:
    trace = result.trace
    horizon = trace.horizon_s
    pool = trace.capacity()
    held: dict[str, float] = dict.fromkeys(pool, 0.0)
    by_dept: dict[str, dict[str, float]] = {d: dict.fromkeys(pool, 0.0) for d in trace.departments}
    dept_waits: dict[str, list[float]] = {d: [] for d in trace.departments}
    all_waits: list[float] = []
    for rec in result.records.values():
        wait = rec.wait_s(result.end_s)
        all_waits.append(wait)
        dept_waits[rec.job.department].append(wait)
        if rec.start_s is None:
            continue
        freed = rec.freed_s if rec.freed_s is not None else result.end_s
        span = max(0.0, min(freed, horizon) - min(rec.start_s, horizon))
        for r, q in rec.job.resources:
            if r in held:
                held[r] += q * rec.job.replicas * span
                by_dept[rec.job.department][r] += q * rec.job.replicas * span

    def share(per_resource: dict[str, float], whole: dict[str, float]) -> float:
        return sum(per_resource.get(r, 0.0) / w for r, w in whole.items() if w) / len(whole)

    whole = {r: float(q) for r, q in pool.items()}
    entitled = {
        d: share({r: float(q) for r, q in trace.capacity(d).items()}, whole)
        for d in trace.departments
    }
    delivered = {d: share(by_dept[d], held) for d in trace.departments}
    ratios = [delivered[d] / entitled[d] for d in trace.departments if entitled[d] > 0]
    finished = result.finished
    return Metrics(
        policy=result.policy,
        jobs=len(result.records),
        finished=finished,
        unfinished=len(result.records) - finished,
        utilisation={r: held[r] / (pool[r] * horizon) for r in pool},
        wait=waits(all_waits),
        wait_by_department={d: waits(v) for d, v in dept_waits.items()},
        jain=jain(ratios),
        delivered_share=delivered,
        entitled_share=entitled,
        wall_s=result.wall_s,
        decisions=result.decisions,
        job_ids=frozenset(result.records),
    )
