"""A seeded city: departments, the clusters each contributed, and a period of their jobs.

`generate(TraceParams(...))` is deterministic per seed (one `random.Random` per concern, seeded
by strings, so adding a draw to one concern does not shift the others). Sizes are parameters,
so the same code makes a CI trace of tens of jobs and the issue's month of 50,000 jobs on 1,000
nodes.

Demand is calibrated per department: the work of its jobs (replica x duration x demand on its
dominant resource) is `load` x what its own clusters hold over the period. So on average each
department could live on its own clusters; what separate clusters cannot absorb is the timing:
a diurnal rhythm, a month-end peak (the last `month_end_days` of the period), bursts in which
one department submits many times its usual rate, and idle spells in which it submits almost
nothing. Units are those of the scheduler: cpu in millicores, memory in MiB, GPUs in thousandths
of a device.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from scheduler.domain.resources import CPU, MEMORY, NVIDIA_GPU, SHARES_PER_DEVICE

DAY_S = 86_400.0
# fmt: off
DEPARTMENTS = (
    "公安局", "大数据局", "交通局", "卫健委", "应急管理局",
    "气象局", "教育局", "人社局", "市场监管局", "生态环境局",
    "规划和自然资源局", "城市管理局", "水务局", "民政局", "财政局",
    "税务局", "文旅局", "住建局", "农业农村局", "商务局",
)
# fmt: on
CPU_SHAPES = ((64, 256), (96, 384), (128, 512))  # cores, GiB
GPU_SHAPE = (128, 1024, 8)  # cores, GiB, devices
MAX_DEPARTMENTS = 200


@dataclass(frozen=True)
class TraceParams:
    departments: int = 20
    nodes: int = 200
    jobs: int = 3000
    days: float = 7.0
    seed: int = 1
    load: float = 0.7  # each department's work / its own capacity over the period
    gpu_departments: float = 0.3  # share of departments that own a GPU cluster
    month_end_days: float = 2.0  # the last days of the period, at month_end_factor
    month_end_factor: float = 1.6
    bursts_per_week: float = 1.0  # per department
    burst_factor: float = 8.0
    idle_per_week: float = 0.7  # idle spells per department

    def __post_init__(self) -> None:
        if not 1 <= self.departments <= MAX_DEPARTMENTS:
            raise ValueError(f"departments must be 1-{MAX_DEPARTMENTS}, got {self.departments}")
        if self.nodes < self.departments:
            raise ValueError(f"nodes ({self.nodes}) must be >= departments ({self.departments})")
        if self.jobs < 1 or not 0 < self.days <= 366 or not 0 < self.load <= 10:
            raise ValueError("jobs >= 1, days in (0, 366] and load in (0, 10] are required")


@dataclass(frozen=True)
class CityCluster:
    name: str
    department: str  # who contributed it
    nodes: int
    node_capacity: tuple[tuple[str, int], ...]  # per node, as (resource, quantity)
    security_level: int  # 等保 2-4
    xinchuang: bool

    def capacity(self) -> dict[str, int]:
        return {r: q * self.nodes for r, q in self.node_capacity}


@dataclass(frozen=True)
class TraceJob:
    job_id: str
    department: str
    kind: str  # batch, analytics, gang
    arrival_s: float
    duration_s: float
    replicas: int
    resources: tuple[tuple[str, int], ...]  # per replica
    min_security_level: int = 0
    xinchuang_required: bool = False
    priority: int = 0

    def demand(self) -> dict[str, int]:
        return dict(self.resources)


@dataclass(frozen=True)
class Trace:
    params: TraceParams
    departments: tuple[str, ...]
    clusters: tuple[CityCluster, ...]
    jobs: tuple[TraceJob, ...]  # by arrival
    horizon_s: float
    meta: dict[str, object] = field(default_factory=dict)

    def capacity(self, department: str | None = None) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.clusters:
            if department is None or c.department == department:
                for r, q in c.capacity().items():
                    out[r] = out.get(r, 0) + q
        return out


# department, kind, arrival, replicas, demand, unscaled duration, home cluster
_Draft = tuple[str, str, float, int, dict[str, int], float, CityCluster]


def _rng(seed: int, what: str) -> random.Random:
    return random.Random(f"city/{seed}/{what}")


def _departments(p: TraceParams) -> tuple[str, ...]:
    named = DEPARTMENTS[: p.departments]
    return named + tuple(f"部门{i}" for i in range(len(named), p.departments))


def _clusters(p: TraceParams, depts: tuple[str, ...]) -> list[CityCluster]:
    """Skewed sizes (log-normal shares, at least one node each); a GPU cluster of about a
    fifth of its nodes for `gpu_departments` of them (the largest first: they are the ones
    that bought AI hardware)."""
    rng = _rng(p.seed, "clusters")
    weights = [rng.lognormvariate(0, 0.8) for _ in depts]
    total = sum(weights)
    sizes = [1] * len(depts)
    for i in sorted(range(len(depts)), key=lambda i: -weights[i]):
        sizes[i] += int((p.nodes - len(depts)) * weights[i] / total)
    for k in range(p.nodes - sum(sizes)):
        sizes[k % len(depts)] += 1
    gpu_owners = set(
        sorted(range(len(depts)), key=lambda i: -sizes[i])[: round(p.gpu_departments * len(depts))]
    )
    out: list[CityCluster] = []
    for i, dept in enumerate(depts):
        level = rng.choice((2, 2, 3, 3, 3, 4))
        xc = rng.random() < 0.3
        gpu = min(sizes[i] - 1, max(1, sizes[i] // 5)) if i in gpu_owners else 0
        cores, gib = rng.choice(CPU_SHAPES[1:] if xc else CPU_SHAPES)
        cpu_nodes = sizes[i] - gpu
        out.append(
            CityCluster(
                f"c{i:02d}-cpu",
                dept,
                cpu_nodes,
                ((CPU, cores * 1000), (MEMORY, gib * 1024)),
                level,
                xc,
            )
        )
        if gpu:
            g_cores, g_gib, devices = GPU_SHAPE
            out.append(
                CityCluster(
                    f"c{i:02d}-gpu",
                    dept,
                    gpu,
                    (
                        (CPU, g_cores * 1000),
                        (MEMORY, g_gib * 1024),
                        (NVIDIA_GPU, devices * SHARES_PER_DEVICE),
                    ),
                    level,
                    xc,
                )
            )
    return out


def _windows(
    rng: random.Random, per_week: float, horizon: float, hours: tuple[float, float]
) -> list[tuple[float, float]]:
    count = max(0, round(per_week * horizon / (7 * DAY_S) + rng.uniform(-0.5, 0.5)))
    out = []
    for _ in range(count):
        start = rng.uniform(0, horizon)
        out.append((start, start + rng.uniform(*hours) * 3600))
    return out


@dataclass(frozen=True)
class _Rhythm:
    """A department's submission intensity over time (relative; max `peak`)."""

    bursts: list[tuple[float, float]]
    idle: list[tuple[float, float]]
    month_end_from: float
    p: TraceParams

    @property
    def peak(self) -> float:
        return 1.5 * self.p.month_end_factor * self.p.burst_factor

    def at(self, t: float) -> float:
        hour = (t % DAY_S) / 3600
        rate = 1.0 + 0.5 * math.cos((hour - 14) / 24 * 2 * math.pi)  # busiest at 14:00
        if t >= self.month_end_from:
            rate *= self.p.month_end_factor
        if any(a <= t < b for a, b in self.idle):
            return rate * 0.05
        if any(a <= t < b for a, b in self.bursts):
            rate *= self.p.burst_factor
        return rate


def _shape(rng: random.Random, kind: str, gpu_nodes: int) -> tuple[int, dict[str, int], float]:
    """(replicas, per-replica demand, unscaled duration in seconds) of one job of `kind`."""
    if kind == "gang":
        gpus = rng.choice((1, 2, 4, 8))
        replicas = rng.randint(1, max(1, min(4, gpu_nodes)))
        demand = {
            CPU: 12_000 * gpus,
            MEMORY: 96 * 1024 * gpus,
            NVIDIA_GPU: gpus * SHARES_PER_DEVICE,
        }
        return replicas, demand, rng.lognormvariate(math.log(6 * 3600), 0.6)
    if kind == "analytics":
        cores = rng.choice((8, 16, 32))
        demand = {CPU: cores * 1000, MEMORY: cores * rng.choice((4, 8)) * 1024}
        return rng.randint(1, 4), demand, rng.lognormvariate(math.log(2 * 3600), 0.5)
    cores = rng.choice((1, 2, 4, 8))
    demand = {CPU: cores * 1000, MEMORY: cores * rng.choice((2, 4, 8)) * 1024}
    return 1, demand, rng.lognormvariate(math.log(20 * 60), 0.7)


def generate(p: TraceParams) -> Trace:
    depts = _departments(p)
    clusters = _clusters(p, depts)
    horizon = p.days * DAY_S
    rng_dept, rng_time, rng_shape = (_rng(p.seed, w) for w in ("dept", "time", "shape"))
    rhythm_rng = _rng(p.seed, "rhythm")
    rhythms = {
        d: _Rhythm(
            _windows(rhythm_rng, p.bursts_per_week, horizon, (4, 12)),
            _windows(rhythm_rng, p.idle_per_week, horizon, (12, 48)),
            horizon - p.month_end_days * DAY_S,
            p,
        )
        for d in depts
    }
    own = {d: [c for c in clusters if c.department == d] for d in depts}
    weights = [sum(c.nodes for c in own[d]) for d in depts]
    drafts: list[_Draft] = []
    for _ in range(p.jobs):
        dept = rng_dept.choices(depts, weights)[0]
        rhythm = rhythms[dept]
        while True:  # rejection sampling of the department's intensity
            t = rng_time.uniform(0, horizon)
            if rng_time.uniform(0, rhythm.peak) < rhythm.at(t):
                break
        gpu = next((c for c in own[dept] if c.capacity().get(NVIDIA_GPU)), None)
        kind = (
            "gang"
            if gpu and rng_shape.random() < 0.15
            else rng_shape.choice(("batch",) * 4 + ("analytics",))
        )
        home = gpu if kind == "gang" and gpu else own[dept][0]
        replicas, demand, raw = _shape(rng_shape, kind, home.nodes)
        # The gang must fit its own cluster when empty, or separate clusters could never run it.
        per_node = min(q // demand[r] for r, q in home.node_capacity if demand.get(r))
        replicas = min(replicas, home.nodes * per_node)
        drafts.append((dept, kind, t, replicas, demand, raw, home))
    jobs, achieved = _calibrate(p, drafts, horizon, _rng(p.seed, "flags"))
    jobs.sort(key=lambda j: (j.arrival_s, j.job_id))
    return Trace(
        p,
        depts,
        tuple(clusters),
        tuple(jobs),
        horizon,
        {
            "bursts": {d: r.bursts for d, r in rhythms.items()},
            "idle": {d: r.idle for d, r in rhythms.items()},
            "load_by_cluster": achieved,
            # Node-weighted: the share of the pool's dominant capacity the trace's work fills.
            "load": sum(achieved.get(c.name, 0.0) * c.nodes for c in clusters) / p.nodes,
        },
    )


def _scale(items: list[tuple[float, float]], target: float, cap: float) -> float:
    """The factor s with sum of weight x min(raw x s, cap) = target (water filling: the jobs a
    cap stops carry their remaining work to the others), or the largest useful one."""
    if sum(w for w, _ in items) * cap <= target:
        return max(cap / raw for _, raw in items)
    low, high = 0.0, 1.0
    while sum(w * min(raw * high, cap) for w, raw in items) < target:
        high *= 2
    for _ in range(60):
        mid = (low + high) / 2
        if sum(w * min(raw * mid, cap) for w, raw in items) < target:
            low = mid
        else:
            high = mid
    return high


def _calibrate(
    p: TraceParams, drafts: list[_Draft], horizon: float, rng: random.Random
) -> tuple[list[TraceJob], dict[str, float]]:
    """Scales durations per home cluster so that the work on the cluster's dominant resource
    (replicas x duration x the demand's share of the cluster) is `load` x the period, with no
    job longer than a quarter of the period. Returns the jobs and the load each cluster got
    (below `load` where too few jobs, all at the cap, cannot carry it)."""
    cap = horizon / 4
    items: dict[str, list[tuple[float, float]]] = {}
    for _, _, _, replicas, demand, raw, home in drafts:
        size = home.capacity()
        dominant = max(demand[r] / size[r] for r in demand if size.get(r))
        items.setdefault(home.name, []).append((replicas * dominant, raw))
    scale = {name: _scale(v, p.load * horizon, cap) for name, v in items.items()}
    achieved = {
        name: sum(w * min(raw * scale[name], cap) for w, raw in v) / horizon
        for name, v in items.items()
    }
    jobs = []
    for i, (dept, kind, t, replicas, demand, raw, home) in enumerate(drafts):
        duration = max(60.0, min(raw * scale[home.name], cap))
        level = rng.randint(0, home.security_level)
        jobs.append(
            TraceJob(
                job_id=f"j{i:06d}",
                department=dept,
                kind=kind,
                arrival_s=round(t, 3),
                duration_s=round(duration, 3),
                replicas=replicas,
                resources=tuple(sorted(demand.items())),
                min_security_level=level,
                xinchuang_required=home.xinchuang and rng.random() < 0.5,
                priority={"gang": 500, "analytics": 300}.get(kind, 100),
            )
        )
    return jobs, achieved
