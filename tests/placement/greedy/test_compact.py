"""Best fit with compact gangs (Greedy._compact): a GPU gang's replicas on as few nodes as
room allows, so whole nodes stay free; what it leaves alone (CPU gangs, fractional GPU shares,
services)."""

from __future__ import annotations

from dataclasses import replace

from scheduler.placement import EngineParams, solve
from scheduler.placement.greedy.baselines import best_baseline, best_fit
from scheduler.placement.judges.verify import check
from scheduler.placement.model import Problem, Service
from tests.placement.build import jobs

# Two nodes of 96 CPUs and 8 GPUs (devices); job 0 runs on node 0 with 1 GPU, job 1 is a
# queued gang of two 4-GPU replicas: seed 8's case in the city simulator.
GANG = jobs(
    2,
    resources=("cpu", "gpu"),
    gpu_resource=1,
    node_devices=(8, 8),
    node_capacity=((96, 8000), (96, 8000)),
    job_demand=((12, 1000), (48, 4000)),
    job_replicas=(1, 2),
    job_current=((0,), None),
    job_priority=(0, 5),
)


def _one_gang(gpus: tuple[int, int, int], replicas: int) -> Problem:
    """Three nodes in one group with `gpus` GPUs (and as many CPUs, no devices), one queued
    gang of `replicas` replicas of 2 CPUs and 2 GPUs."""
    return jobs(
        1,
        resources=("cpu", "gpu"),
        gpu_resource=1,
        node_devices=(0, 0, 0),
        node_capacity=tuple((g, g * 1000) for g in gpus),
        group_cost=((1, 1),),
        node_group=(0, 0, 0),
        node_sets=((0, 1, 2),),
        job_demand=((2, 2000),),
        job_replicas=(replicas,),
    )


def test_plain_best_fit_splits_the_gang_over_both_nodes() -> None:
    """The tightest node takes the first replica (7 GPUs free), the second must go elsewhere:
    no node is left with 8 free GPUs."""
    s = best_fit(GANG)
    assert check(GANG, s) == []
    assert s.assignment == ((0,), (0, 1))


def test_compact_best_fit_keeps_the_gang_on_one_node() -> None:
    s = best_fit(GANG, compact=True)
    assert check(GANG, s) == []
    assert s.assignment == ((0,), (1, 1))
    # Every rule places both jobs, so the values tie; compact best fit runs first and wins.
    name, best, _ = best_baseline(GANG, compact=True)
    assert (name, best) == ("best_fit", s)
    assert best_baseline(GANG)[1].assignment == ((0,), (0, 1))


def test_a_gang_no_node_holds_whole_takes_blocks_then_single_replicas() -> None:
    """Five replicas of 2 GPUs on nodes of 8, 4 and 2 free GPUs: the whole gang fits nowhere,
    so two (half, rounded down) go to the tightest node that holds two, then the three left to
    the node that holds three: two nodes where plain best fit, tightest first, uses all three."""
    p = _one_gang(gpus=(8, 4, 2), replicas=5)
    s = best_fit(p, compact=True)
    assert check(p, s) == []
    assert sorted(s.assignment[0] or ()) == [0, 0, 0, 1, 1]
    assert sorted(best_fit(p).assignment[0] or ()) == [0, 0, 1, 1, 2]


def test_blocks_fill_the_tightest_node_that_holds_them() -> None:
    """Four replicas of 2 GPUs, nodes with room for 4, 2 and 2: all four on the node of 4
    (compact), where plain best fit fills the two small nodes first. Without GPUs the same
    gang is placed as plain best fit places it."""
    p = _one_gang(gpus=(8, 4, 4), replicas=4)
    assert best_fit(p, compact=True).assignment == ((0, 0, 0, 0),)
    assert sorted(best_fit(p).assignment[0] or ()) == [1, 1, 2, 2]
    cpu_only = replace(p, job_demand=((2, 0),))
    assert best_fit(cpu_only, compact=True) == best_fit(cpu_only)
    assert sorted(best_fit(cpu_only).assignment[0] or ()) == [1, 1, 2, 2]


def test_fractional_shares_and_services_are_placed_as_before() -> None:
    shares = jobs(
        1,
        resources=("cpu", "gpu"),
        gpu_resource=1,
        node_devices=(2, 2),
        node_capacity=((8, 2000), (8, 2000)),
        job_demand=((1, 500),),
        job_replicas=(3,),
    )
    assert best_fit(shares, compact=True) == best_fit(shares)
    spread = jobs(
        1,
        job_replicas=(2,),
        services=(Service(jobs=(0,), anti_affinity=True),),
    )
    s = best_fit(spread, compact=True)
    assert s == best_fit(spread)
    assert check(spread, s) == []
    assert len(set(s.assignment[0] or ())) == 2


def test_the_engine_keeps_the_compact_start() -> None:
    """Compact and split gangs have the same value: the engine keeps its first best (the
    greedy start) unless a later stage strictly improves it."""
    params = EngineParams(time_limit_s=1.0, compact_gangs=True)
    outcome = solve(GANG, params=params)
    assert outcome.solution is not None
    assert outcome.solution.assignment == ((0,), (1, 1))
