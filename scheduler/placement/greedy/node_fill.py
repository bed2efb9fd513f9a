"""Node-centric fill: the starts of problems where opening a node costs (vector bin packing).

The job-centric greedy rules (baselines.py) take the jobs in a fixed order and give each the
first or tightest node; when every open node costs, that leaves nodes full in one resource and
empty in the others. The node-centric rules of Panigrahy et al. ("Heuristics for vector bin
packing", 2011) instead open one node at a time and keep adding the job that fits it best
until none fits, then open the next node:
- `dot`: the job of largest weighted dot product of its demand with the node's free room;
- `l2`: the job that leaves the free room nearest to zero (weighted squared distance);
- `size`: the largest job that fits (weighted sum of its shares);
with resources weighed equally (`one`) or by their mean demand over the jobs (`avg`: the
scarcer resource counts more). Sizes are shares of the node's free capacity.

Measured on the Panigrahy classes, 500 items and d = 5: class 4 FFD 71 bins, these rules 66
(the paper's best heuristic 66); class 1 151 against 140 (140); class 8, 120 items, d = 3:
FFD 62, `size` 60 (60). The six runs cost 0.3-0.6 s at 500 items.

Scope: only single-replica jobs on problems without running jobs, services, quotas or devices,
where some node has an opening cost that the weights count (`applies`). Anything else is
left to the other engines. Every answer goes through the engine's checker and evaluator like
any other candidate.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from scheduler.placement.index.facts import Facts
from scheduler.placement.model.params import ShouldStop
from scheduler.placement.model.problem import ObjectiveWeights, Problem, Solution

# In the order they run (a deadline may cut the list): the most often best first, measured on
# the Panigrahy classes at 120-500 items.
VARIANTS = (
    ("dot", "one"),
    ("l2", "one"),
    ("dot", "avg"),
    ("size", "avg"),
    ("l2", "avg"),
    ("size", "one"),
)
_TOL = 1e-9
# Above this many jobs a rule costs seconds (a numpy pass over the open jobs per placement).
MAX_JOBS = 5_000


def applies(p: Problem, weights: ObjectiveWeights) -> bool:
    """Whether the node-centric rules fit the problem (module docstring)."""
    return (
        0 < p.num_jobs <= MAX_JOBS
        and weights.energy > 0
        and any(c > 0 for c in p.node_open_cost)
        and all(r == 1 for r in p.job_replicas)
        and not p.services
        and not p.quotas
        and not any(c is not None for c in p.job_current)
        and not any(p.node_devices)
    )


def node_fill(
    p: Problem,
    facts: Facts,
    deadline: float | None = None,
    should_stop: ShouldStop | None = None,
) -> Iterator[tuple[str, Solution]]:
    """(rule name, answer) for each rule and weighing, as long as `deadline`
    (time.perf_counter()) and the caller's `should_stop` allow (checked per node opened); a
    rule that leaves a required job out, or that either ends, yields nothing."""
    filler = _Filler(p, facts)

    def over() -> bool:
        if should_stop is not None and should_stop():
            return True
        return deadline is not None and time.perf_counter() >= deadline

    for rule, weighing in VARIANTS:
        if over():
            return
        solution = filler.run(rule, weighing, over)
        if solution is not None:
            yield f"node_fill_{rule}_{weighing}", solution


class _Filler:
    def __init__(self, p: Problem, facts: Facts) -> None:
        self.p = p
        self.facts = facts
        nr = p.num_resources
        # Nodes in the order they open: cheapest first, then by index.
        self.order = sorted(range(p.num_nodes), key=lambda n: (facts.open_cost[n], n))
        self.sets_of_node = facts.sets_of_node
        # Shares of one job per (node type, free capacity): None where it can never fit.
        self._shares: dict[tuple[int, tuple[int, ...]], list[tuple[float, ...] | None]] = {}
        # Mean share of each resource over the jobs, on the largest node (the `avg` weights).
        top = [max(1, max(c[r] for c in p.node_capacity)) for r in range(nr)]
        mean = [sum(d[r] for d in p.job_demand) / top[r] / p.num_jobs for r in range(nr)]
        self.avg = tuple(max(_TOL, m) for m in mean)

    def free(self, n: int) -> tuple[int, ...]:
        p = self.p
        return tuple(c - r for c, r in zip(p.node_capacity[n], self.facts.reserved[n], strict=True))

    def shares(self, n: int) -> list[tuple[float, ...] | None]:
        """Each job's demand as shares of node n's free capacity."""
        free = self.free(n)
        key = (self.facts.node_type[n], free)
        found = self._shares.get(key)
        if found is None:
            found = []
            for j in range(self.p.num_jobs):
                demand = self.facts.demand(j, n)
                if any(d > 0 and f <= 0 for d, f in zip(demand, free, strict=True)):
                    found.append(None)
                else:
                    found.append(
                        tuple(d / f if f > 0 else 0.0 for d, f in zip(demand, free, strict=True))
                    )
            self._shares[key] = found
        return found

    def run(self, rule: str, weighing: str, over: Callable[[], bool]) -> Solution | None:
        p, facts = self.p, self.facts
        nr = p.num_resources
        w = self.avg if weighing == "avg" else (1.0,) * nr
        left = set(range(p.num_jobs))
        assignment: list[tuple[int, ...] | None] = [None] * p.num_jobs
        job_set = p.job_nodes
        for n in self.order:
            if not left:
                break
            if over():
                return None
            shares = self.shares(n)
            sets = self.sets_of_node[n]
            free = self.free(n)
            left_over = list(free)  # exact, in the problem's integers
            room = [1.0] * nr  # the same as shares of the free capacity, for the scores
            # Room only shrinks: a job that does not fit now never will on this node.
            cands = [
                (j, sj)
                for j in sorted(left)
                if job_set[j] in sets and (sj := shares[j]) is not None
            ]
            while cands:
                fitting = [
                    (j, sj)
                    for j, sj in cands
                    if all(d <= f for d, f in zip(facts.demand(j, n), left_over, strict=True))
                ]
                if not fitting:
                    break
                if rule == "dot":
                    rw = [r * x for r, x in zip(room, w, strict=True)]
                    j, sj = max(
                        fitting, key=lambda c: sum(a * b for a, b in zip(c[1], rw, strict=True))
                    )
                elif rule == "size":
                    j, sj = max(
                        fitting, key=lambda c: sum(a * b for a, b in zip(c[1], w, strict=True))
                    )
                else:
                    j, sj = min(
                        fitting,
                        key=lambda c: sum(
                            (r - a) * (r - a) * b for a, r, b in zip(c[1], room, w, strict=True)
                        ),
                    )
                left_over = [f - d for f, d in zip(left_over, facts.demand(j, n), strict=True)]
                room = [f / t if t > 0 else 0.0 for f, t in zip(left_over, free, strict=True)]
                left.discard(j)
                assignment[j] = (n,)
                cands = [c for c in fitting if c[0] != j]
        if any(facts.required[j] for j in left):
            return None
        return Solution(tuple(assignment))
