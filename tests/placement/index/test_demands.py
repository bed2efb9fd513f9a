"""index/demands.py: the engine's one reading of demands and money with overrides, checked
against the judges' own reading (judges/usage.py), which stays apart on purpose."""

from __future__ import annotations

import pytest

from scheduler.placement.index.demands import Demands
from scheduler.placement.judges import usage
from scheduler.placement.model import Override
from tests.placement.build import tiny
from tests.placement.random_problems import random_problem


@pytest.mark.parametrize("seed", range(40))
def test_the_engine_and_the_judges_read_overrides_alike(seed: int) -> None:
    """For every job and node of a random problem, demand and money agree with the judges'."""
    p = random_problem(seed)
    ours, judges = Demands(p), usage.Demands(p)
    for j in range(p.num_jobs):
        for n in range(p.num_nodes):
            assert ours.on_node(j, n) == judges.demand(j, n)
            assert ours.money(j, n) == judges.price(j, n)
            assert ours.money(j, n) == ours.money_on_type(j, ours.node_type[n], p.node_group[n])


def test_an_override_replaces_demand_and_cost_only_on_its_type() -> None:
    """A type-1 override changes demand and money there; other types keep the job's own."""
    p = tiny(
        node_capacity=((8, 8), (8, 8)),
        node_group=(0, 0),
        node_type=(0, 1),
        node_sets=((0, 1),),
        job_demand=((2, 1),),
        group_cost=((3, 1),),
        overrides=(Override(job=0, node_type=1, demand=(1, 1), cost=None),),
    )
    d = Demands(p)
    assert d.overridden == frozenset({0})
    assert (d.on_node(0, 0), d.on_node(0, 1)) == ((2, 1), (1, 1))
    assert (d.money(0, 0), d.money(0, 1)) == (7, 4)
    assert d.setting(0) == ((1, (1, 1), None),)
    assert list(d.demand_overrides()) == [(0, 1, (1, 1))]
    assert list(d.cost_overrides()) == []
