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
- guarantee kept (`benchmarks.city.guarantee`), overall (time-weighted over departments) and
  per department;
- preemptions (jobs stopped before their end) and the work they lost: replica-hours, and
  GPU-hours of it;
- cost: PRICES x the resource-time runs held (work later lost included), and of it the cost of
  the work lost;
- utilisation over time: per resource, the share of the pool held in each of UTIL_BUCKETS equal
  slices of the period; the wait CDF as the 0th..100th percentiles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmarks.city import quotas
from benchmarks.city.guarantee import kept
from benchmarks.city.sim import JobRecord, Result
from scheduler.domain.resources import CPU, MEMORY, NVIDIA_GPU, SHARES_PER_DEVICE

HOUR = 3600.0
UTIL_BUCKETS = 168
# Yuan per unit-hour, about a public cloud's on-demand list price in China (per core, per GiB,
# per GPU); units as the scheduler's: millicores, MiB and thousandths of a device.
PRICES = {CPU: 0.12 / 1000, MEMORY: 0.015 / 1024, NVIDIA_GPU: 12.0 / SHARES_PER_DEVICE}


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
    guarantee: float = 1.0
    guarantee_by_department: dict[str, float] = field(default_factory=dict)
    preemptions: int = 0
    lost_replica_h: float = 0.0
    lost_gpu_h: float = 0.0
    cost: float = 0.0
    cost_lost: float = 0.0
    util_series: dict[str, list[float]] = field(default_factory=dict)
    util_bucket_h: float = 0.0
    wait_cdf_h: list[float] = field(default_factory=list)
    job_ids: frozenset[str] = field(repr=False, default=frozenset())


def _series(result: Result, pool: dict[str, int]) -> tuple[dict[str, list[float]], float]:
    horizon = result.trace.horizon_s
    width = horizon / UTIL_BUCKETS
    held = {r: [0.0] * UTIL_BUCKETS for r in pool}
    for rec in result.records.values():
        for start, end in rec.spans(result.end_s):
            a, b = min(start, horizon), min(end, horizon)
            if b <= a:
                continue
            for r, q in rec.job.resources:
                if r not in held:
                    continue
                amount = q * rec.job.replicas
                row = held[r]
                k = int(a // width)
                while k < UTIL_BUCKETS and k * width < b:
                    row[k] += amount * (min(b, (k + 1) * width) - max(a, k * width))
                    k += 1
    return {r: [v / (pool[r] * width) for v in row] for r, row in held.items()}, width / HOUR


def measure(result: Result) -> Metrics:
    trace = result.trace
    horizon = trace.horizon_s
    pool = trace.capacity()
    held: dict[str, float] = dict.fromkeys(pool, 0.0)
    by_dept: dict[str, dict[str, float]] = {d: dict.fromkeys(pool, 0.0) for d in trace.departments}
    dept_waits: dict[str, list[float]] = {d: [] for d in trace.departments}
    all_waits: list[float] = []
    cost = cost_lost = lost_replica_s = lost_gpu_s = 0.0
    preemptions = 0
    for rec in result.records.values():
        wait = rec.wait_s(result.end_s)
        all_waits.append(wait)
        dept_waits[rec.job.department].append(wait)
        preemptions += rec.preemptions
        lost_replica_s += rec.lost_s * rec.job.replicas
        gpus = rec.job.demand().get(NVIDIA_GPU, 0) / SHARES_PER_DEVICE
        lost_gpu_s += rec.lost_s * rec.job.replicas * gpus
        price = sum(PRICES.get(r, 0.0) * q for r, q in rec.job.resources) * rec.job.replicas
        cost_lost += price * rec.lost_s / HOUR
        for start, end in rec.spans(result.end_s):
            cost += price * max(0.0, end - start) / HOUR
            span = max(0.0, min(end, horizon) - min(start, horizon))
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
    nominal = quotas.entitled(trace)
    by_dept_records: dict[str, list[JobRecord]] = {d: [] for d in trace.departments}
    for rec in result.records.values():
        by_dept_records[rec.job.department].append(rec)
    guarantees = {
        d: kept(by_dept_records[d], nominal[d], result.end_s, result.cycle_s, trace.clusters)
        for d in trace.departments
    }
    demand = sum(g.demand_s for g in guarantees.values())
    series, bucket_h = _series(result, pool)
    hours = sorted(w / HOUR for w in all_waits)
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
        guarantee=sum(g.kept_s for g in guarantees.values()) / demand if demand else 1.0,
        guarantee_by_department={d: g.share for d, g in guarantees.items()},
        preemptions=preemptions,
        lost_replica_h=lost_replica_s / HOUR,
        lost_gpu_h=lost_gpu_s / HOUR,
        cost=cost,
        cost_lost=cost_lost,
        util_series=series,
        util_bucket_h=bucket_h,
        wait_cdf_h=[percentile(hours, q) for q in range(101)] if hours else [],
        job_ids=frozenset(result.records),
    )
