"""The independent checker: each violation kind is caught on a hand-made answer, and only then."""

from __future__ import annotations

from scheduler.placement.judges.verify import check
from scheduler.placement.model import Override, Quota, Service, Solution
from tests.placement.build import (
    ROADEF,
    ROADEF_BETTER,
    ROADEF_INITIAL,
    ROADEF_OPTIMUM,
    jobs,
    tiny,
)

GPU = {
    "resources": ("cpu", "gpu"),
    "gpu_resource": 1,
    "node_devices": (2, 0),
    "node_capacity": ((8, 2000), (8, 500)),
}


def one(errors: list[str], fragment: str) -> None:
    """Exactly one violation, and it mentions `fragment`."""
    assert len(errors) == 1, errors
    assert fragment in errors[0], errors


def test_accepts_roadef_solutions() -> None:
    """The statement's initial, improved and optimal ROADEF assignments are feasible."""
    for assignment in (ROADEF_INITIAL, ROADEF_BETTER, ROADEF_OPTIMUM):
        assert check(ROADEF, Solution(assignment)) == []


def test_shape() -> None:
    """Wrong length, a node that does not exist and a device list of the wrong length."""
    p = tiny()
    one(check(p, Solution(())), "assignment has 0 entries, expected 1")
    one(check(p, Solution(((7,),))), "replica 0 on node 7, which does not exist")
    one(check(p, Solution(((0,),), devices=((), ()))), "devices has 2 entries")


def test_gang_all_or_none() -> None:
    """A gang with fewer replicas than asked is reported."""
    p = tiny(job_replicas=(2,))
    one(check(p, Solution(((0,),))), "1 replicas placed, expected 2")
    assert check(p, Solution(((0, 0),))) == []


def test_gang_single_group() -> None:
    """A gang's replicas may not span two groups."""
    p = tiny(job_replicas=(2,), node_group=(0, 1), group_cost=((1, 1), (1, 1)))
    one(check(p, Solution(((0, 1),))), "span groups [0, 1]")
    assert check(p, Solution(((1, 1),))) == []


def test_eligibility() -> None:
    """A replica outside its node set is reported."""
    p = tiny(node_sets=((1,),))
    one(check(p, Solution(((0,),))), "replica 0 on node 0, not in its node set 0")
    assert check(p, Solution(((1,),))) == []


def test_capacity_counts_reserved_usage() -> None:
    """Reserved usage plus replicas may not exceed a node's capacity."""
    p = jobs(2, job_demand=((2, 1), (1, 1)), node_reserved=((2, 0), (0, 0)))
    one(check(p, Solution(((0,), (0,)))), "node 0: cpu used 5 > capacity 4")
    assert check(p, Solution(((0,), (1,)))) == []


def test_capacity_uses_demand_overrides() -> None:
    """On nodes of an overridden type, the override's demand counts, not the base demand."""
    p = tiny(node_type=(0, 1), overrides=(Override(job=0, node_type=1, demand=(5, 1)),))
    one(check(p, Solution(((1,),))), "node 1: cpu used 5 > capacity 4")
    assert check(p, Solution(((0,),))) == []


def test_transient_usage_of_moved_replicas() -> None:
    """A moved replica still holds transient resources on the node it leaves."""
    p = jobs(
        2,
        job_demand=((3, 1), (3, 1)),
        job_current=((0,), None),
        job_move_cost=(0, -1),
        transient=(True, False),
    )
    # Job 0 moves 0 -> 1, so job 1 cannot take node 0's cpu yet.
    one(check(p, Solution(((1,), (0,)))), "node 0: cpu used 6 > capacity 4 (3 of it held")
    assert check(p, Solution(((0,), (1,)))) == []
    assert check(p, Solution(((1,), None))) == []


def test_whole_devices_are_exclusive() -> None:
    """A device taken whole cannot host another replica's share."""
    p = jobs(2, **GPU, job_demand=((1, 1000), (1, 300)), node_sets=((0,),))
    one(check(p, Solution(((0,), (0,)), devices=(((0,),), ((0,),)))), "device 0 is taken whole")
    assert check(p, Solution(((0,), (0,)), devices=(((0,),), ((1,),)))) == []


def test_device_shares_fit_one_device() -> None:
    """Shares on one device may not sum above 1000, even when the node has room."""
    p = jobs(2, **GPU, job_demand=((1, 600), (1, 600)), node_sets=((0,),))
    one(check(p, Solution(((0,), (0,)), devices=(((1,),), ((1,),)))), "device 1 shares sum to 1200")
    assert check(p, Solution(((0,), (0,)), devices=(((1,),), ((0,),)))) == []


def test_device_ids_exist_and_are_listed() -> None:
    """Device ids must exist, be as many as needed, and be present for GPU replicas."""
    p = tiny(**GPU, job_demand=((1, 2000),), node_sets=((0,),))
    one(check(p, Solution(((0,),))), "lists no device ids")
    one(check(p, Solution(((0,),), devices=(((0,),),))), "needs 2 distinct")
    one(check(p, Solution(((0,),), devices=(((0, 2),),))), "devices [2] do not exist")
    one(check(p, Solution((None,), devices=(((0, 1),),))), "device ids given for an unplaced")
    assert check(p, Solution(((0,),), devices=(((0, 1),),))) == []


def test_gpu_on_a_node_without_devices_is_a_plain_quantity() -> None:
    """Node 1 has no devices: its GPU resource is a plain quantity and needs no ids."""
    p = tiny(**GPU, job_demand=((1, 300),), node_sets=((1,),))
    assert check(p, Solution(((1,),))) == []
    one(check(p, Solution(((1,),), devices=(((0,),),))), "needs 0 distinct")


def test_non_migratable_job_stays() -> None:
    """A running job without a move cost may not move; replicas may swap nodes freely."""
    p = tiny(job_replicas=(2,), job_current=((0, 1),))
    one(check(p, Solution(((1, 1),))), "not migratable but 1 replica(s) moved")
    assert check(p, Solution(((1, 0),))) == []


def test_non_preemptible_job_stays_placed() -> None:
    """A running job without a preemption cost may not be evicted."""
    p = tiny(job_current=((0,),))
    one(check(p, Solution((None,))), "running and not preemptible, but evicted")


def test_preemption_needs_a_reason() -> None:
    """Eviction is only for higher-priority work on the evicted job's nodes."""
    p = jobs(
        2,
        job_demand=((4, 1), (4, 1)),
        job_priority=(5, 3),
        job_current=((0,), None),
        job_preempt_cost=(10, -1),
    )
    one(check(p, Solution((None, (0,)))), "evicted although no higher-priority job")
    one(check(p, Solution((None, None))), "evicted although")
    higher = jobs(
        2,
        job_demand=((4, 1), (4, 1)),
        job_priority=(3, 5),
        job_current=((0,), None),
        job_preempt_cost=(10, -1),
    )
    assert check(higher, Solution((None, (0,)))) == []
    one(check(higher, Solution((None, (1,)))), "evicted although")


def test_preemption_reclaims_borrowed_quota() -> None:
    """A department above its nominal quota may lose a job even to lower-priority work."""
    p = jobs(
        2,
        job_demand=((4, 1), (4, 1)),
        job_priority=(5, 0),
        job_current=((0,), None),
        job_preempt_cost=(10, -1),
        job_department=(0, 1),
        quotas=(Quota(department=0, resource=0, nominal=2, borrow_limit=4),),
    )
    assert check(p, Solution((None, (0,)))) == []
    within = jobs(
        2,
        job_demand=((4, 1), (4, 1)),
        job_priority=(5, 0),
        job_current=((0,), None),
        job_preempt_cost=(10, -1),
        job_department=(0, 1),
        quotas=(Quota(department=0, resource=0, nominal=4),),
    )
    one(check(within, Solution((None, (0,)))), "evicted although")


def test_required_jobs_are_placed() -> None:
    """A required job left unplaced is a violation."""
    p = tiny(job_required=(True,))
    one(check(p, Solution((None,))), "required but not placed")
    assert check(p, Solution(((0,),))) == []


def test_quotas() -> None:
    """A department's placed demand may not exceed nominal plus borrowing limit."""
    p = jobs(
        2,
        job_department=(0, 0),
        quotas=(Quota(department=0, resource=1, nominal=3, borrow_limit=0),),
    )
    one(check(p, Solution(((0,), (1,)))), "department 0: mem used 4 > quota 3")
    assert check(p, Solution(((0,), None))) == []


def test_anti_affinity() -> None:
    """Replicas of an anti-affinity service may not share a node, across member jobs too."""
    p = jobs(2, services=(Service(jobs=(0, 1), anti_affinity=True),))
    one(check(p, Solution(((0,), (0,)))), "nodes [0] host several")
    assert check(p, Solution(((0,), (1,)))) == []


def test_spread() -> None:
    """A placed service must cover spread_min domains of its key."""
    p = jobs(
        2,
        node_domains=((0,), (1,)),
        domain_keys=("zone",),
        services=(Service(jobs=(0, 1), spread_key=0, spread_min=2),),
    )
    one(check(p, Solution(((0,), (0,)))), "covers 1 zone domain(s), needs 2")
    assert check(p, Solution(((0,), (1,)))) == []
    assert check(p, Solution((None, None))) == []


def test_dependency() -> None:
    """Each replica of a dependent service shares a domain with the service it depends on."""
    p = jobs(
        2,
        node_domains=((0,), (1,)),
        domain_keys=("rack",),
        services=(Service(jobs=(0,), depends_on=(1,), affinity_key=0), Service(jobs=(1,))),
    )
    one(check(p, Solution(((0,), (1,)))), "shares no rack with service 1")
    one(check(p, Solution(((0,), None))), "shares no rack with service 1")
    assert check(p, Solution(((1,), (1,)))) == []
    assert check(p, Solution((None, (1,)))) == []
