"""Small hand-made engine-v2 problems shared by the v2 tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from scheduler.placement.model import Balance, Problem, Service

# Two nodes in one group, one job: the smallest valid problem; tests change what they need.
BASE = Problem(
    resources=("cpu", "mem"),
    node_capacity=((4, 8), (4, 8)),
    node_group=(0, 0),
    group_cost=((1, 1),),
    node_sets=((0, 1),),
    job_demand=((1, 2),),
    job_replicas=(1,),
    job_priority=(0,),
    job_order=(0,),
    job_nodes=(0,),
)


def tiny(**changes: Any) -> Problem:
    """BASE with `changes` applied (validated like any problem)."""
    return replace(BASE, **changes)


def jobs(count: int, **changes: Any) -> Problem:
    """`count` jobs of BASE's shape on BASE's nodes, with `changes` applied."""
    base = {
        "job_demand": ((1, 2),) * count,
        "job_replicas": (1,) * count,
        "job_priority": (0,) * count,
        "job_order": tuple(range(count)),
        "job_nodes": (0,) * count,
    }
    base.update(changes)
    return tiny(**base)


# ROADEF/EURO 2012 statement, section 2: 2 resources, 4 machines, 2 services, 3 processes.
# Weights fold into the data: job_move_cost = PMC x weightPMC, node_move_cost = MMC x weightMMC,
# service_move_weight = weightSMC; load and balance weights are the problem's own.
ROADEF_MMC = ((0, 1, 4, 5), (1, 0, 3, 4), (4, 3, 0, 2), (5, 4, 2, 0))
ROADEF = Problem(
    resources=("r1", "r2"),
    node_capacity=((30, 400), (10, 240), (15, 100), (10, 100)),
    node_group=(0, 0, 0, 0),
    group_cost=((0, 0),),
    node_sets=((0, 1, 2, 3),),
    job_demand=((12, 10), (10, 20), (6, 200)),
    job_replicas=(1, 1, 1),
    job_priority=(0, 0, 0),
    job_order=(0, 1, 2),
    job_nodes=(0, 0, 0),
    node_safety=((16, 80), (8, 160), (12, 80), (8, 80)),
    load_weight=(100, 10),
    transient=(True, False),
    node_domains=((0, 0), (0, 0), (1, 1), (1, 2)),
    domain_keys=("neighborhood", "location"),
    node_move_cost=tuple(tuple(100 * c for c in row) for row in ROADEF_MMC),
    balances=(Balance(r1=0, r2=1, target=20, weight=10),),
    job_required=(True, True, True),
    job_current=((0,), (3,), (0,)),
    job_move_cost=(1000, 100, 1),
    services=(
        Service(jobs=(0, 1), anti_affinity=True, spread_key=1, spread_min=2),
        Service(
            jobs=(2,),
            anti_affinity=True,
            spread_key=1,
            spread_min=1,
            depends_on=(0,),
            affinity_key=0,
        ),
    ),
    service_move_weight=10,
)
ROADEF_INITIAL = ((0,), (3,), (0,))
ROADEF_BETTER = ((0,), (2,), (0,))  # p2 moves m4 -> m3: 3510
ROADEF_OPTIMUM = ((0,), (2,), (1,))  # then p3 moves m1 -> m2: 2411
