"""Money-tier preferences between nodes the engine may choose, as node types and overrides
(placement Problem.node_type / overrides): never a reason to leave a job unplaced (work
outweighs every cost), only which room a job takes when it has a choice.

- 信创 preference (Constraints.xinchuang_preferred): a replica on a non-信创 cluster costs more
  than on the dearest cluster, so the solver takes a 信创 cluster whenever one has room.
- GPU packing: a GPU job that does not fill a node costs more on a GPU node nothing runs on
  than on any node already in use, so small GPU work fills partly used nodes first and whole
  nodes stay free for the gangs that need them (Kubernetes' MostAllocated scoring, Volcano's
  binpack); an eviction cannot earn it (the node's type is fixed for the cycle). The 信创
  preference outweighs it: a preferring job takes an empty 信创 node before a used non-信创 one.

Node type bits: NOT_XINCHUANG (a non-信创 node, set only when some job prefers 信创) and
EMPTY_GPU (a GPU node without any active run). Type 0 keeps the clusters' prices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from scheduler.domain.models import Cluster, Job, Node
from scheduler.domain.resources import NVIDIA_GPU
from scheduler.placement import Override
from scheduler.placement.validate import MAX_COST

NOT_XINCHUANG = 1
EMPTY_GPU = 2


def node_preferences(
    jobs: Sequence[Job],
    nodes: Sequence[Node],
    clusters: Mapping[str, Cluster],
    group_cost: Sequence[Sequence[int]],
    demand: Sequence[Sequence[int]],
    used: Mapping[tuple[str, str], Mapping[str, int]],
    pack_gpus: bool = True,
) -> tuple[tuple[int, ...], tuple[Override, ...]]:
    """node_type per node and the overrides of the queued `jobs` (index j = job j); empty
    when no job has a preference among nodes that differ."""
    preferring = any(job.spec.constraints.xinchuang_preferred for job in jobs)
    kinds = []
    for n in nodes:
        kind = 0
        if preferring and not clusters[n.cluster].spec.xinchuang:
            kind |= NOT_XINCHUANG
        busy = any(used.get((n.cluster, n.name), {}).values())
        if pack_gpus and n.capacity.get(NVIDIA_GPU, 0) > 0 and not busy:
            kind |= EMPTY_GPU
        kinds.append(kind)
    present = sorted(set(kinds) - {0})
    if not present:
        return (), ()
    node_gpus = max((n.capacity.get(NVIDIA_GPU, 0) for n in nodes), default=0)
    overrides = []
    for j, job in enumerate(jobs):
        xc = job.spec.constraints.xinchuang_preferred
        gpus = job.spec.resources.get(NVIDIA_GPU, 0)
        packs = 0 < gpus < node_gpus
        if not xc and not packs:
            continue
        # One unit above the most a replica can cost anywhere at the clusters' prices.
        unit = 1 + max(
            sum(d * c for d, c in zip(demand[j], row, strict=True)) for row in group_cost
        )
        for kind in present:
            extra = (2 * unit if xc and kind & NOT_XINCHUANG else 0) + (
                unit if packs and kind & EMPTY_GPU else 0
            )
            if extra:
                overrides.append(Override(job=j, node_type=kind, cost=min(MAX_COST, extra)))
    if not overrides:
        return (), ()
    return tuple(kinds), tuple(overrides)
