"""Bin elimination: one node fewer at a time, for problems shaped as vector bin packing.

After the node-fill rules, the last bin or two of a bin packing are the hard part: LNS pieces
of a few nodes rarely empty one. This search takes the best answer's m open nodes, closes one
(the lightest first; after a failure, one of the lightest few at random), puts each of its
jobs where it overloads the rest least, and lets the feasibility repair of the regret stage
(greedy/regret_moves.py: shifts and swaps that lower the total excess over capacity) look for
an answer on m - 1 nodes. When the excess reaches 0 it has one, and starts again from it;
otherwise it tries another node. A close relative of the bin-oriented heuristics that empty a
bin and repair (Fleszar and Hindi, 2002; Buljubašić and Vasquez's consistent neighbourhood
search, 2016), with the engine's vectorised moves instead of their tabu search.

Through the engine at 10 s (`python -m benchmarks --track vbp --filter class8_120_10_9`, and
the same for the others): class8_120_10_9 64 -> 62 bins (the paper's best heuristic 62),
class3_500_5_9 376 -> 373 (374), class2_500_3_9 296 -> 294 (293); on a 324-instance sample
302 -> 321 at or below the best heuristic (benchmarks/README.md, "Vector bin packing").

Scope (`applies`): identical nodes (capacity, node type, opening cost), every job allowed on
every node, single replicas, every job required, and the node-fill rules' conditions (no
running jobs, services, quotas or devices). Every answer goes through the engine's checker and
evaluator like any other candidate.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from scheduler.placement.greedy.node_fill import applies as node_fill_applies
from scheduler.placement.greedy.regret import Pairs, least_overload
from scheduler.placement.greedy.regret_moves import excess_of, loads, repair
from scheduler.placement.index.facts import Facts
from scheduler.placement.model.params import ShouldStop
from scheduler.placement.model.problem import ObjectiveWeights, Problem, Solution

IntArray = npt.NDArray[np.int64]
# Consecutive failed closings, per open node (at least _MIN_FAILURES), after which the search
# gives the rest of its time back: an answer with one node fewer may not exist (class6_20_10_2
# is optimal at the node fill's 16 and its trivial bound is lower), and CP-SAT proves what the
# search cannot. The hardest success measured took 123 closings at 295 open nodes.
_FAILURES_PER_NODE = 2
_MIN_FAILURES = 20


def applies(p: Problem, facts: Facts, weights: ObjectiveWeights) -> bool:
    """Whether the problem is a vector bin packing in the sense of the module docstring."""
    if not node_fill_applies(p, weights) or p.num_nodes < 2:
        return False
    everywhere = tuple(range(p.num_nodes))
    return (
        all(p.node_sets[s] == everywhere for s in p.job_nodes)
        and all(p.job_required)
        and len(set(p.node_capacity)) == 1
        and len(set(p.node_open_cost)) == 1
        and len(set(facts.node_type)) == 1
    )


def least_nodes(p: Problem) -> int:
    """The fewest identical nodes the total demand fits, by its scarcest resource."""
    capacity = p.node_capacity[0]
    need = [-(-sum(d[r] for d in p.job_demand) // c) for r, c in enumerate(capacity) if c > 0]
    return max([1, *need])


def eliminate(
    facts: Facts,
    start: Solution,
    deadline: float,
    *,
    attempts: int | None = None,
    seed: int = 0,
    should_stop: ShouldStop | None = None,
) -> Iterator[Solution]:
    """Answers with one node fewer each, from `start` (every job on one node), until the
    `deadline` (time.perf_counter()), `attempts` closings tried (a budget that does not
    depend on the machine), `should_stop`, least_nodes open nodes, or too many failures in a
    row (_FAILURES_PER_NODE)."""
    p = facts.p
    a = Pairs(facts, should_stop)
    rng = np.random.default_rng(seed)
    node = np.asarray([nodes[0] for nodes in _placed(start)], dtype=np.int64)
    floor = least_nodes(p)
    failures = 0

    def over() -> bool:
        return time.perf_counter() >= deadline or (should_stop is not None and should_stop())

    tried = 0
    while not over() and (attempts is None or tried < attempts):
        used = np.unique(node)
        if len(used) <= floor or failures >= max(_MIN_FAILURES, _FAILURES_PER_NODE * len(used)):
            return
        # The lightest open node first (its jobs' shares summed), then one of the lightest
        # 2 + failures at random.
        weight = np.bincount(node, weights=a.share[np.arange(len(node)), node])[used]
        order = used[np.argsort(weight, kind="stable")]
        pick = 0 if failures == 0 else int(rng.integers(min(len(order), 2 + failures)))
        candidate = _without(a, node, used, int(order[pick]))
        repair(a, candidate, deadline)
        tried += 1
        if excess_of(a, candidate) == 0:
            node, failures = candidate, 0
            yield Solution(assignment=tuple((int(n),) for n in node))
        else:
            failures += 1


def _placed(solution: Solution) -> Iterator[tuple[int, ...]]:
    for nodes in solution.assignment:
        if nodes is None or len(nodes) != 1:
            raise ValueError("bin elimination needs every job on one node")
        yield nodes


def _without(a: Pairs, node: IntArray, used: IntArray, closed: int) -> IntArray:
    """`node` with the jobs of `closed` moved, largest first, each where it overloads the
    other open nodes least; only those nodes stay eligible for the repair."""
    a.eligible[:] = False
    a.eligible[:, used[used != closed]] = True
    out = node.copy()
    free = a.free - loads(a, out)
    moving = np.flatnonzero(node == closed)
    for j in moving[np.argsort(-a.share[moving, closed], kind="stable")].tolist():
        n = least_overload(a, free, j)
        out[j] = n
        free[n] -= a.demand[j, n]
    return out
