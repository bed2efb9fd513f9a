"""Job classes and node classes: the units the LP bound and its rounding reason about.

A city queue holds thousands of jobs that no constraint or cost can tell apart (same shape,
replicas, priority, eligible nodes, department) and clusters of identical servers. Merging them
makes the LP (#job classes x #node classes) instead of (jobs x nodes), which is what lets the
bound and the rounding scale to 100,000 jobs.

`View` fills in the problem's optional fields once and splits jobs into three kinds:
- fixed: running and neither migratable nor preemptible -- its usage is simply taken off the
  free capacity of its nodes (like node_reserved), and its terms are constants;
- flexible: running and migratable or preemptible -- a decision for the LP bound, but the
  rounding keeps it where it is (moving and evicting is left to the CP-SAT / LNS engine);
- queued.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scheduler.placement.index.demands import Demands
from scheduler.placement.index.quota_scope import QuotaScopes
from scheduler.placement.judges.scale import job_work
from scheduler.placement.model.problem import Problem

WHOLE = 1000  # thousandths of a GPU device


def device_fit(shares: Sequence[int], q: int) -> int:
    """How many replicas that each need q thousandths of a device fit the free `shares`."""
    if q <= 0:
        return 1 << 30
    if q % WHOLE == 0:
        return sum(1 for s in shares if s == WHOLE) // (q // WHOLE)
    return sum(s // q for s in shares)


def take_devices(shares: list[int], q: int) -> tuple[int, ...] | None:
    """Claims devices for one replica needing q thousandths (updates `shares`); None if none fit.

    Whole-device replicas take the lowest free devices; a share goes to the fullest device that
    still holds it (best fit), which keeps whole devices free and fragmentation low.
    """
    if q <= 0:
        return ()
    if q % WHOLE == 0:
        want = q // WHOLE
        free = [k for k, s in enumerate(shares) if s == WHOLE][:want]
        if len(free) < want:
            return None
        for k in free:
            shares[k] = 0
        return tuple(free)
    best = -1
    for k, s in enumerate(shares):
        if s >= q and (best < 0 or s < shares[best]):
            best = k
    if best < 0:
        return None
    shares[best] -= q
    return (best,)


def give_devices(shares: list[int], q: int, devices: Sequence[int]) -> None:
    """Returns the devices `take_devices` claimed for a replica needing q thousandths."""
    if q <= 0:
        return
    back = WHOLE if q % WHOLE == 0 else q
    for k in devices:
        shares[k] += back


class View:
    """One problem's optional fields with defaults filled in, and per-job derived data."""

    def __init__(self, p: Problem, demands: Demands | None = None) -> None:
        self.p = p
        nr, nn, nj = p.num_resources, p.num_nodes, p.num_jobs
        self.num_resources = nr
        zeros = (0,) * nr
        self.reserved = p.node_reserved or (zeros,) * nn
        self.node_type = p.node_type or (0,) * nn
        self.devices = p.node_devices or (0,) * nn
        self.gpu = p.gpu_resource
        self.open_cost = p.node_open_cost or (0,) * nn
        self.required = p.job_required or (False,) * nj
        self.current = p.job_current or (None,) * nj
        self.move_cost = p.job_move_cost or (-1,) * nj
        self.preempt_cost = p.job_preempt_cost or (-1,) * nj
        self.department = p.job_department or (-1,) * nj
        self.work = job_work(p)
        self.demands = demands if demands is not None else Demands(p)
        # job -> node type -> override (Demands.by_job): the jobs whose demand depends on the type.
        self.overrides = self.demands.by_job
        self.in_service = frozenset(j for s in p.services for j in s.jobs)
        self.scopes = QuotaScopes(p)
        # Departments some quota counts (as a member): jobs of others are never quota-bound.
        self.quota_departments = self.scopes.departments
        self.fixed = tuple(
            cur is not None and mc < 0 and pc < 0
            for cur, mc, pc in zip(self.current, self.move_cost, self.preempt_cost, strict=True)
        )
        self.flexible = tuple(
            cur is not None and not fx for cur, fx in zip(self.current, self.fixed, strict=True)
        )
        # Device-node GPU demand is packed per device, elsewhere it is a plain quantity.
        self.has_devices = self.gpu >= 0 and any(self.devices)

    def demand(self, j: int, t: int) -> tuple[int, ...]:
        """Per-replica demand of job j on nodes of type t."""
        return self.demands.on_type(j, t)

    def money(self, j: int, t: int, g: int) -> int:
        """Money term of one replica of job j on a node of type t in group g."""
        return self.demands.money_on_type(j, t, g)

    def gpu_share(self, demand: Sequence[int], n: int) -> int:
        """Thousandths of a device a replica with `demand` takes on node n (0: no devices)."""
        if self.gpu < 0 or not self.devices[n]:
            return 0
        return demand[self.gpu]


@dataclass
class Occupancy:
    """Free capacity and free device shares per node once some jobs sit where they run."""

    free: list[list[int]]  # [N][R]; negative if the given jobs overfill a node
    shares: list[list[int]]  # [N][device] free thousandths
    devices: dict[int, tuple[tuple[int, ...], ...]]  # job -> devices of each replica
    consistent: bool  # every replica fitted its node and devices
    overfull: bool = False  # some node's capacity is exceeded (devices aside): no answer exists


def occupy(view: View, jobs: Sequence[int], base: Occupancy | None = None) -> Occupancy:
    """Puts the replicas of `jobs` (running jobs) on their current nodes.

    The problem names the nodes of running replicas but not their devices, so devices are
    packed here: whole-device replicas first, then shares largest first, best fit.
    """
    p = view.p
    if base is None:
        free = [
            [c - r for c, r in zip(cap, res, strict=True)]
            for cap, res in zip(p.node_capacity, view.reserved, strict=True)
        ]
        shares = [[WHOLE] * d for d in view.devices]
        fits = all(q >= 0 for row in free for q in row)
        out = Occupancy(free, shares, {}, fits, not fits)
    else:
        out = Occupancy(
            [list(row) for row in base.free],
            [list(row) for row in base.shares],
            dict(base.devices),
            base.consistent,
            base.overfull,
        )
    placed: list[tuple[int, int, int, int, int]] = []  # (kind, -share, job, replica, node)
    for j in jobs:
        nodes = view.current[j]
        assert nodes is not None
        for i, n in enumerate(nodes):
            q = view.gpu_share(view.demand(j, view.node_type[n]), n)
            # Whole-device replicas first, then shares largest first (first-fit decreasing).
            placed.append((0 if q % WHOLE == 0 else 1, -q, j, i, n))
    per_job: dict[int, list[tuple[int, ...]]] = {
        j: [() for _ in view.current[j] or ()] for j in jobs
    }
    for _, _, j, i, n in sorted(placed):
        demand = view.demand(j, view.node_type[n])
        row = out.free[n]
        for r, q in enumerate(demand):
            row[r] -= q
            if row[r] < 0:
                out.consistent = False
                out.overfull = True
        q = view.gpu_share(demand, n)
        if q:
            got = take_devices(out.shares[n], q)
            if got is None:
                out.consistent = False
                got = ()
            per_job[j][i] = got
    for j, devs in per_job.items():
        out.devices[j] = tuple(devs)
    return out


@dataclass(frozen=True)
class JobClass:
    """Jobs no constraint or cost of the relaxation can tell apart."""

    jobs: tuple[int, ...]  # ascending FIFO order: the oldest members are placed first
    replicas: int
    work: int  # per job
    required: bool
    flexible: bool  # a running job the LP may move or evict (always a class of one)

    @property
    def rep(self) -> int:
        return self.jobs[0]


@dataclass(frozen=True)
class NodeClass:
    """Nodes no job can tell apart once the fixed running work is taken off."""

    nodes: tuple[int, ...]  # ascending
    group: int
    node_type: int
    free: tuple[int, ...]  # per node
    shares: tuple[int, ...]  # free thousandths per device, per node (sorted, descending)
    open_cost: int
    forced_open: bool  # hosts fixed running replicas: its open cost is paid anyway

    @property
    def size(self) -> int:
        return len(self.nodes)


@dataclass(frozen=True)
class Classes:
    """The classes of one problem, and which node classes each node set covers."""

    jobs: tuple[JobClass, ...]
    nodes: tuple[NodeClass, ...]
    node_classes_of_set: tuple[tuple[int, ...], ...]  # [node set] -> node class indices
    base: Occupancy  # free capacity after the fixed running jobs


def classify(view: View) -> Classes:
    """Merges identical decided jobs and interchangeable nodes.

    Job key: demand, per-type overrides, replicas, priority (so work), node set, required, and
    the department if it has a quota. Flexible running jobs and fixed ones are never merged
    (the first have their own former nodes, the second are not decided at all). Node key: free
    capacity and device shares after fixed work, group, type, open cost, whether fixed work
    keeps it open, and the node sets (of decided jobs) it belongs to.
    """
    p = view.p
    fixed_jobs = [j for j in range(p.num_jobs) if view.fixed[j]]
    base = occupy(view, fixed_jobs)
    keyed: dict[tuple[object, ...], list[int]] = {}
    loners: list[list[int]] = []
    for j in range(p.num_jobs):
        if view.fixed[j]:
            continue
        if view.flexible[j]:
            loners.append([j])
            continue
        o = view.overrides.get(j)
        over = () if o is None else tuple((t, x.demand, x.cost) for t, x in sorted(o.items()))
        dept = view.department[j]
        key = (
            p.job_demand[j],
            over,
            p.job_replicas[j],
            p.job_priority[j],
            p.job_nodes[j],
            view.required[j],
            dept if dept in view.quota_departments else -1,
        )
        keyed.setdefault(key, []).append(j)
    members = sorted(
        (sorted(js, key=lambda j: (p.job_order[j], j)) for js in (*keyed.values(), *loners)),
        key=lambda js: js[0],
    )
    job_classes = tuple(
        JobClass(
            jobs=tuple(js),
            replicas=p.job_replicas[js[0]],
            work=view.work[js[0]],
            required=view.required[js[0]]
            or (view.flexible[js[0]] and view.preempt_cost[js[0]] < 0),
            flexible=view.flexible[js[0]],
        )
        for js in members
    )
    used_sets = sorted({p.job_nodes[c.rep] for c in job_classes})
    membership: list[list[int]] = [[] for _ in range(p.num_nodes)]
    for s in used_sets:
        for n in p.node_sets[s]:
            membership[n].append(s)
    hosts_fixed = [False] * p.num_nodes
    for j in fixed_jobs:
        for n in view.current[j] or ():
            hosts_fixed[n] = True
    node_keyed: dict[tuple[object, ...], list[int]] = {}
    node_key: tuple[object, ...]
    for n in range(p.num_nodes):
        node_key = (
            p.node_group[n],
            view.node_type[n],
            tuple(base.free[n]),
            tuple(sorted(base.shares[n], reverse=True)),
            view.open_cost[n],
            hosts_fixed[n],
            tuple(membership[n]),
        )
        node_keyed.setdefault(node_key, []).append(n)
    node_classes = tuple(
        NodeClass(
            nodes=tuple(ns),
            group=p.node_group[ns[0]],
            node_type=view.node_type[ns[0]],
            free=tuple(max(0, q) for q in base.free[ns[0]]),
            shares=tuple(sorted(base.shares[ns[0]], reverse=True)),
            open_cost=view.open_cost[ns[0]],
            forced_open=hosts_fixed[ns[0]],
        )
        for ns in sorted(node_keyed.values(), key=lambda ns: ns[0])
    )
    of_set: list[list[int]] = [[] for _ in p.node_sets]
    for c, nc in enumerate(node_classes):
        for s in membership[nc.nodes[0]]:
            of_set[s].append(c)
    return Classes(job_classes, node_classes, tuple(tuple(cs) for cs in of_set), base)


def replicas_per_node(view: View, demand: Sequence[int], nc: NodeClass) -> int:
    """Most replicas of one demand vector an empty-of-others node of class `nc` holds."""
    most = 1 << 30
    for q, f in zip(demand, nc.free, strict=True):
        if q > 0:
            most = min(most, f // q)
    if view.has_devices and nc.shares:
        most = min(most, device_fit(nc.shares, demand[view.gpu]))
    return most
