"""Jobs through the cycle and agent syncs: placement, completion, failure, loss, requeue."""

from __future__ import annotations

from scheduler.domain import reasons
from scheduler.domain.models import Constraints
from scheduler.domain.states import JobState, RunState
from scheduler.service.agent_sync import RunReport
from tests.service.conftest import Pool, node, spec


def _state(pool: Pool, job_id: str) -> JobState:
    return pool.jobs.get("公安局", job_id).job.state


def test_job_runs_to_success(pool: Pool) -> None:
    """Queued -> leased by the cycle -> started by the agent -> succeeded, with events."""
    pool.cluster("a", [node("a", "n1")])
    [job_id] = pool.submit(spec("x", replicas=2))
    report = pool.cycle.run_once()
    assert report.placed == 1 and report.jobs == 1
    assert _state(pool, job_id) is JobState.LEASED
    reply = pool.sync("a")
    assert [lease.run.replica for lease in reply.start] == [0, 1]
    assert reply.start[0].job.spec.max_runtime_seconds == pool.settings.default_max_runtime_s
    runs = [lease.run.run_id for lease in reply.start]
    # The agent holds them now; a sync without the reports would resend nothing new.
    reply = pool.sync("a", [RunReport(r, RunState.RUNNING) for r in runs])
    assert reply.start == () and _state(pool, job_id) is JobState.RUNNING
    reply = pool.sync("a", [RunReport(r, RunState.SUCCEEDED, 0) for r in runs])
    assert sorted(reply.acknowledged) == sorted(runs)
    assert _state(pool, job_id) is JobState.SUCCEEDED
    states = [e.state for e in pool.jobs.events("公安局", 0)]
    assert states == [JobState.QUEUED, JobState.LEASED, JobState.RUNNING, JobState.SUCCEEDED]
    # Terminal reports repeated after the ack (e.g. a lost reply) are acknowledged again.
    assert sorted(pool.sync("a", [RunReport(runs[0], RunState.SUCCEEDED, 0)]).acknowledged) == [
        runs[0]
    ]


def test_lease_is_resent_until_the_agent_reports_it(pool: Pool) -> None:
    """A leased run the agent does not report is sent again, with the same run id."""
    pool.cluster("a", [node("a", "n1")])
    pool.submit(spec("x"))
    pool.cycle.run_once()
    first = pool.sync("a").start
    second = pool.sync("a").start
    assert [x.run.run_id for x in first] == [x.run.run_id for x in second]


def test_failed_replica_fails_job_and_cancels_siblings(pool: Pool) -> None:
    """One replica exiting non-zero fails the gang and tells the agent to stop the others."""
    pool.cluster("a", [node("a", "n1")])
    [job_id] = pool.submit(spec("x", replicas=2))
    pool.cycle.run_once()
    runs = [x.run.run_id for x in pool.sync("a").start]
    pool.sync("a", [RunReport(r, RunState.RUNNING) for r in runs])
    reply = pool.sync(
        "a", [RunReport(runs[0], RunState.FAILED, 3), RunReport(runs[1], RunState.RUNNING)]
    )
    assert reply.cancel == (runs[1],) and reply.acknowledged == (runs[0],)
    job = pool.jobs.get("公安局", job_id).job
    assert job.state is JobState.FAILED and job.reason == reasons.EXIT_CODE
    assert pool.jobs.events("公安局", 0)[-1].exit_code == 3


def test_cancel_running_job_tells_agent_to_stop(pool: Pool) -> None:
    """Cancelling a running job puts its runs in the agent's cancel list."""
    pool.cluster("a", [node("a", "n1")])
    [job_id] = pool.submit(spec("x"))
    pool.cycle.run_once()
    [run] = [x.run.run_id for x in pool.sync("a").start]
    pool.sync("a", [RunReport(run, RunState.RUNNING)])
    pool.jobs.cancel("公安局", [job_id])
    reply = pool.sync("a", [RunReport(run, RunState.RUNNING)])
    assert reply.cancel == (run,)
    reply = pool.sync("a", [RunReport(run, RunState.CANCELLED, -15)])
    assert reply.acknowledged == (run,) and _state(pool, job_id) is JobState.CANCELLED


def test_lost_cluster_requeues_and_old_run_is_never_restarted(pool: Pool) -> None:
    """A silent agent's runs are requeued elsewhere; when it returns it is told to stop them."""
    pool.cluster("a", [node("a", "n1")], price={"cpu": 0.01})
    pool.cluster("b", [node("b", "m1")], price={"cpu": 0.09})
    [job_id] = pool.submit(spec("x"))
    pool.cycle.run_once()
    assert pool.jobs.get("公安局", job_id).job.cluster == "a"  # the cheaper cluster
    [run] = [x.run.run_id for x in pool.sync("a").start]
    pool.sync("a", [RunReport(run, RunState.RUNNING)])
    pool.clock.advance(pool.settings.lease_timeout_s + 1)
    pool.sync("b")  # b keeps syncing, a is silent
    report = pool.cycle.run_once()
    assert report.requeued == 1 and report.placed == 1
    job = pool.jobs.get("公安局", job_id).job
    assert job.cluster == "b" and job.attempt == 2 and job.state is JobState.LEASED
    assert pool.admin.get_cluster("a").state.value == "LOST"
    reply = pool.sync("a", [RunReport(run, RunState.RUNNING)])
    assert reply.cancel == (run,) and reply.start == ()
    assert pool.admin.get_cluster("a").state.value == "ACTIVE"


def test_agent_restart_loses_runs_and_job_is_requeued(pool: Pool) -> None:
    """Runs an agent acknowledged but no longer reports are lost, never resent to it."""
    pool.cluster("a", [node("a", "n1")])
    [job_id] = pool.submit(spec("x"))
    pool.cycle.run_once()
    [run] = [x.run.run_id for x in pool.sync("a").start]
    pool.sync("a", [RunReport(run, RunState.RUNNING)])
    reply = pool.sync("a", [])  # restarted agent: holds nothing
    assert reply.start == ()
    job = pool.jobs.get("公安局", job_id).job
    assert job.state is JobState.QUEUED and job.reason == reasons.LEASE_LOST
    pool.cycle.run_once()
    [again] = pool.sync("a").start
    assert again.run.run_id != run and again.run.attempt == 2


def test_attempts_are_capped(pool: Pool) -> None:
    """A job whose runs keep getting lost fails after max_attempts."""
    pool.cluster("a", [node("a", "n1")])
    [job_id] = pool.submit(spec("x"))
    for _ in range(pool.settings.max_attempts):
        pool.cycle.run_once()
        [run] = [x.run.run_id for x in pool.sync("a").start]
        pool.sync("a", [RunReport(run, RunState.RUNNING)])
        pool.sync("a", [])
    job = pool.jobs.get("公安局", job_id).job
    assert job.state is JobState.FAILED and job.reason == reasons.MAX_ATTEMPTS


def test_gang_larger_than_any_cluster_stays_queued_with_reason(pool: Pool) -> None:
    """A gang no single cluster can hold stays queued, explained as GANG_INCOMPLETE."""
    pool.cluster("a", [node("a", "n1"), node("a", "n2")])
    pool.cluster("b", [node("b", "m1"), node("b", "m2")])
    [job_id] = pool.submit(spec("gang", cpu=4000, replicas=3))
    report = pool.cycle.run_once()
    assert report.placed == 0
    explanation = pool.jobs.explain("公安局", job_id)
    assert explanation.state is JobState.QUEUED
    assert explanation.reason == reasons.GANG_INCOMPLETE
    assert {v.cluster for v in explanation.clusters} == {"a", "b"}


def test_constraints_route_jobs(pool: Pool) -> None:
    """等保, region, 信创 and node selectors send each job to the only cluster that meets them."""
    pool.cluster("xc", [node("xc", "n1", arch="aarch64")], security_level=3, xinchuang=True)
    pool.cluster("gen", [node("gen", "n1", arch="x86_64")], region="sh", security_level=2)
    jobs = pool.submit(
        spec("l3", constraints=Constraints(min_security_level=3)),
        spec("xc", constraints=Constraints(xinchuang_required=True)),
        spec("sh", constraints=Constraints(allowed_regions=("sh",))),
        spec("x86", constraints=Constraints(node_selector={"arch": "x86_64"})),
    )
    pool.cycle.run_once()
    placed = [pool.jobs.get("公安局", j).job.cluster for j in jobs]
    assert placed == ["xc", "xc", "gen", "gen"]
    explanation = pool.jobs.explain("公安局", jobs[0])
    verdicts = {v.cluster: v.reason for v in explanation.clusters}
    assert verdicts == {"xc": reasons.CHOSEN, "gen": reasons.SECURITY_LEVEL}


def test_cordoned_cluster_gets_nothing_new(pool: Pool) -> None:
    """A cordoned cluster receives no placements; uncordoning lets work in again."""
    pool.cluster("a", [node("a", "n1")])
    pool.admin.cordon("a")
    [job_id] = pool.submit(spec("x"))
    pool.cycle.run_once()
    assert _state(pool, job_id) is JobState.QUEUED
    assert pool.jobs.explain("公安局", job_id).reason == reasons.CLUSTERS_UNAVAILABLE
    pool.admin.uncordon("a")
    pool.cycle.run_once()
    assert _state(pool, job_id) is JobState.LEASED


def test_deregister_refused_while_active_then_drains(pool: Pool) -> None:
    """Deregistering a busy cluster is refused unless draining; drained clusters are removed."""
    import pytest

    from scheduler.domain.errors import FailedPrecondition

    pool.cluster("a", [node("a", "n1")])
    [job_id] = pool.submit(spec("x"))
    pool.cycle.run_once()
    [run] = [x.run.run_id for x in pool.sync("a").start]
    pool.sync("a", [RunReport(run, RunState.RUNNING)])
    with pytest.raises(FailedPrecondition):
        pool.admin.deregister("a", drain=False)
    assert pool.admin.deregister("a", drain=True).removed is False
    pool.sync("a", [RunReport(run, RunState.SUCCEEDED, 0)])
    pool.cycle.run_once()
    assert pool.admin.list_clusters() == []
    assert _state(pool, job_id) is JobState.SUCCEEDED


def test_cycle_logs_one_canonical_line(pool: Pool) -> None:
    """Each cycle that has work logs one cycle_completed line with objective, bound and gap."""
    from structlog.testing import capture_logs

    pool.cluster("a", [node("a", "n1")])
    pool.submit(spec("x"), spec("y"))
    with capture_logs() as logs:
        pool.cycle.run_once()
    [line] = [entry for entry in logs if entry["event"] == "cycle_completed"]
    assert line["jobs"] == 2 and line["placed"] == 2
    assert line["objective"] > 0 and line["bound"] >= line["objective"]
    assert {"gap_pct", "solve_ms", "status", "requeued"} <= set(line)


def test_capacity_shrinking_under_running_work_does_not_stop_scheduling(pool: Pool) -> None:
    """A node reporting less than what runs on it keeps its work and the cycle still places."""
    pool.cluster("a", [node("a", "n1", cpu=4000), node("a", "n2", cpu=4000)])
    [big] = pool.submit(spec("big", cpu=3000))
    pool.cycle.run_once()
    [lease] = pool.sync("a").start
    shrunk, other = (lease.run.node, "n2" if lease.run.node == "n1" else "n1")
    # The agent now reports the busy node smaller than the replica running on it.
    pool.agents.sync(
        "a",
        "agent-a",
        [node("a", shrunk, cpu=2000), node("a", other, cpu=4000)],
        [RunReport(lease.run.run_id, RunState.RUNNING)],
    )
    [small] = pool.submit(spec("small", cpu=1000))
    report = pool.cycle.run_once()
    assert report.placed == 1
    assert pool.jobs.get("公安局", small).runs[0].node == other
    assert pool.jobs.get("公安局", big).job.state is JobState.RUNNING
