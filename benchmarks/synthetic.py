"""Seeded city workloads (政务算力统筹): clusters of a city's departments and the jobs they queue.

`generate(size, seed)` returns a v2 `Problem`; the same (size, seed) always gives the same
problem. Resources are cpu (millicores), memory (MiB) and gpu (thousandths of a device).

The city: clusters of different sizes in a few districts, each with a 等保 level (1-4), 信创 or
not, general CPU nodes, some large-memory nodes and GPU nodes of one model per cluster (A100 or
H800; 信创 clusters have 昇腾 910B). A few clusters are AI centres (智算中心) holding most GPUs.

The work: departments (公安局, 交通局, 卫健委, 大数据局, ...) submit four kinds of job:
small CPU batch (1 replica, 0.5-4 cores), large-memory analytics (64-512 GiB), GPU training gangs
(2-8 replicas x 1-8 whole GPUs, one cluster) and fractional-GPU inference (1/4 or 1/2 of a
device). Each job requires a 等保 level, may be confined to its department's district(s), may
require 信创, and GPU jobs allow a set of GPU models. GPU nodes are tainted for GPU work only
(the usual Kubernetes practice), so CPU jobs and GPU jobs compete in two separate pools.

Calibration: in each pool the dominant resource (the one with the highest demand / capacity)
is brought to `demand_ratio` (1.3) of capacity. The GPU pool is filled job by job until its GPU
demand reaches the target; in the CPU pool a feedback rule picks batch or analytics for each
next job so that the last job lands on the target (see `_cpu_jobs`). Every job is shrunk, if
needed, to fit its largest eligible node (and a gang its largest eligible cluster): the benchmark
measures contention, not jobs that could never run.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from scheduler.placement.model import Override, Problem, Quota, Solution

RESOURCES = ("cpu", "memory", "gpu")
CPU, MEM, GPU = 0, 1, 2
CORE = 1000  # millicores
GIB = 1024  # MiB
DEVICE = 1000  # thousandths of a GPU
GPUS_PER_NODE = 8

# Node types (Problem.node_type): general, large-memory, and one per GPU model.
NODE_TYPES = ("cpu", "bigmem", "A100", "H800", "910B")
T_CPU, T_BIGMEM = 0, 1
GPU_MODELS = ("A100", "H800", "910B")
_MODEL_TYPE = {"A100": 2, "H800": 3, "910B": 4}
# GPU node shapes (cores, GiB) by model: host CPUs and memory sized for 8 devices.
_GPU_NODE = {"A100": (128, 1024), "H800": (192, 2048), "910B": (192, 1536)}
_CPU_NODE = ((64, 256), (96, 384), (128, 512))
_CPU_NODE_XC = ((96, 384), (128, 512))  # 鲲鹏 / 海光 servers
_BIGMEM_NODE = ((96, 1536), (128, 2048))
REGIONS = ("城北", "城南", "城东", "城西", "新区", "高新区", "临港", "空港")
_LEVEL_WEIGHTS = ((1, 0.10), (2, 0.30), (3, 0.45), (4, 0.15))


@dataclass(frozen=True)
class Department:
    """A department's share of the city's work and the constraints its jobs carry."""

    name: str
    weight: float  # relative share of the jobs
    levels: tuple[int, ...]  # required 等保 level of a job, drawn uniformly
    xinchuang: float  # share of its jobs that must run on 信创
    local: float  # share of its jobs confined to its home district(s)
    priority: int  # base priority, 0..1000
    gpu: float  # relative propensity for GPU work


DEPARTMENTS = (
    Department("公安局", 1.6, (3, 3, 4), 0.3, 0.5, 700, 1.5),
    Department("大数据局", 2.0, (2, 3), 0.4, 0.1, 400, 1.2),
    Department("交通局", 1.0, (2, 3), 0.1, 0.3, 500, 1.0),
    Department("卫健委", 1.0, (3,), 0.2, 0.4, 600, 0.8),
    Department("应急管理局", 0.5, (3,), 0.2, 0.2, 800, 0.5),
    Department("气象局", 0.6, (2,), 0.0, 0.0, 500, 2.0),
    Department("教育局", 0.8, (1, 2), 0.1, 0.2, 300, 0.5),
    Department("人社局", 0.7, (3,), 0.3, 0.3, 400, 0.2),
    Department("市场监管局", 0.6, (2, 3), 0.2, 0.2, 400, 0.3),
    Department("生态环境局", 0.5, (2,), 0.1, 0.2, 300, 0.6),
    Department("规划和自然资源局", 0.5, (2,), 0.1, 0.3, 300, 0.8),
    Department("城市管理局", 0.5, (2,), 0.1, 0.3, 300, 0.7),
)

# Per-replica shapes (cores, GiB), drawn uniformly. Batch memory is 2-8 GiB per core;
# analytics cores follow memory at 4-16 GiB per core, clamped to 8-64 cores.
BATCH_SHAPES = tuple((c / 2, c / 2 * m) for c in range(1, 9) for m in (2, 4, 8))
ANALYTICS_SHAPES = tuple(
    (min(64, max(8, mem // ratio)), mem)
    for mem in (64, 128, 192, 256, 384, 512)
    for ratio in (4, 8, 16)
)
# Training: whole GPUs per replica, with 12 cores and 96 GiB of host per GPU.
TRAINING_GPUS = (1, 2, 4, 8)
TRAINING_GPU_WEIGHTS = (0.2, 0.3, 0.3, 0.2)
# Inference: (share of one device, cores, GiB) per replica.
INFERENCE_SHAPES = tuple((s, c, m) for s in (250, 500) for c in (2, 4) for m in (16, 32))
# GPU models a job's code runs on: CUDA only, 昇腾 (CANN) only, or portable; by job kind.
_CUDA, _ASCEND = frozenset({"A100", "H800"}), frozenset({"910B"})
_MODEL_CHOICES: dict[str, tuple[tuple[frozenset[str] | None, float], ...]] = {
    "training": ((_CUDA, 0.6), (_ASCEND, 0.2), (None, 0.2)),
    "inference": ((_CUDA, 0.4), (_ASCEND, 0.3), (None, 0.3)),
}
# Priority offset by kind: online inference above batch work; then rounded to a level of 100.
_KIND_PRIORITY = {"batch": -200, "analytics": 0, "training": 0, "inference": 200}


@dataclass(frozen=True)
class Spec:
    """Size and mix of a synthetic city (all shares are fractions of 1)."""

    name: str
    jobs: int
    nodes: int
    clusters: int
    regions: int = 4
    departments: int = 8
    demand_ratio: float = 1.3  # demand / capacity of the dominant resource, per pool
    gpu_node_share: float = 0.15  # share of nodes that are GPU nodes
    ai_cluster_share: float = 0.2  # share of clusters that are AI centres
    xinchuang_share: float = 0.3  # share of clusters that are 信创
    bigmem_share: float = 0.1  # share of a cluster's CPU nodes with large memory
    training_share: float = 0.7  # share of GPU demand from training gangs
    quota_probability: float = 0.5  # chance that a seed's city has department quotas

    def __post_init__(self) -> None:
        if self.jobs < 1 or self.nodes < 1:
            raise ValueError(f"spec {self.name}: jobs and nodes must be >= 1")
        if not 1 <= self.clusters <= self.nodes:
            raise ValueError(f"spec {self.name}: clusters must be in 1..nodes")
        if not 1 <= self.regions <= len(REGIONS):
            raise ValueError(f"spec {self.name}: regions must be in 1..{len(REGIONS)}")
        if not 1 <= self.departments <= len(DEPARTMENTS):
            raise ValueError(f"spec {self.name}: departments must be in 1..{len(DEPARTMENTS)}")
        if self.demand_ratio <= 0:
            raise ValueError(f"spec {self.name}: demand_ratio must be > 0")


SIZES = {
    "S": Spec("S", jobs=1_000, nodes=100, clusters=5, regions=3, departments=6),
    "M": Spec("M", jobs=10_000, nodes=1_000, clusters=20, regions=5, departments=10),
    "L": Spec("L", jobs=100_000, nodes=5_000, clusters=50, regions=6, departments=12),
}


def spec_for(size: str | Spec) -> Spec:
    """The named size (S, M, L) or the spec itself."""
    if isinstance(size, Spec):
        return size
    try:
        return SIZES[size.upper()]
    except KeyError:
        raise ValueError(f"unknown size {size!r}; known: {', '.join(SIZES)}") from None


def _rng(seed: int, stream: str) -> random.Random:
    # Independent streams: changing how quotas are drawn leaves clusters and jobs unchanged.
    # Seeding with a str is stable across runs and Python builds (hashed with SHA-512).
    return random.Random(f"suanchou-synthetic:{seed}:{stream}")


# -- the city ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cluster:
    """A cluster's attributes, which decide eligibility, and where its nodes are."""

    name: str
    region: int
    level: int
    xinchuang: bool
    gpu_model: str
    cpu_nodes: range  # node indices; general and large-memory nodes
    gpu_nodes: range


@dataclass(frozen=True)
class City:
    """The clusters and the node columns of the Problem."""

    clusters: tuple[Cluster, ...]
    node_capacity: tuple[tuple[int, ...], ...]
    node_type: tuple[int, ...]
    node_group: tuple[int, ...]
    node_names: tuple[str, ...]
    group_cost: tuple[tuple[int, ...], ...]


def _split(total: int, parts: int, rng: random.Random, minimum: int) -> list[int]:
    """`total` split into `parts` skewed sizes, each >= minimum, largest first."""
    weights = [rng.lognormvariate(0.0, 0.7) for _ in range(parts)]
    spare = total - minimum * parts
    raw = [spare * w / sum(weights) for w in weights]
    sizes = [minimum + math.floor(x) for x in raw]
    # Largest remainder: the rounding leftovers go to the parts that lost the most.
    by_remainder = sorted(range(parts), key=lambda i: raw[i] - math.floor(raw[i]), reverse=True)
    for i in by_remainder[: total - sum(sizes)]:
        sizes[i] += 1
    return sorted(sizes, reverse=True)


def _gpu_counts(spec: Spec, sizes: list[int], ai: list[bool]) -> list[int]:
    """GPU nodes per cluster: a few in general clusters, the rest in the AI centres."""
    target = round(spec.nodes * spec.gpu_node_share)
    counts = [0 if a else math.floor(s * 0.05) for s, a in zip(sizes, ai, strict=True)]
    # The AI centres share the rest in proportion to their size (so the 信创 one gets 910Bs)...
    ai_nodes = sum(s for s, a in zip(sizes, ai, strict=True) if a)
    rest = max(0, target - sum(counts))
    for i, size in enumerate(sizes):
        if ai[i]:
            counts[i] = min(math.floor(size * 0.8), rest * size // ai_nodes)
    # ... and rounding leftovers fill AI centres up to 80%, then general clusters up to 30%.
    for cap, wanted in ((0.8, True), (0.3, False)):
        for i, size in enumerate(sizes):
            if ai[i] == wanted and sum(counts) < target:
                room = math.floor(size * cap) - counts[i]
                counts[i] += max(0, min(room, target - sum(counts)))
    return counts


def _cluster_roles(
    spec: Spec, rng: random.Random
) -> tuple[list[int], list[bool], list[bool], list[int]]:
    """Sizes, AI-centre flags, 信创 flags and 等保 levels; the largest clusters get fixed roles
    so that every city has an AI centre, a 信创 AI centre (910B) and a level-4 cluster."""
    n = spec.clusters
    # Every cluster gets a few nodes (2, or 1 if there are not enough), a quarter of a fair
    # share at most; the rest follows the skewed weights.
    sizes = _split(spec.nodes, n, rng, minimum=max(min(2, spec.nodes // n), spec.nodes // (4 * n)))
    ai = [rng.random() < spec.ai_cluster_share for _ in range(n)]
    xc = [rng.random() < spec.xinchuang_share for _ in range(n)]
    levels = rng.choices([lv for lv, _ in _LEVEL_WEIGHTS], [w for _, w in _LEVEL_WEIGHTS], k=n)
    for i, (is_ai, is_xc, level) in enumerate(
        ((True, False, 3), (True, True, 3), (False, False, 4))
    ):
        if i < n:
            ai[i], xc[i], levels[i] = is_ai, is_xc, level
    return sizes, ai, xc, levels


def build_city(spec: Spec, seed: int) -> City:
    """Clusters and nodes, laid out cluster by cluster (CPU, large-memory, then GPU nodes)."""
    rng = _rng(seed, "city")
    sizes, ai, xc, levels = _cluster_roles(spec, rng)
    gpu_counts = _gpu_counts(spec, sizes, ai)
    regions = [g % spec.regions for g in range(spec.clusters)]
    rng.shuffle(regions)
    capacity: list[tuple[int, ...]] = []
    node_type: list[int] = []
    node_group: list[int] = []
    names: list[str] = []
    clusters: list[Cluster] = []
    costs: list[tuple[int, ...]] = []
    for g, size in enumerate(sizes):
        model = "910B" if xc[g] else rng.choice(("A100", "A100", "H800"))
        cpu_shape = rng.choice(_CPU_NODE_XC if xc[g] else _CPU_NODE)
        n_cpu = size - gpu_counts[g]
        n_big = math.floor(n_cpu * spec.bigmem_share) if n_cpu >= 8 else 0
        shapes = [(T_CPU, cpu_shape, 0)] * (n_cpu - n_big)
        shapes += [(T_BIGMEM, rng.choice(_BIGMEM_NODE), 0)] * n_big
        shapes += [(_MODEL_TYPE[model], _GPU_NODE[model], GPUS_PER_NODE)] * gpu_counts[g]
        name = f"{REGIONS[regions[g]]}-{'智算' if ai[g] else '政务云'}-{g:02d}"
        first = len(capacity)
        for i, (kind, (cores, gib), devices) in enumerate(shapes):
            capacity.append((cores * CORE, gib * GIB, devices * DEVICE))
            node_type.append(kind)
            node_group.append(g)
            names.append(f"{name}-n{i:04d}")
        split = first + n_cpu
        clusters.append(
            Cluster(
                name,
                regions[g],
                levels[g],
                xc[g],
                model,
                range(first, split),
                range(split, first + size),
            )
        )
        costs.append(_prices(rng, levels[g], xc[g], size, model))
    return City(
        tuple(clusters),
        tuple(capacity),
        tuple(node_type),
        tuple(node_group),
        tuple(names),
        tuple(costs),
    )


def _prices(
    rng: random.Random, level: int, xinchuang: bool, size: int, model: str
) -> tuple[int, ...]:
    """Price per unit per replica: 1 core ~ 4 GiB ~ 1/25 GPU, as in public cloud price lists;
    higher 等保 levels cost more, 信创 is subsidised, large clusters are cheaper per unit."""
    factor = (
        (1 + 0.1 * (level - 2)) * (0.85 if xinchuang else 1.0) * (1.2 - 0.2 * min(size, 200) / 200)
    )
    factor *= rng.uniform(0.9, 1.1)
    gpu_factor = {"A100": 1.0, "H800": 1.4, "910B": 0.8}[model]
    return (
        max(1, round(16 * factor)),
        max(1, round(4 * factor)),
        max(1, round(400 * factor * gpu_factor)),
    )


# -- eligibility ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Need:
    """What a job requires of a cluster; jobs with equal needs share one node set."""

    gpu: bool  # GPU pool (tainted GPU nodes) or CPU pool
    level: int
    regions: frozenset[int] | None  # None: any district
    xinchuang: bool
    models: frozenset[str] | None  # None: any GPU model

    def relaxed(self) -> _Need | None:
        """The next weaker need, for needs no cluster meets: widen district, then model, then
        drop 信创, then lower the level (a department's admin would do the same)."""
        if self.regions is not None:
            return dataclasses.replace(self, regions=None)
        if self.models is not None:
            return dataclasses.replace(self, models=None)
        if self.xinchuang:
            return dataclasses.replace(self, xinchuang=False)
        if self.level > 1:
            return dataclasses.replace(self, level=self.level - 1)
        return None


@dataclass(frozen=True)
class _Eligible:
    """A node set and the largest job it can hold (to shrink jobs that could never fit)."""

    index: int
    max_node: tuple[int, ...]  # capacity of the node with the most memory
    max_gpu_nodes: int  # most GPU nodes in one cluster of the set


class _NodeSets:
    """Node sets by need, shared and deduplicated; each is ascending node indices."""

    def __init__(self, city: City) -> None:
        self._city = city
        self._by_need: dict[_Need, tuple[_Eligible, bool]] = {}
        self._by_nodes: dict[tuple[int, ...], int] = {}
        self.sets: list[tuple[int, ...]] = []
        self.relaxed_jobs = 0

    def _nodes(self, need: _Need) -> tuple[list[int], int]:
        nodes: list[int] = []
        most_gpu_nodes = 0
        for c in self._city.clusters:
            if c.level < need.level or (need.xinchuang and not c.xinchuang):
                continue
            if need.regions is not None and c.region not in need.regions:
                continue
            if not need.gpu:
                nodes.extend(c.cpu_nodes)
            elif need.models is None or c.gpu_model in need.models:
                nodes.extend(c.gpu_nodes)
                most_gpu_nodes = max(most_gpu_nodes, len(c.gpu_nodes))
        return nodes, most_gpu_nodes

    def lookup(self, need: _Need) -> _Eligible:
        cached = self._by_need.get(need)
        if cached is None:
            cached = self._resolve(need)
            self._by_need[need] = cached
        eligible, relaxed = cached
        self.relaxed_jobs += relaxed
        return eligible

    def _resolve(self, need: _Need) -> tuple[_Eligible, bool]:
        current: _Need | None = need
        while current is not None:
            nodes, most_gpu_nodes = self._nodes(current)
            if nodes:
                key = tuple(nodes)
                index = self._by_nodes.setdefault(key, len(self.sets))
                if index == len(self.sets):
                    self.sets.append(key)
                cap = self._city.node_capacity
                biggest = max(nodes, key=lambda n: (cap[n][MEM], cap[n][CPU]))
                return _Eligible(index, cap[biggest], most_gpu_nodes), current != need
            current = current.relaxed()
        raise ValueError(f"no node at all in the {'GPU' if need.gpu else 'CPU'} pool")


# -- jobs -----------------------------------------------------------------------------------------


@dataclass
class _Jobs:
    """Jobs under construction; demand tuples are interned (most batch shapes repeat)."""

    demand: list[tuple[int, ...]] = dataclasses.field(default_factory=list)
    replicas: list[int] = dataclasses.field(default_factory=list)
    priority: list[int] = dataclasses.field(default_factory=list)
    nodes: list[int] = dataclasses.field(default_factory=list)
    department: list[int] = dataclasses.field(default_factory=list)
    _interned: dict[tuple[int, ...], tuple[int, ...]] = dataclasses.field(default_factory=dict)

    def add(
        self, demand: tuple[int, ...], replicas: int, priority: int, nodes: int, dept: int
    ) -> None:
        self.demand.append(self._interned.setdefault(demand, demand))
        self.replicas.append(replicas)
        self.priority.append(priority)
        self.nodes.append(nodes)
        self.department.append(dept)

    def total(self, resource: int) -> int:
        return sum(d[resource] * r for d, r in zip(self.demand, self.replicas, strict=True))


class _Workload:
    """Draws departments, needs and shapes; shared by the GPU and the CPU pool."""

    def __init__(self, spec: Spec, city: City, rng: random.Random) -> None:
        self.rng = rng
        self.depts = DEPARTMENTS[: spec.departments]
        self.home = [rng.randrange(spec.regions) for _ in self.depts]
        self.regions = spec.regions
        self.node_sets = _NodeSets(city)
        self.jobs = _Jobs()
        cpu_weights = [d.weight for d in self.depts]
        gpu_weights = [d.weight * d.gpu for d in self.depts]
        self._cum = {
            False: list(_accumulate(cpu_weights)),
            True: list(_accumulate(gpu_weights)),
        }

    def _need(self, dept: int, kind: str) -> _Need:
        d, rng = self.depts[dept], self.rng
        regions: frozenset[int] | None = None
        if rng.random() < d.local:
            home = self.home[dept]
            pair = rng.random() < 0.3 and self.regions > 1
            regions = frozenset({home, (home + 1) % self.regions} if pair else {home})
        xinchuang = rng.random() < d.xinchuang
        models: frozenset[str] | None = None
        if kind in _MODEL_CHOICES and not xinchuang:  # 信创 clusters only have 910B anyway
            options = _MODEL_CHOICES[kind]
            models = rng.choices([m for m, _ in options], [w for _, w in options])[0]
        gpu = kind in _MODEL_CHOICES
        return _Need(gpu, rng.choice(d.levels), regions, xinchuang, models)

    def _priority(self, dept: int, kind: str) -> int:
        raw = self.depts[dept].priority + _KIND_PRIORITY[kind]
        if self.rng.random() < 0.3:  # a few jobs are marked up or down by their owners
            raw += self.rng.choice((-100, 100))
        return min(1000, max(0, round(raw / 100) * 100))

    def add(self, kind: str) -> tuple[int, ...]:
        """Draws one job of `kind`, appends it, returns its total demand (replicas x demand)."""
        rng = self.rng
        dept = rng.choices(range(len(self.depts)), cum_weights=self._cum[kind in _MODEL_CHOICES])[0]
        eligible = self.node_sets.lookup(self._need(dept, kind))
        big = eligible.max_node
        replicas = 1
        if kind == "batch":
            cores, gib = rng.choice(BATCH_SHAPES)
            demand = (round(cores * CORE), round(gib * GIB), 0)
        elif kind == "analytics":
            cores, gib = rng.choice(ANALYTICS_SHAPES)
            demand = (min(cores * CORE, big[CPU]), min(gib * GIB, big[MEM]), 0)
        elif kind == "training":
            gpus = rng.choices(TRAINING_GPUS, TRAINING_GPU_WEIGHTS)[0]
            replicas = rng.randint(2, 8)
            replicas, gpus = _fit_gang(replicas, gpus, eligible.max_gpu_nodes)
            demand = (gpus * 12 * CORE, gpus * 96 * GIB, gpus * DEVICE)
        else:
            replicas = rng.randint(1, 4)
            share, cores, gib = rng.choice(INFERENCE_SHAPES)
            demand = (cores * CORE, gib * GIB, share)
        self.jobs.add(demand, replicas, self._priority(dept, kind), eligible.index, dept)
        return tuple(q * replicas for q in demand)


def _accumulate(values: Sequence[float]) -> Sequence[float]:
    total, out = 0.0, []
    for v in values:
        total += v
        out.append(total)
    return out


def _fit_gang(replicas: int, gpus: int, gpu_nodes: int) -> tuple[int, int]:
    """Shrinks a training gang until it fits the GPU nodes of one eligible cluster: fewer
    replicas (at least 2), then fewer GPUs per replica."""
    if gpu_nodes < 1:
        raise ValueError("a GPU node set without GPU nodes")
    while replicas > (fit := gpu_nodes * (GPUS_PER_NODE // gpus)):
        if fit >= 2:
            replicas = fit
        else:  # one node that holds one replica of this size: halve the GPUs (1 GPU fits 8)
            gpus //= 2
    return replicas, gpus


def _gpu_jobs(work: _Workload, gpu_capacity: int, spec: Spec) -> None:
    """Training gangs, then inference, each until its share of the GPU target is reached; a
    job that would overshoot by more than half of itself is left out (the target is met within
    half a job either way)."""
    target = spec.demand_ratio * gpu_capacity
    added = 0.0
    for kind, share in (("training", spec.training_share), ("inference", 1.0)):
        while added < target * share and len(work.jobs.demand) < spec.jobs:
            before = len(work.jobs.demand)
            gpu = work.add(kind)[GPU]
            if added + gpu / 2 > target * share:
                _drop_last(work.jobs, before)
                break
            added += gpu


def _drop_last(jobs: _Jobs, keep: int) -> None:
    for column in (jobs.demand, jobs.replicas, jobs.priority, jobs.nodes, jobs.department):
        del column[keep:]


def _mean(shapes: Sequence[tuple[float, float]], index: int, unit: int) -> float:
    return sum(s[index] for s in shapes) * unit / len(shapes)


def _cpu_jobs(work: _Workload, capacity: tuple[int, int], count: int, ratio: float) -> None:
    """`count` batch or analytics jobs; each next job is analytics with the probability that
    makes the remaining jobs meet the remaining target on average, on whichever of cpu and
    memory is nearer its target (the dominant one). The rule corrects its own drift, so the
    last jobs land on the target however the earlier draws went."""
    batch = (_mean(BATCH_SHAPES, 0, CORE), _mean(BATCH_SHAPES, 1, GIB))
    analytics = (_mean(ANALYTICS_SHAPES, 0, CORE), _mean(ANALYTICS_SHAPES, 1, GIB))
    remaining = [ratio * capacity[CPU], ratio * capacity[MEM]]
    for i in range(count):
        left = count - i
        p = min((remaining[r] / left - batch[r]) / (analytics[r] - batch[r]) for r in (CPU, MEM))
        total = work.add("analytics" if work.rng.random() < p else "batch")
        remaining[CPU] -= total[CPU]
        remaining[MEM] -= total[MEM]


# -- quotas --------------------------------------------------------------------------------------


def _quotas(jobs: _Jobs, capacity: Sequence[int], rng: random.Random) -> tuple[Quota, ...]:
    """Kueue-style quotas: nominal shares sum to the pool's capacity and follow each
    department's demand only roughly (budgets are political); borrowing adds 20-60%."""
    depts = max(jobs.department) + 1
    demand = [[0] * len(RESOURCES) for _ in range(depts)]
    for d, q, reps in zip(jobs.department, jobs.demand, jobs.replicas, strict=True):
        for r in range(len(RESOURCES)):
            demand[d][r] += q[r] * reps
    quotas = []
    for r in range(len(RESOURCES)):
        weights = [demand[d][r] * rng.uniform(0.7, 1.3) for d in range(depts)]
        for d in range(depts):
            if demand[d][r] > 0:
                nominal = math.floor(capacity[r] * weights[d] / sum(weights))
                borrow = math.floor(nominal * rng.uniform(0.2, 0.6))
                quotas.append(Quota(d, r, nominal, borrow))
    return tuple(quotas)


# -- the problem -----------------------------------------------------------------------------------


def _pool_capacity(city: City, gpu: bool) -> tuple[int, ...]:
    total = [0] * len(RESOURCES)
    for c in city.clusters:
        for n in c.gpu_nodes if gpu else c.cpu_nodes:
            for r, q in enumerate(city.node_capacity[n]):
                total[r] += q
    return tuple(total)


def _ratio(demand: int, capacity: int) -> str:
    return f"{demand / capacity:.3f}" if capacity else "n/a"


def generate(size: str | Spec, seed: int) -> Problem:
    """The synthetic city of `size` (S, M, L or a Spec) for `seed`; deterministic."""
    spec = spec_for(size)
    city = build_city(spec, seed)
    work = _Workload(spec, city, _rng(seed, "jobs"))
    gpu_pool, cpu_pool = _pool_capacity(city, gpu=True), _pool_capacity(city, gpu=False)
    _gpu_jobs(work, gpu_pool[GPU], spec)
    gpu_jobs = work.jobs.total(CPU), work.jobs.total(MEM)
    _cpu_jobs(
        work, (cpu_pool[CPU], cpu_pool[MEM]), spec.jobs - len(work.jobs.demand), spec.demand_ratio
    )
    jobs = work.jobs
    # Interleave the pools: job index (and FIFO order) says nothing about the kind of job.
    order = list(range(len(jobs.demand)))
    _rng(seed, "order").shuffle(order)

    def take(column: list[int]) -> tuple[int, ...]:
        return tuple(column[j] for j in order)

    capacity = [sum(c[r] for c in city.node_capacity) for r in range(len(RESOURCES))]
    quota_rng = _rng(seed, "quotas")
    quotas = (
        _quotas(jobs, capacity, quota_rng) if quota_rng.random() < spec.quota_probability else ()
    )
    meta = {
        "track": "synthetic",
        "instance": f"{spec.name}-seed{seed}",
        "size": spec.name,
        "seed": str(seed),
        "quotas": "on" if quotas else "off",
        "departments": ",".join(d.name for d in work.depts),
        "node_types": ",".join(NODE_TYPES),
        "units": "cpu=millicore,memory=MiB,gpu=1/1000 device",
        "ratio_cpu_pool_cpu": _ratio(jobs.total(CPU) - gpu_jobs[0], cpu_pool[CPU]),
        "ratio_cpu_pool_memory": _ratio(jobs.total(MEM) - gpu_jobs[1], cpu_pool[MEM]),
        "ratio_gpu_pool_gpu": _ratio(jobs.total(GPU), gpu_pool[GPU]),
        "relaxed_jobs": str(work.node_sets.relaxed_jobs),
    }
    return Problem(
        resources=RESOURCES,
        node_capacity=city.node_capacity,
        node_group=city.node_group,
        group_cost=city.group_cost,
        node_sets=tuple(work.node_sets.sets),
        job_demand=tuple(jobs.demand[j] for j in order),
        job_replicas=take(jobs.replicas),
        job_priority=take(jobs.priority),
        job_order=tuple(range(len(order))),
        job_nodes=take(jobs.nodes),
        node_type=city.node_type,
        node_devices=tuple(c[GPU] // DEVICE for c in city.node_capacity),
        gpu_resource=GPU,
        job_department=take(jobs.department),
        quotas=quotas,
        node_names=city.node_names,
        group_names=tuple(c.name for c in city.clusters),
        meta=tuple(meta.items()),
    )


# -- the next cycle ------------------------------------------------------------------------------


def churn(p: Problem, solution: Solution, fraction: float, seed: int) -> tuple[Problem, Solution]:
    """The next cycle after `solution`: its placed jobs now run (job_current), `fraction` of
    all jobs finished (drawn among the running ones) and as many new ones arrived (copies of
    jobs drawn from the whole workload: same shape, department and node set, so the mix stays
    the same). Returns the problem and the warm start: the running jobs where they are, every
    queued or new job unplaced. Survivors keep their index order; arrivals come last."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in 0..1, got {fraction}")
    if len(solution.assignment) != p.num_jobs:
        raise ValueError("solution does not match the problem's jobs")
    rng = _rng(seed, "churn")
    running = [j for j, a in enumerate(solution.assignment) if a is not None]
    count = min(len(running), round(fraction * p.num_jobs))
    finished = set(rng.sample(running, count))
    survivors = [j for j in range(p.num_jobs) if j not in finished]
    arrivals = [rng.randrange(p.num_jobs) for _ in range(count)]
    source = survivors + arrivals  # the job each new index copies
    new_index = {old: new for new, old in enumerate(survivors)}

    def column(values: Sequence[int]) -> tuple[int, ...]:
        return tuple(values[j] for j in source) if values else ()

    current = tuple(solution.assignment[j] for j in survivors) + (None,) * count
    devices = solution.devices
    warm_devices = tuple(devices[j] for j in survivors) + (None,) * count if devices else ()
    first_new = max(p.job_order, default=-1) + 1
    nxt = dataclasses.replace(
        p,
        job_demand=tuple(p.job_demand[j] for j in source),
        job_replicas=column(p.job_replicas),
        job_priority=column(p.job_priority),
        job_order=tuple(p.job_order[j] for j in survivors)
        + tuple(range(first_new, first_new + count)),
        job_nodes=column(p.job_nodes),
        job_required=tuple(p.job_required[j] for j in source) if p.job_required else (),
        job_current=current,
        job_move_cost=column(p.job_move_cost),
        job_preempt_cost=column(p.job_preempt_cost),
        job_department=column(p.job_department),
        job_names=_churned_names(p.job_names, survivors, arrivals),
        overrides=_churned_overrides(p, new_index, arrivals, len(survivors)),
        services=tuple(
            dataclasses.replace(s, jobs=tuple(new_index[j] for j in s.jobs if j in new_index))
            for s in p.services
        ),
        meta=(*p.meta, ("churn", f"{fraction:g}"), ("churn_seed", str(seed))),
    )
    return nxt, Solution(assignment=current, devices=warm_devices)


def _churned_names(
    names: tuple[str, ...], survivors: list[int], arrivals: list[int]
) -> tuple[str, ...]:
    if not names:
        return ()
    return tuple(names[j] for j in survivors) + tuple(
        f"{names[j]}+{k}" for k, j in enumerate(arrivals)
    )


def _churned_overrides(
    p: Problem, new_index: dict[int, int], arrivals: list[int], first_arrival: int
) -> tuple[Override, ...]:
    """Overrides follow their job to its new index; an arrival copies its source's."""
    by_job: dict[int, list[Override]] = {}
    for o in p.overrides:
        by_job.setdefault(o.job, []).append(o)
    kept = [dataclasses.replace(o, job=new_index[o.job]) for o in p.overrides if o.job in new_index]
    for k, j in enumerate(arrivals):
        kept += [dataclasses.replace(o, job=first_arrival + k) for o in by_job.get(j, ())]
    return tuple(kept)
