"""Why jobs wait: the most fundamental blocker, with the numbers behind it."""

from __future__ import annotations

from scheduler.domain import reasons
from scheduler.placement import Reason
from scheduler.placement.judges.explain import explain
from scheduler.placement.model import Quota, Service, Solution
from scheduler.placement.model.outcome import (
    GANG_INCOMPLETE,
    INSUFFICIENT_CAPACITY,
    NO_ELIGIBLE_NODE,
    NO_FITTING_NODE,
    OUTRANKED,
    QUOTA_EXHAUSTED,
)
from scheduler.service.explain import SOLVER_REASONS
from tests.placement.cpsat.helpers import tiny


def test_no_eligible_node_comes_first() -> None:
    """A job whose node set is empty waits for NO_ELIGIBLE_NODE, even if it is also too big."""
    p = tiny(node_sets=((),), job_demand=((9, 9),))
    (why,) = explain(p, Solution((None,)))
    assert why.reason == NO_ELIGIBLE_NODE


def test_no_fitting_node_names_what_the_closest_node_lacks() -> None:
    """A 6-cpu replica on 4-cpu nodes: NO_FITTING_NODE, the closest node lacks cpu=2."""
    p = tiny(job_demand=((6, 1),))
    (why,) = explain(p, Solution((None,)))
    assert why.reason == NO_FITTING_NODE
    assert why.lacking == (2, 0)
    assert "cpu=2" in why.detail


def test_gang_incomplete_when_no_cluster_holds_it_empty() -> None:
    """Three anti-affinity replicas, two nodes: GANG_INCOMPLETE, the best cluster holds 2."""
    p = tiny(job_replicas=(3,), services=(Service(jobs=(0,), anti_affinity=True),))
    (why,) = explain(p, Solution((None,)))
    assert why.reason == GANG_INCOMPLETE
    assert "holds 2" in why.detail


def test_quota_exhausted_reports_used_and_limit() -> None:
    """The department already uses 3 of its 3 + 1 cpu and the job needs 2: QUOTA_EXHAUSTED
    with used 3, limit 4."""
    p = tiny(
        job_demand=((3, 1), (2, 1)),
        job_department=(0, 0),
        quotas=(Quota(department=0, resource=0, nominal=3, borrow_limit=1),),
    )
    (why,) = explain(p, Solution(((0,), None)))
    assert (why.job, why.reason, why.resource, why.used, why.limit) == (
        1,
        QUOTA_EXHAUSTED,
        "cpu",
        3,
        4,
    )


def test_quota_exhausted_names_a_quota_of_a_cluster_that_could_hold_the_job() -> None:
    """A GPU job may use a CPU-only cluster (group 0, by its labels) and a GPU cluster (group
    1). Its department's GPU quota is 0 in group 0 and 1 of 1 used in group 1: the quota that
    holds it back is group 1's (used 1, limit 1), not group 0's, whose nodes can never hold it."""
    p = tiny(
        resources=("cpu", "mem", "gpu"),
        node_capacity=((4, 8, 0), (4, 8, 2)),
        node_group=(0, 1),
        group_cost=((0, 0, 0), (0, 0, 0)),
        job_demand=((1, 1, 1), (1, 1, 1)),
        job_department=(0, 0),
        job_current=((1,), None),
        quotas=(
            Quota(department=0, resource=2, nominal=0, groups=(0,)),
            Quota(department=0, resource=2, nominal=1, groups=(1,)),
        ),
    )
    (why,) = explain(p, Solution(((1,), None)))
    assert (why.job, why.reason, why.resource, why.used, why.limit) == (
        1,
        QUOTA_EXHAUSTED,
        "gpu",
        1,
        1,
    )


def test_insufficient_capacity_when_work_it_cannot_displace_fills_the_pool() -> None:
    """Running jobs it does not outrank fill both nodes: INSUFFICIENT_CAPACITY."""
    p = tiny(
        job_demand=((4, 1), (4, 1), (2, 1)),
        job_current=((0,), (1,), None),
        job_priority=(5, 5, 5),
        job_preempt_cost=(1, 1, -1),
    )
    (why,) = explain(p, Solution(((0,), (1,), None)))
    assert why.reason == INSUFFICIENT_CAPACITY
    assert why.lacking == (2, 0)


def test_outranked_names_the_job_that_took_the_room() -> None:
    """Two queued 4-cpu jobs, one node: the priority-9 job runs, the other is OUTRANKED by it."""
    p = tiny(
        node_capacity=((4, 8),),
        node_group=(0,),
        node_sets=((0,),),
        job_demand=((4, 1), (4, 1)),
        job_priority=(0, 9),
    )
    (why,) = explain(p, Solution((None, (0,))))
    assert why.reason == OUTRANKED
    assert "job 1 (priority 9)" in why.detail


def test_preempted_job_is_outranked_by_the_job_on_its_node() -> None:
    """A running job evicted for a priority-5 job on its node is OUTRANKED by that job."""
    p = tiny(
        node_capacity=((4, 8),),
        node_group=(0,),
        node_sets=((0,),),
        job_demand=((4, 1), (4, 8)),
        job_priority=(0, 5),
        job_current=((0,), None),
        job_preempt_cost=(3, -1),
    )
    (why,) = explain(p, Solution((None, (0,))))
    assert why.reason == OUTRANKED
    assert "preempted for job 1" in why.detail


def test_a_gang_short_of_room_says_how_many_replicas_fit_not_lacks_nothing() -> None:
    """A running job it cannot displace fills node 0; node 1 holds one 3-cpu replica of a gang
    of two and lacks nothing for one: the detail says it holds 1 of the 2 replicas (no pool
    devices, so never "devices are taken"), and no internal index appears."""
    p = tiny(
        job_demand=((4, 1), (3, 1)),
        job_replicas=(1, 2),
        job_current=((0,), None),
        job_preempt_cost=(-1, 1),
        node_names=("n0", "n1"),
        group_names=("gov-a",),
    )
    (why,) = explain(p, Solution(((0,), None)))
    assert why.reason == INSUFFICIENT_CAPACITY
    assert why.detail == (
        "work it cannot displace fills the pool: gov-a holds 1 of 2 replicas; "
        "best node n1 holds 1 of the 2 replicas"
    )


def test_no_eligible_node_names_no_internal_node_set() -> None:
    """The NO_ELIGIBLE_NODE detail is plain words, without "(node set 0)"."""
    p = tiny(node_sets=((),), job_demand=((1, 1),))
    (why,) = explain(p, Solution((None,)))
    assert why.detail == "no node passes the job's constraints"


def test_every_reason_code_has_one_service_mapping() -> None:
    """The engine's reason codes are one enum, and the service's one table maps each of them
    (and nothing else) to a scheduler reason code."""
    assert set(SOLVER_REASONS) == {r.value for r in Reason}
    assert all(isinstance(getattr(reasons, code, None), str) for code in SOLVER_REASONS.values())
    why = explain(tiny(job_demand=((99, 1),)), Solution((None,)))
    assert [type(u.reason) for u in why] == [Reason]
