"""Every engine on issue 9's hand-worked cases (tests/placement/governance.py): the full
solve(), exact CP-SAT, LNS, LP rounding, the greedy baselines and the local search each give an
answer the checker accepts and that obeys the case's rule; explanations name the quota."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from scheduler.placement.cpsat.lns import LnsLimits
from scheduler.placement.cpsat.lns import improve as lns_improve
from scheduler.placement.cpsat.objective import TermWeights
from scheduler.placement.engine import solve
from scheduler.placement.greedy.baselines import BASELINES
from scheduler.placement.greedy.warm_start import stay
from scheduler.placement.index.facts import Facts
from scheduler.placement.judges.evaluator import evaluate
from scheduler.placement.judges.explain import explain
from scheduler.placement.judges.scale import job_work
from scheduler.placement.judges.verify import check
from scheduler.placement.lp.bound import lp_bound
from scheduler.placement.lp.rounding import lp_round
from scheduler.placement.model import ObjectiveWeights, Problem, Quota, Solution
from scheduler.placement.model.outcome import OUTRANKED, QUOTA_EXHAUSTED
from scheduler.placement.model.params import EngineParams
from scheduler.placement.search.local_search import improve as local_improve
from tests.placement.cpsat.helpers import exact
from tests.placement.governance import (
    eviction_cap,
    group_quota,
    parent_quota,
    preemption,
    reclaim_budget,
    reclaim_without_may_preempt,
)

WEIGHTS = ObjectiveWeights()
PARAMS = EngineParams(time_limit_s=2.0)


def _placed(s: Solution) -> int:
    return sum(nodes is not None for nodes in s.assignment)


def _answers(p: Problem) -> dict[str, Solution]:
    """Every engine's answer to `p`, each already accepted by the checker."""
    out: dict[str, Solution] = {}
    outcome = solve(p, params=PARAMS)
    assert outcome.solution is not None, outcome.notes
    out["solve"] = outcome.solution
    out["cpsat"] = exact(p)[0].solution or Solution(())
    for name, baseline in BASELINES.items():
        out[name] = baseline(p)
        out[f"local_search<{name}"] = local_improve(p, WEIGHTS, out[name], steps=500)
    start = stay(Facts(p))
    out["lns"] = lns_improve(
        Facts(p),
        TermWeights.of(p, WEIGHTS),
        job_work(p),
        start,
        score=lambda s: evaluate(p, s, WEIGHTS).value,
        feasible=lambda s: not check(p, s),
        limits=LnsLimits(budget_s=30.0, step_s=0.5, max_steps=6),
    ).solution
    rounded = lp_round(p, WEIGHTS, lp_bound(p, WEIGHTS), steps=500)
    if rounded is not None:
        out["lp_round"] = rounded
    for name, s in out.items():
        assert check(p, s) == [], name
    return out


def _for_all(p: Problem, rule: Callable[[Solution], bool]) -> dict[str, Solution]:
    answers = _answers(p)
    broken = [name for name, s in answers.items() if not rule(s)]
    assert not broken, broken
    return answers


def test_parent_quota_binds_the_children_together() -> None:
    """At most 3 of the six jobs of the two children run; the optimising engines run exactly 3."""
    answers = _for_all(parent_quota(), lambda s: _placed(s) <= 3)
    for name in ("solve", "cpsat", "lns", "lp_round", "best_fit"):
        assert _placed(answers[name]) == 3, name


def test_group_quota_leaves_the_other_group_unbounded() -> None:
    """At most one job on group 0's node; the optimum fills group 1 too: 5 jobs run."""
    answers = _for_all(group_quota(), lambda s: sum(n == (0,) for n in s.assignment) <= 1)
    for name in ("solve", "cpsat", "lns", "best_fit"):
        assert _placed(answers[name]) == 5, name


def test_priority_preemption_within_the_department() -> None:
    """Job 1 of job 0's department evicts it: solve, CP-SAT and LNS do (baselines never evict)."""
    answers = _answers(preemption((1, 1)))
    for name in ("solve", "cpsat", "lns"):
        assert answers[name].assignment == (None, (0,)), name


@pytest.mark.parametrize(
    "p",
    [preemption((1, 2)), preemption((1, 1), (True, False))],
    ids=["other-department", "may-not-preempt"],
)
def test_priority_preemption_refused(p: Problem) -> None:
    """Across departments, or by a job that may not preempt, no engine evicts job 0."""
    _for_all(p, lambda s: s.assignment == ((0,), None))


def test_reclaim_works_without_may_preempt() -> None:
    """Job 0's department is above nominal: its quota is reclaimed for job 1 of another
    department that may not preempt; the explanation says so."""
    p = reclaim_without_may_preempt()
    answers = _answers(p)
    for name in ("solve", "cpsat", "lns"):
        assert answers[name].assignment == (None, (0,)), name
    (why,) = explain(p, answers["solve"])
    assert why.reason == QUOTA_EXHAUSTED
    assert "reclaim" in why.detail and "quota of department 1" in why.detail


def test_eviction_cap_holds_in_every_engine() -> None:
    """max_evictions 1 with three evictable jobs: at most one is evicted anywhere; the optimum
    evicts exactly one; without the cap it evicts all three."""

    def evicted(s: Solution) -> int:
        return sum(s.assignment[j] is None for j in range(3))

    answers = _for_all(eviction_cap(1), lambda s: evicted(s) <= 1)
    for name in ("solve", "cpsat"):
        assert evicted(answers[name]) == 1, name
    assert evicted(exact(eviction_cap(-1))[0].solution or Solution(())) == 3
    why = explain(eviction_cap(1), answers["solve"])
    assert [u.reason for u in why if u.job < 3] == [OUTRANKED]


def test_quota_exhausted_names_scope_and_numbers() -> None:
    """A job left out by the parent quota is explained by the parent's quota and its numbers;
    one left out by a group quota names the group."""
    p = parent_quota()
    why = explain(p, solve(p, params=PARAMS).solution or Solution(()))
    assert len(why) == 3 and all(u.reason == QUOTA_EXHAUSTED for u in why)
    assert "quota of department 0: cpu used 3 of nominal 3 + borrowing 0" in why[0].detail
    assert (why[0].used, why[0].limit) == (3, 3)
    one_group = group_quota()
    # Only group 0 allowed (node 0): its quota is what holds the job back.
    only0 = replace(one_group, node_sets=((0,),))
    (first, *_) = explain(only0, solve(only0, params=PARAMS).solution or Solution(()))
    assert first.reason == QUOTA_EXHAUSTED
    assert "quota of department 0 in cluster 0: cpu used 1 of nominal 1" in first.detail


def test_repair_never_exceeds_the_cap() -> None:
    """Two running jobs lose their node (reserved capacity); with max_evictions 1 neither
    "everyone stays" nor a warm start may drop both: stay() refuses, and solve() answers within
    the cap or not at all."""
    p = replace(
        eviction_cap(1),
        node_reserved=((4, 0), (4, 0), (0, 0)),
        job_preempt_cost=(3, 3, 3, -1, -1, -1),
    )
    with pytest.raises(ValueError, match="max_evictions is 1"):
        stay(Facts(p))
    outcome = solve(p, params=PARAMS)
    assert outcome.solution is None or check(p, outcome.solution) == []
    assert any("max_evictions" in note for note in outcome.notes)


def test_parent_quota_reclaims_from_a_child() -> None:
    """Child 1 runs 4 cpu under a parent quota (members 1, 3) of nominal 2: job 1 of
    department 2, outside the parent's subtree, which may not preempt, takes the node by
    reclaim in every engine that evicts; a sibling under the same parent (members 1, 2) does
    not, since the room would stay with the borrowing subtree."""
    p = replace(
        reclaim_without_may_preempt(),
        quotas=(Quota(department=0, resource=0, nominal=2, borrow_limit=2, members=(1, 3)),),
    )
    answers = _answers(p)
    for name in ("solve", "cpsat", "lns"):
        assert answers[name].assignment == (None, (0,)), name
    sibling = replace(
        p, quotas=(Quota(department=0, resource=0, nominal=2, borrow_limit=2, members=(1, 2)),)
    )
    answers = _answers(sibling)
    for name in ("solve", "cpsat", "lns"):
        assert answers[name].assignment == ((0,), None), name


def test_engines_reclaim_no_more_than_the_budget() -> None:
    """Every engine that evicts takes back at most 3 of department 1's 4 borrowed cpu, so the
    4-cpu job stays queued and the 1-cpu jobs take the room."""
    p = reclaim_budget()
    answers = _answers(p)
    for name in ("solve", "cpsat", "lns"):
        a = answers[name].assignment
        assert check(p, answers[name]) == [], name
        assert a[4] is None and sum(1 for j in range(4) if a[j] is None) <= 3, name
        assert sum(1 for j in (5, 6, 7) if a[j] is not None) >= 1, name


def test_a_taker_that_may_not_reclaim_leaves_the_borrower_running() -> None:
    """With job_may_reclaim False for the lender's job, no engine evicts the borrower."""
    p = replace(reclaim_without_may_preempt(), job_may_reclaim=(True, False))
    answers = _answers(p)
    for name in ("solve", "cpsat", "lns"):
        assert answers[name].assignment == ((0,), None), name
