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

- Cluster preference (Constraints.preferred_clusters, scheduler.domain.cluster_choice): a
  replica on the k-th preferred cluster costs 2k units more than on the first, on a cluster
  the job does not name 2n (n preferred): it outweighs GPU packing, as the 信创 preference
  does, and the two add up for a job with both. Each cluster some queued job prefers gets a
  slot in the node type; at most MAX_PREFERRED_SLOTS per cycle (the first named in queue
  order), beyond which a preferred cluster counts as unnamed this cycle (a soft preference
  degrades, nothing is refused). An override's cost is the step plus the cluster's price, so
  among the clusters of one step the job still sees price differences (clusters with a slot
  each have a type, the others one per price list; past MAX_TARIFFS the dearest share one).
- Home clusters (cluster label HOME_LABEL, scheduler.domain.cluster_choice): a job that names
  no preferred clusters prefers those its department (or an ancestor) contributed: a replica
  elsewhere costs one unit more, as much as GPU packing and less than a job's own preferences
  (信创, named clusters), which outrank the pool's choice. Home clusters take preference slots
  like named ones.
- Spare capabilities (as Slurm's node weights, where nodes with more features weigh more and
  are allocated last): a job that names no preference of its own (no preferred clusters, no
  信创 preference) pays two units per capability step a cluster offers beyond what the job
  requires, so work that does not need 等保 level 4 or 信创 hardware leaves those clusters to
  the work that does. A cluster's step is the rank of its 等保 level among the levels of the
  pool's clusters, plus one for 信创 when the pool has both kinds; a job needs the rank of the
  lowest level at or above its minimum, plus one when it requires 信创. One step outweighs
  home: a department that contributed the pool's only level-4 cluster would otherwise fill it
  with its own work of any level, and its level-4 jobs wait behind it (ten seeded city traces:
  fewer preemptions than Kueue-like on 10 of 10, benchmarks/README.md, city simulator).

Node type bits: NOT_XINCHUANG (a non-信创 node, set only when some job prefers 信创) and
EMPTY_GPU (a GPU node without any active run), then the preference slot of the node's cluster
(0: no job prefers it), then, for a cluster without a slot, its tariff (the rank of its price
list) when any cluster has a slot. A job with a preference has an override on every type but
those of no step, each the step plus the type's price.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence

from scheduler.domain.cluster_choice import choice_rank, home_clusters, job_home
from scheduler.domain.models import Cluster, Job, Node
from scheduler.domain.resources import NVIDIA_GPU
from scheduler.placement import MAX_COST, Override

NOT_XINCHUANG = 1
EMPTY_GPU = 2
_SLOT_SHIFT = 2
MAX_PREFERRED_SLOTS = 16
_SLOT_MASK = 31  # five bits hold slots 0..MAX_PREFERRED_SLOTS
# Clusters without a slot are told apart by their price list (tariff), at most MAX_TARIFFS
# (the dearest beyond share the last), so a job's preference keeps prices among them.
_TARIFF_SHIFT = 7
MAX_TARIFFS = 16
# A cluster's capability step (spare_steps) above the tariff.
_STEP_SHIFT = 12
# Units per capability step beyond a job's needs: above the home step (one unit).
SPARE_UNITS = 2


def node_preferences(
    jobs: Sequence[Job],
    nodes: Sequence[Node],
    clusters: Mapping[str, Cluster],
    group_cost: Sequence[Sequence[int]],
    demand: Sequence[Sequence[int]],
    used: Mapping[tuple[str, str], Mapping[str, int]],
    pack_gpus: bool = True,
    groups: Sequence[str] | None = None,
) -> tuple[tuple[int, ...], tuple[Override, ...]]:
    """node_type per node and the overrides of the queued `jobs` (index j = job j); empty
    when no job has a preference among nodes that differ. `group_cost` has a row per cluster
    in the order of `groups` (None: the order of `clusters`)."""
    preferring = any(job.spec.constraints.xinchuang_preferred for job in jobs)
    homes = home_clusters(clusters.values())
    # Per department, once: every job of it has the same home.
    home_of = {d: job_home(d, homes) for d in {job.department for job in jobs}}
    slots = preference_slots(jobs, {n.cluster for n in nodes}, home_of)
    row = {name: g for g, name in enumerate(groups if groups is not None else clusters)}
    tariffs = _tariffs(nodes, slots, row, group_cost) if slots else {}
    steps, need_of = spare_steps(clusters.values())
    kinds = []
    for n in nodes:
        kind = slots.get(n.cluster, 0) << _SLOT_SHIFT | tariffs.get(n.cluster, 0) << _TARIFF_SHIFT
        kind |= steps.get(n.cluster, 0) << _STEP_SHIFT
        if preferring and not clusters[n.cluster].spec.xinchuang:
            kind |= NOT_XINCHUANG
        busy = any(used.get((n.cluster, n.name), {}).values())
        if pack_gpus and n.capacity.get(NVIDIA_GPU, 0) > 0 and not busy:
            kind |= EMPTY_GPU
        kinds.append(kind)
    present = sorted(set(kinds) - {0})
    if not present:
        return (), ()
    if slots:
        present = sorted(set(kinds))  # type 0 is a cluster no job prefers: dear for those who do
    cluster_of = {slot: name for name, slot in slots.items()}
    # An override's cost replaces the cluster's price, so it carries the price back: exact for
    # a type of one cluster (a preference slot) or one tariff, else the dearest of the type's.
    # The steps are whole units above any price, so prices only order clusters of one step.
    rows: dict[int, set[int]] = {}
    for n, kind in zip(nodes, kinds, strict=True):
        rows.setdefault(kind, set()).add(row[n.cluster])
    node_gpus = max((n.capacity.get(NVIDIA_GPU, 0) for n in nodes), default=0)
    overrides = []
    for j, job in enumerate(jobs):
        xc = job.spec.constraints.xinchuang_preferred
        gpus = job.spec.resources.get(NVIDIA_GPU, 0)
        packs = 0 < gpus < node_gpus
        named = bool(job.spec.constraints.preferred_clusters)
        home = () if named else home_of[job.department]
        prefers = named or bool(home)
        # The pool's choice, as home is: a job's own preferences are never outweighed by it.
        need = None if named or xc or not steps else need_of(job)
        if not xc and not packs and not prefers and need is None:
            continue
        # One unit above the most a replica can cost anywhere at the clusters' prices.
        unit = 1 + max(
            sum(d * c for d, c in zip(demand[j], row, strict=True)) for row in group_cost
        )
        for kind in present:
            extra = (2 * unit if xc and kind & NOT_XINCHUANG else 0) + (
                unit if packs and kind & EMPTY_GPU else 0
            )
            if prefers:
                name = cluster_of.get(kind >> _SLOT_SHIFT & _SLOT_MASK, "")
                extra += (2 if named else 1) * unit * choice_rank(job, home, name)
            if need is not None:
                extra += SPARE_UNITS * unit * max(0, (kind >> _STEP_SHIFT) - need)
            if extra:
                price = max(
                    sum(d * c for d, c in zip(demand[j], group_cost[g], strict=True))
                    for g in rows[kind]
                )
                overrides.append(Override(job=j, node_type=kind, cost=min(MAX_COST, extra + price)))
    if not overrides:
        return (), ()
    return tuple(kinds), tuple(overrides)


def spare_steps(
    clusters: Iterable[Cluster],
) -> tuple[dict[str, int], Callable[[Job], int]]:
    """Each cluster's capability step (the rank of its 等保 level among the pool's levels, plus
    one for 信创 when the pool has both kinds) and a job's need on the same scale; no steps
    when every cluster offers the same."""
    cs = list(clusters)
    levels = sorted({c.spec.security_level for c in cs})
    mixed = len({c.spec.xinchuang for c in cs}) > 1
    steps = {
        c.name: levels.index(c.spec.security_level) + int(mixed and c.spec.xinchuang) for c in cs
    }
    if not any(steps.values()):
        return {}, lambda job: 0

    def need(job: Job) -> int:
        c = job.spec.constraints
        # The lowest level present at or above the job's minimum (past the top: ineligible
        # everywhere, and then any step will do).
        rank = bisect_left(levels, c.min_security_level)
        return min(rank, len(levels) - 1) + int(mixed and c.xinchuang_required)

    return steps, need


def preference_slots(
    jobs: Sequence[Job], present: set[str], home_of: Mapping[str, tuple[str, ...]]
) -> dict[str, int]:
    """Slot (1..MAX_PREFERRED_SLOTS) of each cluster with nodes that a queued job prefers
    (its named clusters, else its department's home ones: `home_of`), in queue order."""
    slots: dict[str, int] = {}
    for job in jobs:
        for name in job.spec.constraints.preferred_clusters or home_of.get(job.department, ()):
            if name in present and name not in slots and len(slots) < MAX_PREFERRED_SLOTS:
                slots[name] = len(slots) + 1
    return slots


def _tariffs(
    nodes: Sequence[Node],
    slots: Mapping[str, int],
    row: Mapping[str, int],
    group_cost: Sequence[Sequence[int]],
) -> dict[str, int]:
    """Tariff (0..MAX_TARIFFS-1) of each cluster without a preference slot: the rank of its
    price list among theirs, cheapest first (by total, then the list), the dearest merged."""
    free = sorted({n.cluster for n in nodes if n.cluster not in slots})
    prices = sorted({tuple(group_cost[row[c]]) for c in free}, key=lambda p: (sum(p), p))
    rank = {p: min(i, MAX_TARIFFS - 1) for i, p in enumerate(prices)}
    return {c: rank[tuple(group_cost[row[c]])] for c in free}
