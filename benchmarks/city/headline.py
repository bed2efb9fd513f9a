"""The 统筹 number: the fewest nodes with which a pooled policy gives every department a p95
wait no worse than it had on its own clusters.

The pool is scaled down uniformly: `scale(trace, f)` keeps round(f x nodes) nodes, shared out
over the clusters in proportion to their sizes (largest remainder, ties broken by a generator
seeded with the trace's seed and f, so the same f always gives the same pool), at least one node
per cluster (a department's contribution does not vanish; its nominal quota shrinks with it).
The jobs are the same. `fewest_nodes` bisects f between the trace's load (below it the pool
cannot even hold the work) and 1; a fraction passes when every job ran and every department's
p95 wait is at most its target plus one cycle interval (waits are counted in cycle ticks, and a
department whose target is 0 would otherwise demand that no job ever waits for a tick).
Bisection assumes that more nodes never hurt; the runs it made are returned with the answer.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from benchmarks.city.metrics import HOUR, Metrics, measure
from benchmarks.city.sim import Policy, run
from benchmarks.city.trace import Trace


def scale(trace: Trace, fraction: float) -> Trace:
    """The trace on a pool of round(fraction x nodes) nodes (see the module's docstring)."""
    total = sum(c.nodes for c in trace.clusters)
    target = max(len(trace.clusters), min(total, round(fraction * total)))
    exact = [c.nodes * target / total for c in trace.clusters]
    sizes = [max(1, int(x)) for x in exact]
    rng = random.Random(f"city/{trace.params.seed}/scale/{fraction:.6f}")
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - int(exact[i])), rng.random()))
    k = 0
    while sum(sizes) < target:
        i = order[k % len(order)]
        if sizes[i] < trace.clusters[i].nodes:
            sizes[i] += 1
        k += 1
    while sum(sizes) > target:  # the minimum of one node overshot: trim the largest
        i = max(range(len(sizes)), key=lambda j: (sizes[j], -j))
        sizes[i] -= 1
    clusters = tuple(replace(c, nodes=n) for c, n in zip(trace.clusters, sizes, strict=True))
    return replace(trace, clusters=clusters)


@dataclass(frozen=True)
class Step:
    fraction: float
    nodes: int
    passed: bool
    worst_department: str  # the department furthest above its target ("" if none)
    worst_excess_h: float
    wall_s: float


@dataclass(frozen=True)
class Headline:
    policy: str
    nodes: int  # of the full pool
    fewest_nodes: int | None  # None: not even the full pooled pool meets the targets
    fraction: float | None
    steps: tuple[Step, ...]

    @property
    def fewer_pct(self) -> float | None:
        if self.fewest_nodes is None:
            return None
        return 100.0 * (1 - self.fewest_nodes / self.nodes)


def meets(m: Metrics, target_p95_h: Mapping[str, float], slack_h: float) -> tuple[bool, str, float]:
    """(passed, worst department, its excess in hours over target + slack)."""
    worst, excess = "", float("-inf")
    for dept, w in m.wait_by_department.items():
        over = w.p95_h - target_p95_h.get(dept, 0.0) - slack_h
        if w.jobs and over > excess:
            worst, excess = dept, over
    return m.unfinished == 0 and excess <= 1e-9, worst, max(0.0, excess)


def fewest_nodes(
    name: str,
    trace: Trace,
    make: Callable[[Trace], Policy],
    target_p95_h: Mapping[str, float],
    cycle_s: float,
    *,
    full: Metrics | None = None,
    tolerance: float = 0.05,
    max_steps: int = 6,
) -> Headline:
    """Bisection over the scaled pool; `full` is the policy's run on the whole pool if made."""
    total = sum(c.nodes for c in trace.clusters)
    slack_h = cycle_s / HOUR
    steps: list[Step] = []

    def attempt(fraction: float, given: Metrics | None = None) -> bool:
        scaled = scale(trace, fraction)
        m = given or measure(run(make(scaled), scaled, cycle_s, max_factor=2.0))
        ok, worst, excess = meets(m, target_p95_h, slack_h)
        nodes = sum(c.nodes for c in scaled.clusters)
        steps.append(Step(fraction, nodes, ok, worst, excess, m.wall_s))
        return ok

    if not attempt(1.0, full):
        return Headline(name, total, None, None, tuple(steps))
    low = min(1.0, max(0.0, float(trace.meta.get("load", 0.0) or 0.0)))  # type: ignore[arg-type]
    high = 1.0
    while high - low > tolerance and len(steps) <= max_steps:
        mid = (low + high) / 2
        if attempt(mid):
            high = mid
        else:
            low = mid
    fewest = sum(c.nodes for c in scale(trace, high).clusters)
    return Headline(name, total, fewest, high, tuple(steps))
