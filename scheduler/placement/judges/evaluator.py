"""The objective of engine v2 (model/problem.py), computed independently of every engine: no
OR-Tools.

    value = Ww * work - (W.preemption * preemption + W.migration * migration + W.money * money
                         + W.energy * energy + W.load * load + W.balance * balance
                         + W.fragmentation * fragmentation) // cost_unit

Terms (all integers, all computed from the problem and the answer alone):
  work          sum over placed jobs of job_work[j] = (priority + 1) * replicas * size,
                size = max(1, sum over resources with d > 0 of ceil(1000 * v_r * d / norm_r)), d
                the job's base demand per replica, norm_r the largest base demand for r of any
                job, v_r = resource_value[r] (1 when not given)
  preemption    sum of job_preempt_cost over running jobs left unplaced (evicted)
  migration     per running placed job, moved replicas (multiset rule, usage.moved_apart) times
                job_move_cost, plus node_move_cost summed over a minimum-cost pairing of the
                nodes left with the nodes arrived; plus service_move_weight times the largest
                number of moved replicas of any one service
  money         sum over placed replicas of the override cost, else demand . group price
  energy        sum of node_open_cost over nodes hosting at least one replica
  load          sum over nodes and resources of load_weight[r] * max(0, used - safety)
  balance       sum over balances b and nodes of b.weight * max(0, b.target * avail(r1) -
                avail(r2)), avail = capacity - used
  fragmentation devices whose used share is strictly between 0 and 1000
"used" is reserved usage plus the demands of the replicas placed on the node; transient usage
of moving replicas is a feasibility matter only (ROADEF counts it for capacity, not for cost).

Work weight (`ObjectiveWeights.work`). Explicit: Ww = work and cost_unit = 1, exactly the formula
of model/problem.py; keeping values inside int64 is then the caller's business. Automatic (None):

    B        = sum over cost terms t of W.t * UB_t     (UB_t below, from the problem alone)
    cost_unit = the smallest power of two with (1 + B // cost_unit) * (sum of job_work) <= 2^62
    Ww       = 1 + B // cost_unit

so every feasible answer has (weighted cost) // cost_unit <= B // cost_unit < Ww: one more unit of
work outweighs every cost saving (the order is lexicographic), and no value of a feasible answer
leaves [-2^62, 2^62]. cost_unit is 1 on every realistic problem; when the bounds are huge it
coarsens the cost to keep int64 (CP-SAT's limit) with a factor-two margin. Validation keeps the
total work below 2^52, so Ww >= 2^10 always exists. The upper bounds UB_t, valid for any feasible
answer:
  preemption    sum of job_preempt_cost over running preemptible jobs
  migration     sum over running migratable jobs of replicas * (job_move_cost + the largest
                node_move_cost from any of its current nodes), plus service_move_weight times the
                largest number of replicas of running migratable jobs in one service
  money         sum over jobs of replicas * (sum_r dmax_r * pmax_r, and at least the largest
                override cost of the job), dmax the per-resource maximum of the job's base and
                override demands, pmax the per-resource maximum price of the groups in its node set
  energy        sum of node_open_cost
  load          sum over nodes and resources of load_weight[r] * max(0, capacity - safety)
  balance       sum over balances and nodes of weight * target * (capacity - reserved)(r1)
  fragmentation total number of devices
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from scheduler.placement.judges.scale import (
    COST_TERMS,
    DEFAULT_WEIGHTS,
    job_work,
    scale_of,
)
from scheduler.placement.judges.usage import (
    SHARES_PER_DEVICE,
    Demands,
    moved_apart,
    node_usage,
    placed_jobs,
)
from scheduler.placement.model.problem import ObjectiveWeights

if TYPE_CHECKING:
    from scheduler.placement.model.problem import Problem, Solution


@dataclass(frozen=True)
class Evaluation:
    """The objective of one answer and each of its terms (see the module docstring)."""

    value: int
    work_weight: int
    cost_unit: int
    work: int
    preemption: int
    migration: int
    money: int
    energy: int
    load: int
    balance: int
    fragmentation: int

    def summary(self) -> str:
        """'value=… work=… preemption=… …' with every field, for logs and benchmark tables."""
        return " ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))


def evaluate(p: Problem, s: Solution, weights: ObjectiveWeights = DEFAULT_WEIGHTS) -> Evaluation:
    """The objective of `s` and its terms. Feasibility is check()'s business: evaluate judges
    infeasible answers too, but raises ValueError if `s` does not have the problem's shape (or
    lacks device ids where the fragmentation term needs them)."""
    return Evaluator(p, weights)(s)


class Evaluator:
    """`evaluate` for many answers to one problem: job work and the scale are computed once."""

    def __init__(self, p: Problem, weights: ObjectiveWeights = DEFAULT_WEIGHTS) -> None:
        self.p = p
        self.weights = weights
        self.job_work = job_work(p)
        self.scale = scale_of(p, weights, self.job_work)
        self.demands = Demands(p)

    def __call__(self, s: Solution) -> Evaluation:
        p, demands, weights, scale = self.p, self.demands, self.weights, self.scale
        assignment = _assignment(p, s)
        work = sum(self.job_work[j] for j, _ in placed_jobs(assignment))
        used = node_usage(p, demands, assignment)
        terms = {
            "preemption": _preemption(p, assignment),
            "migration": _migration(p, assignment),
            "money": sum(
                demands.price(j, n) for j, nodes in placed_jobs(assignment) for n in nodes
            ),
            "energy": _energy(p, assignment),
            "load": _load(p, used),
            "balance": _balance(p, used),
            "fragmentation": _fragmentation(p, s, assignment, demands),
        }
        cost = sum(getattr(weights, t) * terms[t] for t in COST_TERMS)
        return Evaluation(
            value=scale.work_weight * work - cost // scale.cost_unit,
            work_weight=scale.work_weight,
            cost_unit=scale.cost_unit,
            work=work,
            **terms,
        )


def _assignment(p: Problem, s: Solution) -> Sequence[Sequence[int] | None]:
    if len(s.assignment) != p.num_jobs:
        raise ValueError(f"assignment has {len(s.assignment)} entries, expected {p.num_jobs}")
    for j, nodes in placed_jobs(s.assignment):
        if len(nodes) != p.job_replicas[j]:
            raise ValueError(f"job {j}: {len(nodes)} replicas placed, expected {p.job_replicas[j]}")
        for n in nodes:
            if type(n) is not int or not 0 <= n < p.num_nodes:
                raise ValueError(f"job {j}: node {n!r} does not exist")
    return s.assignment


def _preemption(p: Problem, assignment: Sequence[Sequence[int] | None]) -> int:
    if not p.job_current:
        return 0
    costs = p.job_preempt_cost or (0,) * p.num_jobs
    return sum(
        max(0, costs[j])
        for j, (cur, nodes) in enumerate(zip(p.job_current, assignment, strict=True))
        if cur is not None and nodes is None
    )


def _migration(p: Problem, assignment: Sequence[Sequence[int] | None]) -> int:
    if not p.job_current:
        return 0
    move = p.job_move_cost or (0,) * p.num_jobs
    moved_by_job = [0] * p.num_jobs
    total = 0
    for j, nodes in placed_jobs(assignment):
        current = p.job_current[j]
        if current is None:
            continue
        gone, came = moved_apart(current, nodes)
        if not gone:
            continue
        moved_by_job[j] = len(gone)
        total += len(gone) * max(0, move[j])
        if p.node_move_cost:
            total += min_cost_pairing(gone, came, p.node_move_cost)
    if p.service_move_weight and p.services:
        total += p.service_move_weight * max(
            sum(moved_by_job[j] for j in svc.jobs) for svc in p.services
        )
    return total


def min_cost_pairing(
    gone: Sequence[int], came: Sequence[int], cost: Sequence[Sequence[int]]
) -> int:
    """Smallest sum of cost[a][b] over perfect matchings of `gone` to `came` (equal lengths).

    Hungarian algorithm with potentials, O(k^3); k is the number of moved replicas of one job,
    almost always 1.
    """
    k = len(gone)
    if k == 1:
        return cost[gone[0]][came[0]]
    inf = float("inf")
    u = [0.0] * (k + 1)
    v = [0.0] * (k + 1)
    match = [0] * (k + 1)  # match[col] = row, 1-based; 0 = free
    way = [0] * (k + 1)
    for row in range(1, k + 1):
        match[0] = row
        col0 = 0
        minv = [inf] * (k + 1)
        used = [False] * (k + 1)
        while True:
            used[col0] = True
            r0, delta, col1 = match[col0], inf, 0
            for col in range(1, k + 1):
                if used[col]:
                    continue
                cur = cost[gone[r0 - 1]][came[col - 1]] - u[r0] - v[col]
                if cur < minv[col]:
                    minv[col], way[col] = cur, col0
                if minv[col] < delta:
                    delta, col1 = minv[col], col
            for col in range(k + 1):
                if used[col]:
                    u[match[col]] += delta
                    v[col] -= delta
                else:
                    minv[col] -= delta
            col0 = col1
            if match[col0] == 0:
                break
        while col0:
            col1 = way[col0]
            match[col0] = match[col1]
            col0 = col1
    return sum(cost[gone[match[col] - 1]][came[col - 1]] for col in range(1, k + 1))


def _energy(p: Problem, assignment: Sequence[Sequence[int] | None]) -> int:
    if not p.node_open_cost or not any(p.node_open_cost):
        return 0
    hosting = {n for _, nodes in placed_jobs(assignment) for n in nodes}
    return sum(p.node_open_cost[n] for n in hosting)


def _load(p: Problem, used: Sequence[Sequence[int]]) -> int:
    if not any(p.load_weight):
        return 0
    return sum(w * e for w, e in zip(p.load_weight, load_excess(p, used), strict=True))


def load_excess(p: Problem, used: Sequence[Sequence[int]]) -> list[int]:
    """[R] usage above the safety level summed over nodes, unweighted (the load term by
    resource)."""
    safety = p.node_safety or p.node_capacity
    excess = [0] * p.num_resources
    for row, safe in zip(used, safety, strict=True):
        for r, (u, s) in enumerate(zip(row, safe, strict=True)):
            if u > s:
                excess[r] += u - s
    return excess


def _balance(p: Problem, used: Sequence[Sequence[int]]) -> int:
    short = balance_shortfall(p, used)
    return sum(b.weight * s for b, s in zip(p.balances, short, strict=True))


def balance_shortfall(p: Problem, used: Sequence[Sequence[int]]) -> list[int]:
    """[B] each balance's max(0, target * avail(r1) - avail(r2)) summed over nodes,
    unweighted (the balance term by balance)."""
    out = []
    for b in p.balances:
        total = 0
        for caps, row in zip(p.node_capacity, used, strict=True):
            excess = b.target * (caps[b.r1] - row[b.r1]) - (caps[b.r2] - row[b.r2])
            if excess > 0:
                total += excess
        out.append(total)
    return out


def _fragmentation(
    p: Problem, s: Solution, assignment: Sequence[Sequence[int] | None], demands: Demands
) -> int:
    gpu = p.gpu_resource
    if gpu < 0 or not p.node_devices or not any(p.node_devices):
        return 0
    shares: dict[tuple[int, int], int] = {}
    for j, nodes in placed_jobs(assignment):
        for i, n in enumerate(nodes):
            q = demands.demand(j, n)[gpu]
            if not q or not p.node_devices[n]:
                continue
            ids = _device_ids(s, j, i)
            per_device = SHARES_PER_DEVICE if q % SHARES_PER_DEVICE == 0 else q
            for dev in ids:
                shares[(n, dev)] = shares.get((n, dev), 0) + per_device
    return sum(1 for share in shares.values() if 0 < share < SHARES_PER_DEVICE)


def _device_ids(s: Solution, job: int, replica: int) -> Sequence[int]:
    if not s.devices or s.devices[job] is None:
        raise ValueError(f"job {job}: replica {replica} needs device ids (Solution.devices)")
    per_job = s.devices[job]
    assert per_job is not None
    if replica >= len(per_job):
        raise ValueError(f"job {job}: no device ids for replica {replica}")
    return per_job[replica]
