"""The placement problem, full vocabulary (engine v2): index-based integer data.

One `Problem` describes one scheduling decision: where to put each replica of each job, which
running jobs stay, move or are preempted, and which queued jobs wait. The scheduler builds it
from its snapshot; the benchmark loaders (GAP, vector bin packing, ROADEF/EURO 2012, the
Alibaba GPU trace) build it from published files. Every engine, baseline, checker and evaluator
reads only this.

Indices: resources r in 0..R-1, nodes n in 0..N-1, groups (clusters) g in 0..G-1, jobs j in
0..J-1, topology keys k in 0..K-1, node types t, departments d, services s. All quantities are
non-negative integers in the builder's canonical units; sequences are tuples.

Semantics (the checker in verify.py and the evaluator in evaluator.py are the executable form):

Placement
- A job is a gang of `job_replicas[j]` identical replicas. Either every replica is placed, each on
  one node, all nodes in ONE group (`node_group`), or the job is unplaced.
- A replica may only go to a node in `node_sets[job_nodes[j]]` (eligibility, already filtered by
  the builder for 等保 level, region, 信创, labels, taints, cordons). Jobs with the same
  constraints share one node set, which keeps 100,000 jobs x 5,000 nodes small.
- Several replicas of one job may share a node unless the job is in an anti-affinity service.

Capacity
- Per node and resource: node_reserved[n][r] + sum of demands of the replicas on n <= capacity.
  `node_reserved` is usage outside the problem (system daemons, work the builder keeps fixed).
- A replica's demand is job_demand[j], unless an Override for (j, node_type[n]) gives another
  demand vector (heterogeneous hardware; generalized assignment).
- Transient resources (`transient[r]`): a replica that moves from node a to node b uses its
  demand on BOTH a and b for transient resources (ROADEF's transient usage).

GPU devices
- If `gpu_resource` >= 0, that resource is counted in thousandths of a device. A node with
  node_devices[n] = D > 0 has capacity[n][gpu_resource] == 1000 * D and D devices of 1000 each.
- A replica demanding q of it, on a node with devices: q % 1000 == 0 takes q/1000 whole devices
  (no other replica may use them); 0 < q < 1000 takes a share of ONE device; the shares on a
  device sum to at most 1000. Other q (e.g. 1500) are invalid. The answer names the devices
  (Solution.devices). Nodes with node_devices[n] == 0 treat the resource as a plain quantity.

Running work
- job_current[j] is the node of each replica of a running job (None for a queued job).
- A running job stays where it is unless it is migratable (job_move_cost[j] >= 0), then any
  replica may move (each moved replica costs job_move_cost[j], plus node_move_cost[a][b] if that
  matrix is given); or preemptible (job_preempt_cost[j] >= 0), then it may be left unplaced
  (evicted) at job_preempt_cost[j] -- only when one of two rules justifies it:
  * priority: some job k placed by this decision on one of j's former nodes (k has more
    replicas there than it had before) has rank[k] > rank[j] (rank = job_preempt_rank, by
    default job_priority), may preempt
    (job_may_preempt[k], default True) and is of j's department (job_department[k] ==
    job_department[j]); when either of the two has no department (-1) the department and
    may-preempt conditions are dropped (benchmark problems: priority alone decides);
  * reclaim: some quota q covers j -- j's department is in members(q), one of j's current
    nodes n lies in a group of groups(q) and j demands q's resource there -- and q's running
    usage exceeds its nominal: the usage of q (Quotas, below) counted over the running jobs at
    their current nodes, before this decision (q's members borrow above their guarantee, and
    the owners of the capacity take it back) -- and either some job k placed by this decision
    on one of j's former nodes with job_may_reclaim[k] (default True) is of a department
    outside members(q) (or has none: the
    capacity goes back to a lender, never to the borrower's own department, where only the
    priority rule evicts), or q's running usage also exceeds nominal + borrow_limit (a quota
    lowered below its use: the excess goes whoever takes the room).
- Reclaim stops at the borrower's nominal: for every quota q above nominal before the
  decision, the evicted running jobs q counts (their demand of q.resource at their current
  nodes, whichever rule evicted them) sum to at most excess(q) + largest(q): its running usage
  minus nominal, plus the largest such charge of one preemptible running job q counts (the
  last victim may take it below nominal by less than one job, as Kueue stops reclaiming once
  a queue no longer borrows).
- At most `max_evictions` running jobs are evicted by one decision (-1, the default: no cap).
- A replica's "move" means its node differs from job_current[j][i] (replica i; replicas of a
  job are interchangeable, so the count of moved replicas is the smallest number over
  matchings: replicas minus the size of the multiset intersection of old and new nodes).
- `job_required[j]`: the job must be placed (GAP, VBP and ROADEF make every job required); a
  problem whose required jobs cannot all be placed is infeasible.

Quotas (scoped: department subtree x cluster groups x resource)
- A quota q bounds the usage of one resource q.resource by the jobs of the departments in
  members(q) = q.members, or (q.department,) when that is empty, placed in the groups
  groups(q) = q.groups, or every group when that is empty. q.department is the owner (its name
  in explanations); a parent department's quota lists its whole subtree as members.
- usage(q) = sum over placed jobs j (running ones included) with job_department[j] in
  members(q), over the replicas of j on nodes n with node_group[n] in groups(q), of the demand
  of j on n (overrides included) of q.resource. usage(q) <= nominal + borrow_limit. Usage
  above nominal is borrowed: it is what preemption may reclaim (Running work).
- Several quotas may bound one department and resource (a parent's, a cluster group's); each
  holds. Jobs without a department (-1) count against no quota.

Services (groups of jobs with relations, e.g. ROADEF services, Kubernetes deployments)
- anti_affinity: every replica of every member job on a distinct node (ROADEF conflict).
- spread_key >= 0: member replicas cover at least spread_min distinct domains of that key
  (node_domains[n][spread_key]); only checked if the service has any placed member.
- depends_on with affinity_key: every replica of every member job shares a domain of
  affinity_key with at least one replica of each service it depends on (ROADEF dependency).

Objective (maximised; objective.md-style definition in evaluator.py):
    value = W.work * work - W.preemption * preemption - W.migration * migration
            - W.money * money - W.energy * energy - W.load * load - W.balance * balance
            - W.fragmentation * fragmentation
  work          sum over placed jobs of (priority + 1) * replicas * size, size = max(1, sum over
                resources r of ceil(SIZE_SCALE * resource_value[r] * demand_r / norm_r)): demand
                relative to the largest demand norm_r of any job per resource, SIZE_SCALE = 1000,
                weighed by `resource_value` (default 1 for every resource: size as in v1; e.g.
                GPU-weighted utilisation gives the GPU resource a high value and CPU and memory a
                low one or 0). Jobs that are `required` contribute too, but then the term is a
                constant
  preemption    sum of job_preempt_cost over evicted running jobs
  migration     sum over moved replicas of job_move_cost (+ node_move_cost[a][b])
                + service_move_weight * max over services of moved replicas in the service
  money         sum over placed replicas of (override cost if given, else
                sum_r demand_r * group_cost[group][r])
  energy        sum of node_open_cost over nodes hosting at least one replica
  load          sum over nodes and resources of load_weight[r] * max(0, used - node_safety),
                where used = node_reserved + demands of the replicas now on the node (as in
                ROADEF: without the transient double use of moved replicas)
  balance       sum over Balance b and nodes of b.weight * max(0, b.target * avail(r1) - avail(r2)),
                avail = capacity - used
  fragmentation number of devices partly used (0 < used share < 1000)
Weights come from SolveParams.weights (ObjectiveWeights); `work=None` (default) means "large
enough that one unit of work outweighs every cost term", making the order lexicographic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Override:
    """Demand and/or placement cost of job `job` on nodes of type `node_type`.

    `demand` replaces job_demand[job] on those nodes (None keeps it); `cost` replaces the
    group-price cost of one replica there (None keeps it).
    """

    job: int
    node_type: int
    demand: tuple[int, ...] | None = None
    cost: int | None = None


@dataclass(frozen=True)
class Quota:
    """The jobs of `members` (default: `department` alone) placed in `groups` (default: every
    group) use at most nominal + borrow_limit of `resource` (module docstring, Quotas).

    `department` owns the quota (explanations name it); `groups` and `members` are ascending
    and free of repeats.
    """

    department: int
    resource: int
    nominal: int
    borrow_limit: int = 0
    groups: tuple[int, ...] = ()  # cluster groups covered; () = every group
    members: tuple[int, ...] = ()  # departments whose jobs count; () = (department,)

    def member_departments(self) -> tuple[int, ...]:
        """The departments whose jobs count against this quota."""
        return self.members or (self.department,)


@dataclass(frozen=True)
class Service:
    """Jobs bound by placement relations (see the module docstring)."""

    jobs: tuple[int, ...]
    anti_affinity: bool = False
    spread_key: int = -1
    spread_min: int = 0
    depends_on: tuple[int, ...] = ()  # service indices
    affinity_key: int = -1


@dataclass(frozen=True)
class Balance:
    """Per node: weight * max(0, target * avail(r1) - avail(r2)) (ROADEF balance cost)."""

    r1: int
    r2: int
    target: int
    weight: int


@dataclass(frozen=True)
class Problem:
    # -- resources -----------------------------------------------------------------------------
    resources: tuple[str, ...]
    # -- nodes ---------------------------------------------------------------------------------
    node_capacity: tuple[tuple[int, ...], ...]  # [N][R]
    node_group: tuple[int, ...]  # [N] cluster; gangs stay within one group
    group_cost: tuple[tuple[int, ...], ...]  # [G][R] price per unit of resource per replica
    node_sets: tuple[tuple[int, ...], ...]  # distinct eligibility sets, ascending node indices
    # -- jobs ----------------------------------------------------------------------------------
    job_demand: tuple[tuple[int, ...], ...]  # [J][R] per replica
    job_replicas: tuple[int, ...]  # [J] >= 1
    job_priority: tuple[int, ...]  # [J] 0..1000
    job_order: tuple[int, ...]  # [J] FIFO rank, unique, smaller = older
    job_nodes: tuple[int, ...]  # [J] index into node_sets
    # -- optional: empty tuple means "none / all default" ---------------------------------------
    node_reserved: tuple[tuple[int, ...], ...] = ()  # [N][R], default zeros
    node_type: tuple[int, ...] = ()  # [N], default 0
    node_domains: tuple[tuple[int, ...], ...] = ()  # [N][K] domain id per topology key
    domain_keys: tuple[str, ...] = ()  # [K] names, e.g. ("zone", "location")
    node_devices: tuple[int, ...] = ()  # [N] GPU devices, default 0
    gpu_resource: int = -1
    node_open_cost: tuple[int, ...] = ()  # [N], default 0
    node_safety: tuple[tuple[int, ...], ...] = ()  # [N][R], default = capacity (no load cost)
    load_weight: tuple[int, ...] = ()  # [R], default 0
    transient: tuple[bool, ...] = ()  # [R], default False
    # [R] value of a unit of each resource in the work term, default 1 each; the values sum to
    # at most MAX_RESOURCES (64, validate.py), which keeps the total work inside its bound.
    resource_value: tuple[int, ...] = ()
    node_move_cost: Sequence[Sequence[int]] = ()  # [N][N] optional (ROADEF machine move cost)
    balances: tuple[Balance, ...] = ()
    overrides: tuple[Override, ...] = ()
    job_required: tuple[bool, ...] = ()  # [J], default False
    job_current: tuple[tuple[int, ...] | None, ...] = ()  # [J], default None (queued)
    job_move_cost: tuple[int, ...] = ()  # [J], -1 = not migratable (default)
    job_preempt_cost: tuple[int, ...] = ()  # [J], -1 = not preemptible (default)
    job_department: tuple[int, ...] = ()  # [J], -1 = no department (default)
    # [J] whether j may justify evicting lower-priority work of its department (default True).
    job_may_preempt: tuple[bool, ...] = ()
    # [J] what the priority rule compares (default job_priority): a scheduler whose priorities
    # mix guarantees and fair share into job_priority ranks its own jobs by class here.
    job_preempt_rank: tuple[int, ...] = ()
    # [J] whether j may be the taker that justifies a reclaim (default True): a scheduler lets
    # only jobs within their own guarantee take back lent capacity, as Kueue's reclaim does.
    job_may_reclaim: tuple[bool, ...] = ()
    max_evictions: int = -1  # running jobs one decision may evict; -1 = no cap
    quotas: tuple[Quota, ...] = ()
    services: tuple[Service, ...] = ()
    service_move_weight: int = 0
    # -- names, for explanations only ----------------------------------------------------------
    node_names: tuple[str, ...] = ()
    group_names: tuple[str, ...] = ()
    job_names: tuple[str, ...] = ()
    # Anything a builder wants to carry along (e.g. the benchmark instance name); not read.
    meta: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        # Imported here because validate.py needs this module's dataclasses at import time.
        from scheduler.placement.model.validate import validate

        validate(self)

    @property
    def num_resources(self) -> int:
        return len(self.resources)

    @property
    def num_nodes(self) -> int:
        return len(self.node_capacity)

    @property
    def num_groups(self) -> int:
        return len(self.group_cost)

    @property
    def num_jobs(self) -> int:
        return len(self.job_demand)


@dataclass(frozen=True)
class ObjectiveWeights:
    """Multipliers of the objective terms. `work=None`: one unit of work outweighs every cost
    term (lexicographic); the builder scales each cost so that its tier is right (preemption and
    migration above money and energy above packing)."""

    work: int | None = None
    preemption: int = 1
    migration: int = 1
    money: int = 1
    energy: int = 1
    load: int = 1
    balance: int = 1
    fragmentation: int = 1


@dataclass(frozen=True)
class Solution:
    """An answer: node of each replica (None = unplaced) and, on GPU-device nodes, the device
    indices each replica uses (one device for a fractional share, several for whole devices)."""

    assignment: tuple[tuple[int, ...] | None, ...]  # [J]
    devices: tuple[tuple[tuple[int, ...], ...] | None, ...] = ()  # [J][replica] device ids
