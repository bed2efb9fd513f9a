"""A queued job that cannot move says why in words that are true: which clusters are
unavailable and in what state, that its clusters were deregistered, that a gang can never fit
a cluster's nodes; no internal indices."""

from __future__ import annotations

from scheduler.domain import reasons
from scheduler.domain.models import Constraints
from scheduler.domain.states import JobState, RunState
from scheduler.service.agent_sync import RunReport
from tests.service.conftest import Pool, node, spec


def test_only_eligible_clusters_cordoned_or_draining_says_which_and_how(pool: Pool) -> None:
    """Both clusters that meet the constraints are unavailable (one cordoned, one draining):
    CLUSTERS_UNAVAILABLE naming each with its state; the level-2 cluster it may not use is not
    offered as a way out."""
    level3 = Constraints(min_security_level=3)
    pool.cluster("a", [node("a", "n1")], security_level=3)
    pool.cluster("b", [node("b", "m1")], security_level=3)
    pool.cluster("low", [node("low", "l1")], security_level=2)
    pool.admin.cordon("a")
    [busy] = pool.submit(spec("busy", constraints=level3), department="交通局")
    pool.cycle.run_once()
    [run] = [lease.run.run_id for lease in pool.sync("b").start]
    pool.sync("b", [RunReport(run, RunState.RUNNING)])
    assert not pool.admin.deregister("b", drain=True).removed
    [job_id] = pool.submit(spec("x", constraints=level3))
    pool.cycle.run_once()
    explanation = pool.jobs.explain("公安局", job_id)
    assert explanation.state is JobState.QUEUED
    assert explanation.reason == reasons.CLUSTERS_UNAVAILABLE
    assert explanation.message == (
        "every cluster that meets its constraints is unavailable (a is cordoned, b is "
        "draining); it stays queued until one is uncordoned or its agent syncs again"
    )
    assert pool.jobs.get("交通局", busy).job.cluster == "b"


def test_a_lost_cluster_is_named_as_lost(pool: Pool) -> None:
    """The only cluster's agent went silent: the queued job says the cluster is lost."""
    pool.cluster("a", [node("a", "n1")])
    [job_id] = pool.submit(spec("x", cpu=1000))
    pool.clock.advance(pool.settings.lease_timeout_s + 1)
    pool.cycle.run_once()
    job = pool.jobs.get("公安局", job_id).job
    assert job.state is JobState.QUEUED and job.reason == reasons.CLUSTERS_UNAVAILABLE
    assert "(a is lost)" in job.message


def test_all_eligible_clusters_deregistered_says_so(pool: Pool) -> None:
    """Its only eligible cluster was deregistered: the job says no registered cluster meets its
    constraints any more, and why the remaining one does not."""
    pool.cluster("a", [node("a", "n1")], security_level=3)
    pool.cluster("low", [node("low", "l1")], security_level=1)
    pool.admin.cordon("a")
    [job_id] = pool.submit(spec("x", constraints=Constraints(min_security_level=3)))
    pool.admin.deregister("a", drain=False)
    pool.cycle.run_once()
    job = pool.jobs.get("公安局", job_id).job
    assert job.reason == reasons.NO_ELIGIBLE_CLUSTER
    assert job.message == (
        "no registered cluster meets its constraints any more: the clusters it was accepted "
        "for have been deregistered (low: 等保 level 1 < required 3)"
    )


def test_a_gang_that_can_never_fit_a_cluster_says_never_not_room_for_0(pool: Pool) -> None:
    """Two 3-cpu replicas against a cluster of one 4-cpu node: its verdict says it can never
    hold the gang, not "room for 0 of 2"; nothing mentions node sets or lacks nothing."""
    pool.cluster("small", [node("small", "s1", cpu=4000)])
    pool.cluster("tiny", [node("tiny", "t1", cpu=2000)])
    [job_id] = pool.submit(spec("gang", cpu=3000, replicas=2))
    pool.cycle.run_once()
    explanation = pool.jobs.explain("公安局", job_id)
    verdicts = {v.cluster: v for v in explanation.clusters}
    assert verdicts["small"].reason == reasons.GANG_INCOMPLETE
    assert verdicts["small"].message == (
        "can never hold the gang: its nodes hold at most 1 of 2 replicas even when empty"
    )
    assert verdicts["tiny"].reason == reasons.NO_FITTING_NODE
    assert verdicts["tiny"].message.startswith("can never hold it: no node is large enough")
    text = explanation.message + " ".join(v.message for v in explanation.clusters)
    assert "room for 0" not in text and "node set" not in text and "lacks nothing" not in text
