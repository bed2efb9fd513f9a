"""The explanations' room views: counting once per node class gives what counting every node
gives, on every view and job of a contended city, a third of its jobs with per-type demands."""

from __future__ import annotations

from dataclasses import replace

from benchmarks.synthetic import Spec, generate
from scheduler.placement.greedy.baselines import best_fit
from scheduler.placement.index.facts import Facts
from scheduler.placement.judges.rooms import Rooms
from scheduler.placement.model import Override, Problem


def _city() -> Problem:
    """A contended city whose general nodes are split between types 0 and 9 (alike but for
    the type), and whose every third job needs twice its demand on type 0."""
    p = generate(Spec("T", jobs=400, nodes=40, clusters=3, regions=2, departments=3), 5)
    types = tuple(9 if t == 0 and n % 2 else t for n, t in enumerate(p.node_type))
    doubled = tuple(
        Override(j, 0, demand=tuple(2 * d for d in p.job_demand[j])) for j in range(0, 400, 3)
    )
    return replace(p, node_type=types, overrides=doubled)


def test_counts_per_node_class_equal_counts_per_node() -> None:
    p = _city()
    solution = best_fit(p)
    facts = Facts(p)
    rooms = Rooms(facts, solution)
    views = [rooms.empty, rooms.now, rooms.hard((-1, -1, False))]
    # Some nodes share a class (the count is reused) and the views differ (it is not reused
    # across them).
    assert len({tuple(row) for row in rooms.empty}) < p.num_nodes
    assert rooms.empty != rooms.now
    checked = 0
    for j in range(p.num_jobs):
        for rows in views:
            fit = rooms.fitter(j, rows)
            for n in facts.eligible[j]:
                assert fit(n) == rooms.fit_count(j, n, rows[n])
                checked += 1
    assert checked > 10_000


def test_closest_is_the_node_lacking_least_with_ties_to_the_lowest_index() -> None:
    p = _city()
    facts = Facts(p)
    rooms = Rooms(facts, best_fit(p))
    norms = rooms.norms
    for j in range(0, p.num_jobs, 7):
        nodes = list(facts.eligible[j])
        if not nodes:
            continue
        best, lack = rooms.closest(j, nodes, rooms.now)

        def score(n: int, j: int = j) -> tuple[int, int]:
            short = [max(0, d - f) for d, f in zip(facts.demand(j, n), rooms.now[n], strict=True)]
            return sum(s * 1000 // m for s, m in zip(short, norms, strict=True) if m), n

        assert best == min(nodes, key=score)
        assert list(lack) == [
            max(0, d - f) for d, f in zip(facts.demand(j, best), rooms.now[best], strict=True)
        ]
