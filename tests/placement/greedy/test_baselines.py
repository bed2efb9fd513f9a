"""Greedy baselines: each rule's choices on hand-made cases, and feasibility on random problems."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.placement.greedy.baselines import (
    BASELINES,
    best_baseline,
    best_fit,
    drf_ordered,
    first_fit_decreasing,
    kubernetes_like,
)
from scheduler.placement.judges.evaluator import evaluate
from scheduler.placement.judges.verify import check
from scheduler.placement.model import Problem, Quota, Service, Solution
from tests.placement.build import ROADEF, ROADEF_INITIAL, jobs, tiny
from tests.placement.random_problems import random_problem

ALL = tuple(BASELINES.values())
GPU = {
    "resources": ("cpu", "gpu"),
    "gpu_resource": 1,
    "node_devices": (2, 2),
    "node_capacity": ((8, 2000), (8, 2000)),
}


def test_running_jobs_stay_where_they_are() -> None:
    """On ROADEF's example every baseline keeps the (required, running) initial assignment."""
    for baseline in ALL:
        s = baseline(ROADEF)
        assert s.assignment == ROADEF_INITIAL
        assert check(ROADEF, s) == []


def test_required_jobs_go_first() -> None:
    """A required job gets the only room even against older, higher-priority work."""
    p = jobs(
        2,
        node_capacity=((4, 8),),
        node_group=(0,),
        node_sets=((0,),),
        job_demand=((4, 1), (4, 1)),
        job_priority=(9, 0),
        job_required=(False, True),
    )
    for baseline in ALL:
        assert baseline(p).assignment == (None, (0,))


def test_first_fit_decreasing_packs_largest_first_on_lowest_nodes() -> None:
    """FFD places the largest job first, each on the lowest-numbered node that fits."""
    p = jobs(3, job_demand=((1, 1), (3, 1), (2, 1)))
    # Largest (3) to node 0, then 2 does not fit there (3 + 2 > 4) and goes to node 1, then 1
    # fits node 0 again.
    assert first_fit_decreasing(p).assignment == ((0,), (0,), (1,))


def test_best_fit_takes_the_tightest_node() -> None:
    """Best fit puts a replica where the least capacity is left afterwards."""
    p = jobs(2, job_demand=((3, 2), (1, 2)), node_capacity=((4, 8), (4, 8)), job_order=(0, 1))
    # Job 0 (older, same priority) goes first to node 0; job 1 fits node 0 exactly.
    assert best_fit(p).assignment == ((0,), (0,))


def test_best_fit_prefers_the_cheapest_group() -> None:
    """Groups are tried cheapest first for the job's demand."""
    p = tiny(node_group=(0, 1), group_cost=((5, 5), (1, 1)))
    assert best_fit(p).assignment == ((1,),)


def test_kubernetes_like_is_fifo_and_most_allocated() -> None:
    """Kubernetes-like serves the oldest job first and stacks replicas on the fullest node."""
    p = jobs(
        3,
        node_capacity=((4, 8), (4, 8)),
        node_reserved=((0, 0), (1, 0)),
        job_demand=((3, 1), (4, 1), (1, 1)),
        job_priority=(0, 9, 0),
        job_order=(0, 2, 1),
    )
    # Job 0 (oldest) fills node 1 (3 cpu free, most allocated afterwards); job 2 (next oldest)
    # fits node 0 only; the high-priority job 1 (newest) needs 4 cpu, finds 3, and waits.
    assert kubernetes_like(p).assignment == ((1,), None, (0,))


def test_drf_serves_the_department_with_the_smallest_dominant_share() -> None:
    """Department 1's running job dominates the pool, so department 0's queued job goes first."""
    p = jobs(
        3,
        node_capacity=((4, 8), (3, 8)),
        job_demand=((3, 1), (2, 1), (2, 1)),
        job_priority=(0, 5, 0),
        job_department=(1, 1, 0),
        job_current=((0,), None, None),
    )
    # Only node 1 has room for one 2-cpu job: priority would give it to job 1; DRF gives it to
    # department 0 (share 0 against department 1's 3/7 of the cpu).
    assert drf_ordered(p).assignment == ((0,), None, (1,))
    assert best_fit(p).assignment == ((0,), (1,), None)


def test_gangs_stay_in_one_group() -> None:
    """A gang that only fits across two groups waits."""
    p = tiny(
        job_replicas=(2,),
        job_demand=((3, 1),),
        node_group=(0, 1),
        group_cost=((1, 1), (1, 1)),
    )
    for baseline in ALL:
        assert baseline(p).assignment == (None,)


def test_fractional_gpus_share_devices_and_whole_ones_are_exclusive() -> None:
    """Shares fill one device before breaking into another; whole devices get their own ids."""
    p = jobs(4, **GPU, job_demand=((1, 1000), (1, 500), (1, 300), (1, 200)))
    for baseline in ALL:
        s = baseline(p)
        assert check(p, s) == []
        assert evaluate(p, s).fragmentation == 0


def test_quotas_limit_a_department() -> None:
    """A department stops at nominal plus borrowing, whatever room the pool has."""
    p = jobs(3, job_department=(0, 0, 0), quotas=(Quota(0, 0, nominal=1, borrow_limit=1),))
    for baseline in ALL:
        s = baseline(p)
        assert sum(a is not None for a in s.assignment) == 2
        assert check(p, s) == []


def test_services_anti_affinity_spread_and_dependency() -> None:
    """Anti-affinity spreads members over nodes; a dependent follows its target's domain."""
    p = jobs(
        3,
        node_capacity=((4, 8), (4, 8), (4, 8)),
        node_group=(0, 0, 0),
        node_sets=((0, 1, 2),),
        node_domains=((0, 0), (1, 0), (1, 1)),
        domain_keys=("zone", "rack"),
        job_order=(2, 1, 0),  # the dependent job 2 is the oldest
        services=(
            Service(jobs=(0, 1), anti_affinity=True, spread_key=0, spread_min=2),
            Service(jobs=(2,), depends_on=(0,), affinity_key=1),
        ),
    )
    for baseline in ALL:
        s = baseline(p)
        assert check(p, s) == []
        assert all(a is not None for a in s.assignment)


def test_short_spread_takes_the_service_back() -> None:
    """A service that cannot reach its spread is left out entirely."""
    p = jobs(
        2,
        node_domains=((0,), (0,)),
        domain_keys=("zone",),
        services=(Service(jobs=(0, 1), spread_key=0, spread_min=2),),
    )
    for baseline in ALL:
        assert baseline(p).assignment == (None, None)


def test_best_baseline_is_the_best_by_the_evaluator() -> None:
    """best_baseline returns the baseline whose answer the evaluator values most."""
    p = jobs(3, job_demand=((1, 1), (3, 1), (2, 6)), job_priority=(0, 0, 3))
    name, solution, evaluation = best_baseline(p)
    values = {n: evaluate(p, b(p)).value for n, b in BASELINES.items()}
    assert evaluation.value == max(values.values()) == values[name]
    assert evaluation == evaluate(p, solution)


def test_best_baseline_asks_should_stop_after_each_rule() -> None:
    """A caller that says stop after the first rule gets that rule's answer, evaluated; one
    that never says stop is asked once before each later rule."""
    p = jobs(3, job_demand=((1, 1), (3, 1), (2, 6)), job_priority=(0, 0, 3))
    first = next(iter(BASELINES))
    name, solution, evaluation = best_baseline(p, should_stop=lambda: True)
    assert name == first and solution == BASELINES[first](p)
    assert evaluation == evaluate(p, solution)
    asked: list[int] = []

    def never() -> bool:
        asked.append(1)
        return False

    assert best_baseline(p, should_stop=never) == best_baseline(p)
    assert len(asked) == len(BASELINES) - 1


def _fits_somewhere(p: Problem, s: Solution, j: int) -> bool:
    """Whether adding job j (alone, no GPU devices needed) to s passes the checker."""
    base = list(s.assignment)
    devices = list(s.devices) if s.devices else None
    for group in set(p.node_group):
        nodes = [n for n in p.node_sets[p.job_nodes[j]] if p.node_group[n] == group]
        for combo in itertools.combinations_with_replacement(nodes, p.job_replicas[j]):
            base[j] = combo
            trial = Solution(tuple(base), tuple(devices) if devices else ())
            if not check(p, trial):
                return True
    return False


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_baselines_are_feasible_on_random_problems(seed: int) -> None:
    """Every baseline's answer passes the checker, with devices, services, quotas, running jobs."""
    p = random_problem(seed)
    for name, baseline in BASELINES.items():
        s = baseline(p)
        assert check(p, s) == [], name
        evaluate(p, s)  # device ids present wherever the evaluator needs them


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_baselines_leave_out_only_jobs_that_do_not_fit(seed: int) -> None:
    """FFD, best fit and DRF are maximal: no left-out plain job could be added feasibly."""
    p = random_problem(seed)
    in_service = {j for svc in p.services for j in svc.jobs}
    overridden = {o.job for o in p.overrides}
    for baseline in (first_fit_decreasing, best_fit, drf_ordered):
        s = baseline(p)
        for j, nodes in enumerate(s.assignment):
            if nodes is not None or j in in_service or p.job_demand[j][1]:
                continue
            if j in overridden and p.job_department[j] >= 0:
                continue  # a cheaper override elsewhere could pass a quota the greedy missed
            assert not _fits_somewhere(p, s, j), (baseline.__name__, j)
