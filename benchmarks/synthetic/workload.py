"""The synthetic city's work: jobs of four kinds drawn per department, sized to a target
contention in each pool, with Kueue-style quotas, assembled into a `Problem`.

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

from benchmarks.synthetic.city import (
    CORE,
    CPU,
    DEPARTMENTS,
    DEVICE,
    GIB,
    GPU,
    GPUS_PER_NODE,
    MEM,
    NODE_TYPES,
    RESOURCES,
    City,
    Spec,
    build_city,
    seeded_rng,
    spec_for,
)
from scheduler.placement.model import Problem, Quota

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
    work = _Workload(spec, city, seeded_rng(seed, "jobs"))
    gpu_pool, cpu_pool = _pool_capacity(city, gpu=True), _pool_capacity(city, gpu=False)
    _gpu_jobs(work, gpu_pool[GPU], spec)
    gpu_jobs = work.jobs.total(CPU), work.jobs.total(MEM)
    _cpu_jobs(
        work, (cpu_pool[CPU], cpu_pool[MEM]), spec.jobs - len(work.jobs.demand), spec.demand_ratio
    )
    jobs = work.jobs
    # Interleave the pools: job index (and FIFO order) says nothing about the kind of job.
    order = list(range(len(jobs.demand)))
    seeded_rng(seed, "order").shuffle(order)

    def take(column: list[int]) -> tuple[int, ...]:
        return tuple(column[j] for j in order)

    capacity = [sum(c[r] for c in city.node_capacity) for r in range(len(RESOURCES))]
    quota_rng = seeded_rng(seed, "quotas")
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
