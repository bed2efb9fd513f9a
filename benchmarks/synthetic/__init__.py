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

The parts: `city` (clusters, nodes, prices, departments, sizes), `workload` (the jobs, their
calibration and quotas, the `Problem`), `churn` (the next cycle, for warm starts).
"""

from benchmarks.synthetic.churn import churn
from benchmarks.synthetic.city import (
    CPU,
    DEPARTMENTS,
    GPU,
    GPUS_PER_NODE,
    MEM,
    NODE_TYPES,
    RESOURCES,
    SIZES,
    City,
    Cluster,
    Department,
    Spec,
    build_city,
    spec_for,
)
from benchmarks.synthetic.workload import generate

__all__ = [
    "CPU",
    "DEPARTMENTS",
    "GPU",
    "GPUS_PER_NODE",
    "MEM",
    "NODE_TYPES",
    "RESOURCES",
    "SIZES",
    "City",
    "Cluster",
    "Department",
    "Spec",
    "build_city",
    "churn",
    "generate",
    "spec_for",
]
