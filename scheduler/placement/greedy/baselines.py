"""Greedy baselines for engine v2: yardsticks for benchmarks, warm starts and fallbacks.

Four classic rules, each producing a `Solution` (device ids included) that respects every
constraint of model/problem.py, in pure Python (no OR-Tools) and fast at city scale (node_pool.py):

- first_fit_decreasing: largest work first (job_work: priority x replicas x size); each job in
  the first group, in node order, that holds the gang; each replica on the lowest-numbered node
  that fits (classic FFD bin packing).
- best_fit: higher priority first, then older; groups cheapest first for the job's demand; each
  replica on the tightest node: least capacity left after placement, summed over resources each
  weighed by the largest capacity any node has of it, compared among the CANDIDATES nodes
  (placer.py) of each atom that are tightest in the job's scarcest resource (node_pool.py).
- drf_ordered: dominant resource fairness across departments: repeatedly the department with the
  smallest dominant share (largest share of any resource of the pool its placed jobs use) gets
  its next job (priority, then age), placed as in best_fit. Jobs without a department form one.
- kubernetes_like: FIFO by job_order, one job at a time with no lookahead, like kube-scheduler
  with the MostAllocated scoring strategy: each replica to the feasible node with the highest
  allocated fraction after placement (capacity-normalised per node), and like kube-scheduler it
  stops looking after KUBE_FEASIBLE feasible nodes (percentageOfNodesToScore), scanning the node
  set round-robin from where the previous job stopped. The first replica fixes the cluster; if the
  gang does not fit there, the job waits (coscheduling), there is no second try elsewhere.

Common to all: running jobs stay where they are (no move, no preemption), assuming the current
placement is feasible; required jobs go first (in the rule's own order); a gang goes to one group
or waits; quotas, anti-affinity and dependencies are respected when each replica is placed; a
spread service prefers new domains while short of spread_min, and services that end a pass
short of their spread or dependencies lose the jobs placed this time (repeated to a fixpoint).
Running jobs' GPU device ids are not in the problem, so they are packed first (whole devices,
then shares, largest first).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from scheduler.placement.greedy.placer import (
    BEST_FIT,
    FIRST_FIT,
    MOST_ALLOCATED,
    Greedy,
)
from scheduler.placement.index.node_pool import Layout
from scheduler.placement.judges.evaluator import Evaluation, Evaluator
from scheduler.placement.judges.scale import DEFAULT_WEIGHTS, job_work
from scheduler.placement.model.params import ShouldStop
from scheduler.placement.model.problem import ObjectiveWeights, Solution

if TYPE_CHECKING:
    from scheduler.placement.model.problem import Problem


def _required_first(p: Problem, order: Sequence[int]) -> list[int]:
    if not p.job_required:
        return list(order)
    required = [j for j in order if p.job_required[j]]
    return required + [j for j in order if not p.job_required[j]]


def _run(
    p: Problem,
    rule: str,
    order: Sequence[int],
    layout: Layout | None = None,
    *,
    compact: bool = False,
) -> Solution:
    greedy = Greedy(p, rule, layout, compact=compact)
    greedy.keep_running()
    for j in order:
        greedy.place(j)
    return greedy.finish(order)


def _by_priority(p: Problem) -> list[int]:
    return sorted(range(p.num_jobs), key=lambda j: (-p.job_priority[j], p.job_order[j]))


def first_fit_decreasing(p: Problem, layout: Layout | None = None) -> Solution:
    """Largest work first, first group and first node that fit (module docstring)."""
    work = job_work(p)
    order = sorted(range(p.num_jobs), key=lambda j: (-work[j], p.job_order[j]))
    return _run(p, FIRST_FIT, _required_first(p, order), layout)


def best_fit(p: Problem, layout: Layout | None = None, *, compact: bool = False) -> Solution:
    """Priority then FIFO, cheapest group, tightest node (module docstring); `compact`: a
    gang's replicas on as few nodes as room allows (Greedy._compact)."""
    return _run(p, BEST_FIT, _required_first(p, _by_priority(p)), layout, compact=compact)


def kubernetes_like(p: Problem, layout: Layout | None = None) -> Solution:
    """FIFO, one job at a time, MostAllocated node, no lookahead (module docstring)."""
    order = sorted(range(p.num_jobs), key=lambda j: p.job_order[j])
    return _run(p, MOST_ALLOCATED, _required_first(p, order), layout)


def drf_ordered(p: Problem, layout: Layout | None = None) -> Solution:
    """Dominant resource fairness across departments, best-fit placement (module docstring)."""
    greedy = Greedy(p, BEST_FIT, layout)
    greedy.keep_running()
    ranked = _by_priority(p)
    queued = [j for j in ranked if greedy.assignment[j] is None]
    required = [j for j in queued if p.job_required and p.job_required[j]]
    for j in required:
        greedy.place(j)
    pool_total = [sum(column) for column in zip(*p.node_capacity, strict=True)]
    usage: dict[int, list[int]] = {}
    for j, nodes in enumerate(greedy.assignment):
        if nodes is not None:
            _add_usage(greedy, usage, j, nodes)
    queues: dict[int, list[int]] = {}
    for j in queued:
        if greedy.assignment[j] is None:
            queues.setdefault(greedy.departments[j], []).append(j)

    def share(dept: int) -> float:
        used = usage.get(dept)
        if used is None:
            return 0.0
        return max((u / t for u, t in zip(used, pool_total, strict=True) if t), default=0.0)

    heap = [(share(d), d) for d in queues]
    heapq.heapify(heap)
    position = dict.fromkeys(queues, 0)
    while heap:
        _, dept = heapq.heappop(heap)
        j = queues[dept][position[dept]]
        position[dept] += 1
        if greedy.place(j):
            nodes = greedy.assignment[j]
            assert nodes is not None
            _add_usage(greedy, usage, j, nodes)
        if position[dept] < len(queues[dept]):
            heapq.heappush(heap, (share(dept), dept))
    return greedy.finish(ranked)


def _add_usage(greedy: Greedy, usage: dict[int, list[int]], j: int, nodes: Sequence[int]) -> None:
    row = usage.setdefault(greedy.departments[j], [0] * greedy.p.num_resources)
    for n in nodes:
        for r, d in enumerate(greedy.demand(j, greedy.types[n])):
            row[r] += d


class Baseline(Protocol):
    """A greedy rule: an answer to `p`; `layout` may be shared between runs on one problem."""

    def __call__(self, p: Problem, layout: Layout | None = None) -> Solution: ...


BASELINES: dict[str, Baseline] = {
    "first_fit_decreasing": first_fit_decreasing,
    "best_fit": best_fit,
    "drf_ordered": drf_ordered,
    "kubernetes_like": kubernetes_like,
}


def best_baseline(
    p: Problem,
    weights: ObjectiveWeights = DEFAULT_WEIGHTS,
    should_stop: ShouldStop | None = None,
    *,
    compact: bool = False,
) -> tuple[str, Solution, Evaluation]:
    """Runs every baseline and returns the name, answer and evaluation of the best one.

    Ties go to the earlier baseline in BASELINES. The node layout is computed once and shared.
    `should_stop` is asked after each rule: the first always runs (the engine needs an
    answer), the rest only while it says no. `compact`: best_fit places gangs compactly, and
    runs first.
    """
    layout = Layout(p)
    judge = Evaluator(p, weights)
    best: tuple[str, Solution, Evaluation] | None = None
    rules = list(BASELINES.items())
    if compact:
        # First, so that it wins the ties: a split gang has the same value as a compact one.
        rules.sort(key=lambda rule: rule[1] is not best_fit)
    for name, baseline in rules:
        if best is not None and should_stop is not None and should_stop():
            break
        if compact and baseline is best_fit:
            solution = best_fit(p, layout, compact=True)
        else:
            solution = baseline(p, layout)
        evaluation = judge(solution)
        if best is None or evaluation.value > best[2].value:
            best = (name, solution, evaluation)
    assert best is not None
    return best
