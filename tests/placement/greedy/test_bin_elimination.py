"""Bin elimination (greedy/bin_elimination.py): which problems it takes, and that each answer
it gives has one node fewer and passes the checker."""

from __future__ import annotations

import random
import time
from dataclasses import replace

from benchmarks.tracks import vbp
from scheduler.placement.greedy.bin_elimination import applies, eliminate, least_nodes
from scheduler.placement.greedy.node_fill import node_fill
from scheduler.placement.index.facts import Facts
from scheduler.placement.judges.verify import check
from scheduler.placement.model import ObjectiveWeights, Problem, Solution


def _packing(seed: int, items: int, dims: int = 3) -> Problem:
    """Vector bin packing, sizes 5-45 of 100 per dimension, one node per FFD bin."""
    rng = random.Random(seed)
    sizes = tuple(tuple(rng.randint(5, 45) for _ in range(dims)) for _ in range(items))
    inst = vbp.Instance("t", (100,) * dims, sizes, (1,) * items)
    return vbp.to_problem(inst)


def _bins(s: Solution) -> int:
    return len({nodes[0] for nodes in s.assignment if nodes})


def test_applies_to_bin_packing_only() -> None:
    p = _packing(1, 40)
    facts = Facts(p)
    assert applies(p, facts, ObjectiveWeights())
    assert not applies(p, facts, replace(ObjectiveWeights(), energy=0))
    # A job allowed on part of the nodes only.
    half = tuple(range(p.num_nodes // 2))
    q = replace(p, node_sets=(*p.node_sets, half), job_nodes=(1, *p.job_nodes[1:]))
    assert not applies(q, Facts(q), ObjectiveWeights())
    # One node larger than the others.
    caps = (tuple(c + 1 for c in p.node_capacity[0]), *p.node_capacity[1:])
    r = replace(p, node_capacity=caps)
    assert not applies(r, Facts(r), ObjectiveWeights())


def test_each_answer_has_one_node_fewer_and_passes_the_checker() -> None:
    """From the best node-fill answer, each answer closes one node, never below the bound
    of the scarcest dimension, and the checker accepts every one."""
    p = _packing(4, 60)
    facts = Facts(p)
    start = min((s for _, s in node_fill(p, facts)), key=_bins)
    answers = list(eliminate(facts, start, time.perf_counter() + 5.0, attempts=200))
    assert answers, "no node closed from the node-fill answer"
    counts = [_bins(start)] + [_bins(s) for s in answers]
    assert counts == list(range(counts[0], counts[0] - len(answers) - 1, -1))
    assert counts[-1] >= least_nodes(p)
    for s in answers:
        assert check(p, s) == []


def test_attempts_make_it_repeatable() -> None:
    """With a closing budget and the same seed, the same answers."""
    p = _packing(5, 80)
    facts = Facts(p)
    start = min((s for _, s in node_fill(p, facts)), key=_bins)
    far = time.perf_counter() + 3600
    first = list(eliminate(Facts(p), start, far, attempts=50, seed=3))
    again = list(eliminate(Facts(p), start, far, attempts=50, seed=3))
    assert first == again
