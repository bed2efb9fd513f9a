"""The synthetic city's layout: clusters in districts with their 等保 level, 信创 flag, node
shapes, GPU models and prices; the departments whose work fills it; and the sizes (S, M, L).

`build_city(spec, seed)` lays the nodes out cluster by cluster; the work that queues on them is
`workload.generate`'s.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

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


def seeded_rng(seed: int, stream: str) -> random.Random:
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
    rng = seeded_rng(seed, "city")
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
