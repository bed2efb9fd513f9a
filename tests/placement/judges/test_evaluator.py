"""The v2 objective: each term on small hand-computed cases, ROADEF's example, the work weight."""

from __future__ import annotations

import itertools

from scheduler.placement.judges.evaluator import evaluate, min_cost_pairing
from scheduler.placement.judges.scale import VALUE_LIMIT, cost_bounds, job_work, objective_scale
from scheduler.placement.model import Balance, ObjectiveWeights, Override, Service, Solution
from tests.placement.build import (
    ROADEF,
    ROADEF_BETTER,
    ROADEF_INITIAL,
    ROADEF_OPTIMUM,
    jobs,
    tiny,
)

ONLY = ObjectiveWeights(work=0)  # value = -(weighted cost): isolates the cost terms


def test_roadef_statement_example() -> None:
    """ROADEF 2012's example costs 4,200 at first, 3,510 after one move, 2,411 at the optimum."""
    costs = []
    for assignment in (ROADEF_INITIAL, ROADEF_BETTER, ROADEF_OPTIMUM):
        e = evaluate(ROADEF, Solution(assignment))
        assert e.cost_unit == 1
        costs.append(e.work_weight * e.work - e.value)
    assert costs == [4200, 3510, 2411]
    best = evaluate(ROADEF, Solution(ROADEF_OPTIMUM))
    # Statement: 400 (load) + 1600 (balance) + 101 (process) + 10 (service) + 300 (machine).
    assert (best.load, best.balance, best.migration) == (400, 1600, 411)


def test_work_is_priority_times_replicas_times_relative_size() -> None:
    """Size sums ceil(1000 * demand / largest demand) per resource; work scales it."""
    p = jobs(2, job_demand=((1, 2), (2, 8)), job_priority=(0, 2), job_replicas=(1, 2))
    # Job 0: 500 + 250 = 750; job 1: (2 + 1) * 2 * (1000 + 1000) = 12,000.
    assert job_work(p) == (750, 12000)
    e = evaluate(p, Solution((None, (0, 1))), ONLY)
    assert e.work == 12000
    assert evaluate(p, Solution(((0,), (0, 1))), ONLY).work == 12750


def test_preemption() -> None:
    """Evicting a running job costs its preemption cost; queued jobs left out cost nothing."""
    p = jobs(2, job_current=((0,), None), job_preempt_cost=(7, 3))
    assert evaluate(p, Solution((None, None)), ONLY).preemption == 7
    assert evaluate(p, Solution(((0,), None)), ONLY).preemption == 0


def test_migration_counts_replicas_by_multiset() -> None:
    """Swapping interchangeable replicas is no move; each real move costs job and node cost."""
    p = tiny(
        job_replicas=(3,),
        job_demand=((1, 1),),
        job_current=((0, 0, 1),),
        job_move_cost=(10,),
        node_move_cost=((0, 5), (7, 0)),
    )
    assert evaluate(p, Solution(((1, 0, 0),)), ONLY).migration == 0
    assert evaluate(p, Solution(((1, 1, 0),)), ONLY).migration == 10 + 5
    assert evaluate(p, Solution(((1, 1, 1),)), ONLY).migration == 2 * (10 + 5)


def test_service_move_cost_is_the_largest_service() -> None:
    """service_move_weight multiplies the most moved replicas in any one service."""
    p = jobs(
        3,
        job_current=((0,), (0,), (0,)),
        job_move_cost=(1, 1, 1),
        services=(Service(jobs=(0, 1)), Service(jobs=(2,))),
        service_move_weight=100,
    )
    assert evaluate(p, Solution(((1,), (1,), (1,))), ONLY).migration == 3 + 100 * 2
    assert evaluate(p, Solution(((0,), (0,), (1,))), ONLY).migration == 1 + 100 * 1


def test_money_uses_overrides() -> None:
    """A replica costs demand x group price, its override's demand on that type, or its cost."""
    p = tiny(
        node_capacity=((4, 8), (4, 8), (4, 8)),
        node_group=(0, 1, 1),
        node_type=(0, 1, 2),
        group_cost=((2, 3), (1, 1)),
        node_sets=((0, 1, 2),),
        overrides=(
            Override(job=0, node_type=1, cost=100),
            Override(job=0, node_type=2, demand=(3, 4)),
        ),
    )
    assert evaluate(p, Solution(((0,),)), ONLY).money == 1 * 2 + 2 * 3
    assert evaluate(p, Solution(((1,),)), ONLY).money == 100
    assert evaluate(p, Solution(((2,),)), ONLY).money == 3 + 4


def test_energy_counts_nodes_hosting_replicas() -> None:
    """Each node hosting at least one replica costs its opening cost once."""
    p = jobs(2, node_open_cost=(5, 7))
    assert evaluate(p, Solution(((0,), (0,))), ONLY).energy == 5
    assert evaluate(p, Solution(((0,), (1,))), ONLY).energy == 12
    assert evaluate(p, Solution((None, None)), ONLY).energy == 0


def test_load_above_safety_including_reserved() -> None:
    """Usage (reserved included) above the safety level costs load_weight per unit."""
    p = jobs(
        2,
        job_demand=((1, 1), (1, 1)),
        node_reserved=((1, 0), (0, 0)),
        node_safety=((1, 8), (4, 8)),
        load_weight=(3, 1),
    )
    # Node 0 uses 1 + 1 + 1 = 3 cpu, 2 above safety; split, it uses 2, 1 above.
    assert evaluate(p, Solution(((0,), (0,))), ONLY).load == 3 * 2
    assert evaluate(p, Solution(((0,), (1,))), ONLY).load == 3 * 1


def test_balance_counts_every_node() -> None:
    """weight * max(0, target * avail(r1) - avail(r2)) summed over all nodes, empty ones too."""
    p = tiny(balances=(Balance(r1=0, r2=1, target=3, weight=2),))
    # Empty node: 3*4 - 8 = 4; node with (1, 2): 3*3 - 6 = 3.
    assert evaluate(p, Solution(((0,),)), ONLY).balance == 2 * (3 + 4)
    assert evaluate(p, Solution((None,)), ONLY).balance == 2 * (4 + 4)


def test_fragmentation_counts_partly_used_devices() -> None:
    """Devices with a used share strictly between 0 and 1000 count once each."""
    p = jobs(
        3,
        resources=("cpu", "gpu"),
        gpu_resource=1,
        node_devices=(3, 0),
        node_capacity=((8, 3000), (8, 0)),
        job_demand=((1, 400), (1, 600), (1, 300)),
    )
    packed = Solution(((0,), (0,), (0,)), devices=(((0,),), ((0,),), ((1,),)))
    assert evaluate(p, packed, ONLY).fragmentation == 1
    apart = Solution(((0,), (0,), (0,)), devices=(((0,),), ((1,),), ((2,),)))
    assert evaluate(p, apart, ONLY).fragmentation == 3


def test_automatic_work_weight_is_one_plus_cost_bound() -> None:
    """Ww = 1 + sum of weighted cost upper bounds, so one unit of work beats any cost saving."""
    p = jobs(2, node_open_cost=(5, 7), job_current=((0,), None), job_preempt_cost=(4, -1))
    bounds = cost_bounds(p)
    # Money: 2 jobs x (1 x 1 + 2 x 1); energy 5 + 7; preemption 4.
    assert (bounds["money"], bounds["energy"], bounds["preemption"]) == (6, 12, 4)
    assert objective_scale(p).work_weight == 1 + 6 + 12 + 4
    doubled = ObjectiveWeights(money=2)
    assert objective_scale(p, doubled).work_weight == 1 + 12 + 12 + 4
    e = evaluate(p, Solution(((0,), (1,))))
    assert e.value == 23 * e.work - (e.money + e.energy)


def test_explicit_work_weight_is_the_plain_formula() -> None:
    """With an explicit work weight, value = W.work * work - sum of weighted costs."""
    p = jobs(2, node_open_cost=(5, 7))
    w = ObjectiveWeights(work=3, money=2, energy=10)
    e = evaluate(p, Solution(((0,), (1,))), w)
    assert (e.work_weight, e.cost_unit) == (3, 1)
    assert e.value == 3 * e.work - 2 * e.money - 10 * e.energy


def test_huge_costs_scale_to_stay_in_int64() -> None:
    """When bounds would overflow int64, costs are coarsened and work still dominates."""
    big = 1 << 40
    p = jobs(
        2,
        job_replicas=(1, 1 << 14),
        job_priority=(0, 1000),
        job_demand=((1, 1), (1, 1)),
        node_capacity=((1 << 20, 1 << 20), (1 << 20, 1 << 20)),
        node_open_cost=(big, big),
    )
    scale = objective_scale(p)
    assert scale.cost_unit > 1
    assert scale.work_weight * sum(job_work(p)) <= VALUE_LIMIT
    # Placing the small job on an expensive node still beats leaving it out.
    placed = evaluate(p, Solution(((0,), None)))
    empty = evaluate(p, Solution((None, None)))
    assert placed.value > empty.value
    assert abs(evaluate(p, Solution(((0,), (1,) * (1 << 14)))).value) <= VALUE_LIMIT


def test_min_cost_pairing_matches_brute_force() -> None:
    """The Hungarian pairing of moved replicas finds the cheapest of all matchings."""
    cost = ((0, 9, 2, 7), (4, 0, 8, 1), (3, 6, 0, 5), (8, 2, 4, 0))
    gone, came = [0, 1, 2], [1, 2, 3]
    brute = min(
        sum(cost[a][b] for a, b in zip(gone, perm, strict=True))
        for perm in itertools.permutations(came)
    )
    assert min_cost_pairing(gone, came, cost) == brute
