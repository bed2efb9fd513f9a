"""Issue 9's placement rules in validation and in the independent checker: scoped quotas,
department-bound priority preemption, may-preempt, reclaim and the eviction cap, each
violation caught on a hand-built answer."""

from __future__ import annotations

from dataclasses import replace

import pytest

from scheduler.placement.judges.verify import check
from scheduler.placement.model import Quota, Solution
from scheduler.placement.model.validate import InvalidProblem
from tests.placement.build import jobs, tiny
from tests.placement.governance import (
    eviction_cap,
    group_quota,
    parent_quota,
    preemption,
    reclaim_budget,
    reclaim_without_may_preempt,
)


def one(errors: list[str], fragment: str) -> None:
    """Exactly one violation, and it mentions `fragment`."""
    assert len(errors) == 1, errors
    assert fragment in errors[0], errors


def test_quota_positional_fields_keep_their_meaning() -> None:
    """Quota(department, resource, nominal, borrow_limit) still reads as before: the owner is
    the only member and every group is covered."""
    q = Quota(3, 1, 5, 2)
    assert (q.department, q.resource, q.nominal, q.borrow_limit) == (3, 1, 5, 2)
    assert (q.groups, q.members, q.member_departments()) == ((), (), (3,))


def test_several_scopes_for_one_department_and_resource_are_valid() -> None:
    """A department may have a quota per group and one over every group on the same resource."""
    p = tiny(
        node_group=(0, 1),
        group_cost=((1, 1), (1, 1)),
        job_department=(0,),
        quotas=(Quota(0, 0, 1), Quota(0, 0, 1, groups=(0,)), Quota(0, 0, 1, groups=(1,))),
    )
    assert len(p.quotas) == 3


@pytest.mark.parametrize(
    ("quotas", "fragment"),
    [
        ((Quota(0, 0, 1, groups=(0,)), Quota(0, 0, 2, groups=(0,))), "same groups and members"),
        ((Quota(0, 0, 1, groups=(2,)),), "quota 0: groups: group 2 does not exist"),
        ((Quota(0, 0, 1, groups=(1, 0)),), "groups must be ascending without repeats"),
        ((Quota(0, 0, 1, members=(1, 1)),), "members must be ascending without repeats"),
        ((Quota(0, 0, 1, members=(-1,)),), "members: department -1 does not exist"),
        ((Quota(0, 0, 1, groups=[0]),), "groups must be a tuple"),  # type: ignore[arg-type]
    ],
)
def test_validation_rejects_bad_scopes(quotas: tuple[Quota, ...], fragment: str) -> None:
    """Identical scopes twice, unknown groups or departments, unsorted or repeated entries and
    non-tuples are refused with the quota's index."""
    with pytest.raises(InvalidProblem, match=fragment):
        tiny(node_group=(0, 1), group_cost=((1, 1), (1, 1)), quotas=quotas)


def test_validation_checks_the_new_problem_fields() -> None:
    """job_may_preempt is one bool per job; max_evictions is -1 or a count."""
    with pytest.raises(InvalidProblem, match="job_may_preempt has 2 entries"):
        tiny(job_may_preempt=(True, False))
    with pytest.raises(InvalidProblem, match="job 0: job_may_preempt must be a bool"):
        tiny(job_may_preempt=(1,))
    with pytest.raises(InvalidProblem, match="max_evictions"):
        tiny(max_evictions=-2)


def test_parent_quota_bounds_the_sum_of_its_children() -> None:
    """Two jobs of child 1 and two of child 2 make 4 cpu against the parent's 3, although each
    child keeps within its own quota of 10."""
    p = parent_quota()
    three = Solution(((0,), (0,), None, (1,), None, None))
    assert check(p, three) == []
    four = Solution(((0,), (0,), None, (1,), (1,), None))
    one(check(p, four), "quota 2 of department 0 (members [1, 2]): cpu used 4 > quota 3")


def test_group_quota_counts_only_replicas_in_its_groups() -> None:
    """Jobs in group 1 do not count against the group-0 quota; a second job in group 0 does."""
    p = group_quota()
    assert check(p, Solution(((0,), (1,), (1,), (1,), (1,), None))) == []
    one(
        check(p, Solution(((0,), (0,), (1,), None, None, None))),
        "quota 0 of department 0 in groups [0]: cpu used 2 > quota 1",
    )


def test_members_count_jobs_of_other_departments_only_if_listed() -> None:
    """A job of department 3 never counts against the parent quota of 1 and 2."""
    p = replace(parent_quota(), job_department=(1, 1, 1, 3, 3, 3))
    assert check(p, Solution(((0,), (0,), (0,), (1,), (1,), (1,)))) == []


def test_priority_preemption_within_a_department_only() -> None:
    """Evicting job 0 for job 1 is justified when both are of department 1, refused when job 1
    is of department 2, and allowed again when either has no department."""
    evict = Solution((None, (0,)))
    assert check(preemption((1, 1)), evict) == []
    one(check(preemption((1, 2)), evict), "evicted although no higher-priority job")
    assert check(preemption((-1, 2)), evict) == []
    assert check(preemption((1, -1)), evict) == []


def test_may_preempt_false_cannot_evict_by_priority() -> None:
    """Job 1 of the same department but not allowed to preempt does not justify the eviction."""
    one(
        check(preemption((1, 1), (True, False)), Solution((None, (0,)))),
        "evicted although no higher-priority job",
    )


def test_reclaim_needs_no_may_preempt() -> None:
    """A quota above nominal is reclaimed whoever takes the room; at nominal it is not."""
    evict = Solution((None, (0,)))
    assert check(reclaim_without_may_preempt(), evict) == []
    at_nominal = replace(
        reclaim_without_may_preempt(), quotas=(Quota(1, 0, nominal=4, borrow_limit=0),)
    )
    one(check(at_nominal, evict), "evicted although")


def test_reclaim_reads_the_quota_scope() -> None:
    """A quota above nominal in another group, or of other members, does not cover job 0."""
    p = reclaim_without_may_preempt()
    evict = Solution((None, (0,)))
    two_groups = replace(
        p,
        node_capacity=((4, 8), (4, 8)),
        node_group=(0, 1),
        group_cost=((0, 0), (0, 0)),
        node_sets=((0,),),
        quotas=(Quota(1, 0, nominal=2, borrow_limit=2, groups=(1,)),),
    )
    one(check(two_groups, evict), "evicted although")
    others = replace(p, quotas=(Quota(1, 0, nominal=2, borrow_limit=2, members=(5,)),))
    one(check(others, evict), "evicted although")
    parent = replace(p, quotas=(Quota(0, 0, nominal=2, borrow_limit=2, members=(1, 3)),))
    assert check(parent, evict) == []


def test_reclaim_gives_the_room_to_a_lender_not_to_the_borrowers_own() -> None:
    """Job 1 inside the above-nominal quota's members (its department, or a sibling under a
    parent's quota) does not reclaim job 0's room; a job without a department does."""
    p = reclaim_without_may_preempt()
    evict = Solution((None, (0,)))
    own = replace(p, job_department=(1, 1))
    one(check(own, evict), "evicted although")
    sibling = replace(p, quotas=(Quota(0, 0, nominal=2, borrow_limit=2, members=(1, 2)),))
    one(check(sibling, evict), "evicted although")
    assert check(replace(p, job_department=(1, -1)), evict) == []


def test_a_quota_over_its_limit_is_reclaimed_without_a_taker() -> None:
    """Running use above nominal + borrow_limit (a lowered quota) justifies evicting job 0
    even when no job takes its room."""
    lowered = replace(
        reclaim_without_may_preempt(), quotas=(Quota(1, 0, nominal=2, borrow_limit=1),)
    )
    assert check(lowered, Solution((None, None))) == []
    within_limit = reclaim_without_may_preempt()
    one(check(within_limit, Solution((None, None))), "evicted although")


def test_the_priority_rule_compares_preempt_ranks_when_given() -> None:
    """With job_preempt_rank, a higher job_priority alone does not evict within a department,
    and a higher rank does."""
    evict = Solution((None, (0,)))
    same = preemption((1, 1))
    one(check(replace(same, job_preempt_rank=(3, 3)), evict), "evicted although")
    assert check(replace(same, job_preempt_rank=(3, 4)), evict) == []


def test_eviction_cap() -> None:
    """With max_evictions 1 a second eviction is reported; -1 allows all three."""
    two = Solution((None, None, (2,), (0,), (1,), None))
    one(check(eviction_cap(1), two), "2 running jobs evicted > max_evictions 1")
    assert check(eviction_cap(2), two) == []
    assert check(eviction_cap(-1), Solution((None, None, None, (0,), (1,), (2,)))) == []


def test_defaults_keep_the_old_rules() -> None:
    """Without departments, may-preempt or cap, a higher-priority job evicts across the board."""
    p = jobs(
        2,
        node_capacity=((4, 8),),
        node_group=(0,),
        node_sets=((0,),),
        job_demand=((4, 1), (4, 1)),
        job_priority=(0, 5),
        job_current=((0,), None),
        job_preempt_cost=(3, -1),
    )
    assert check(p, Solution((None, (0,)))) == []


def test_reclaim_stops_at_the_borrowers_nominal() -> None:
    """Evicting all four borrowed jobs exceeds the budget of excess 2 + largest job 1;
    evicting three for three 1-cpu jobs of the lender stays within it."""
    p = reclaim_budget()
    one(
        check(p, Solution((None, None, None, None, (0,), None, None, None))),
        "more than its excess over nominal plus its largest job (3)",
    )
    assert check(p, Solution(((0,), None, None, None, None, (0,), (0,), (0,)))) == []


def test_only_a_job_that_may_reclaim_takes_lent_capacity_back() -> None:
    """Job 1 of a lender with job_may_reclaim False (it borrows itself) does not justify
    evicting the borrower; with True it does."""
    p = reclaim_without_may_preempt()
    evict = Solution((None, (0,)))
    one(check(replace(p, job_may_reclaim=(True, False)), evict), "evicted although")
    assert check(replace(p, job_may_reclaim=(False, True)), evict) == []
