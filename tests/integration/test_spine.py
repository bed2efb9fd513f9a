"""End to end over gRPC: real scheduler, real agent processes, real child processes."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import grpc
import pytest

from protos.suanchou.v1 import jobs_pb2, types_pb2
from tests.integration.conftest import TERMINAL, Pool, md, node, py_job

SUCCEEDED = {types_pb2.JOB_STATE_SUCCEEDED}


def test_job_runs_to_success_with_exit_code(pool: Pool) -> None:
    """A submitted job is placed, run by the agent as a real process, and SUCCEEDED with 0."""
    pool.department("公安局")
    pool.cluster("gov-a", [node("n1")])
    [res] = pool.submit(
        "公安局",
        py_job(
            "hello",
            "import os; print('hi', os.environ['SUANCHOU_JOB_ID'], os.environ['GREETING'])",
            replicas=2,
            env={"GREETING": "你好"},
        ),
    )
    assert res.state == types_pb2.JOB_STATE_QUEUED and not res.HasField("error")
    job = pool.wait_state("公安局", res.job_id, TERMINAL)
    assert job.state == types_pb2.JOB_STATE_SUCCEEDED
    assert [r.exit_code for r in job.runs] == [0, 0] and job.cluster == "gov-a"
    outputs = sorted(Path(pool.tmp / "work-gov-a").rglob("stdout.log"))
    assert any(f"hi {res.job_id} 你好" in p.read_text() for p in outputs)
    states = [
        e.state
        for e in pool.jobs.WatchEvents(
            jobs_pb2.WatchEventsRequest(job_id=res.job_id), metadata=md(pool.tokens["公安局"])
        )
    ]
    assert states[0] == types_pb2.JOB_STATE_QUEUED and states[-1] == types_pb2.JOB_STATE_SUCCEEDED
    assert types_pb2.JOB_STATE_LEASED in states


def test_job_runs_to_success_on_postgresql(pg_pool: Pool) -> None:
    """The whole path works with PostgreSQL as the store, not only the embedded SQLite."""
    pg_pool.department("公安局")
    pg_pool.cluster("gov-a", [node("n1")])
    [res] = pg_pool.submit("公安局", py_job("pg", "print('ok')", replicas=2))
    job = pg_pool.wait_state("公安局", res.job_id, TERMINAL)
    assert job.state == types_pb2.JOB_STATE_SUCCEEDED
    assert [r.exit_code for r in job.runs] == [0, 0]


def test_failing_command_fails_the_job(pool: Pool) -> None:
    """A command exiting non-zero makes the job FAILED with that exit code."""
    pool.department("交通局")
    pool.cluster("gov-a", [node("n1")])
    [res] = pool.submit("交通局", py_job("boom", "raise SystemExit(7)"))
    job = pool.wait_state("交通局", res.job_id, TERMINAL)
    assert job.state == types_pb2.JOB_STATE_FAILED and job.reason == "EXIT_CODE"
    assert job.runs[0].exit_code == 7


def test_cancel_running_job_kills_its_processes(pool: Pool) -> None:
    """Cancelling a running job terminates the replica's whole process group."""
    pool.department("公安局")
    pool.cluster("gov-a", [node("n1")])
    pidfile = pool.tmp / "pids.txt"
    code = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        f"open({str(pidfile)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "time.sleep(120)\n"
    )
    [res] = pool.submit("公安局", py_job("sleeper", code))
    pool.wait_state("公安局", res.job_id, {types_pb2.JOB_STATE_RUNNING})
    pool.wait_for(
        lambda: pidfile.exists() and len(pidfile.read_text().split()) == 2,
        20,
        "the job to write its pids",
    )
    pids = [int(p) for p in pidfile.read_text().split()]
    reply = pool.jobs.CancelJobs(
        jobs_pb2.CancelJobsRequest(job_ids=[res.job_id]), metadata=md(pool.tokens["公安局"])
    )
    assert reply.results[0].state == types_pb2.JOB_STATE_CANCELLED
    pool.wait_for(lambda: not any(_alive(p) for p in pids), 20, "the processes to die")
    job = pool.get("公安局", res.job_id)
    assert job.state == types_pb2.JOB_STATE_CANCELLED
    pool.wait_for(
        lambda: pool.get("公安局", res.job_id).runs[0].state == types_pb2.RUN_STATE_CANCELLED,
        10,
        "the run to be recorded cancelled",
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose: it runs nothing.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_idempotent_resubmit_returns_same_ids(pool: Pool) -> None:
    """Resubmitting a batch returns the original ids, flags duplicates and creates nothing."""
    pool.department("公安局")
    pool.cluster("gov-a", [node("n1")])
    specs = [py_job(f"c{i}", "pass") for i in range(3)]
    first = pool.submit("公安局", *specs)
    second = pool.submit("公安局", *specs)
    assert [r.job_id for r in first] == [r.job_id for r in second]
    assert [r.duplicate for r in first] == [False] * 3
    assert [r.duplicate for r in second] == [True] * 3
    listed = pool.jobs.ListJobs(jobs_pb2.ListJobsRequest(), metadata=md(pool.tokens["公安局"]))
    assert len(listed.jobs) == 3


def test_department_isolation(pool: Pool) -> None:
    """A department sees NOT_FOUND for another's job; an agent token is PERMISSION_DENIED on
    JobService and no token at all UNAUTHENTICATED."""
    pool.department("公安局")
    pool.department("交通局")
    pool.cluster("gov-a", [node("n1")])
    [res] = pool.submit("公安局", py_job("mine", "pass"))
    other = md(pool.tokens["交通局"])
    with pytest.raises(grpc.RpcError) as err:
        pool.jobs.GetJob(jobs_pb2.GetJobRequest(job_id=res.job_id), metadata=other)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    reply = pool.jobs.CancelJobs(jobs_pb2.CancelJobsRequest(job_ids=[res.job_id]), metadata=other)
    assert reply.results[0].error.code == "NOT_FOUND"
    assert not pool.jobs.ListJobs(jobs_pb2.ListJobsRequest(), metadata=other).jobs
    with pytest.raises(grpc.RpcError) as err:
        pool.jobs.GetJob(
            jobs_pb2.GetJobRequest(job_id=res.job_id), metadata=md(pool.tokens["gov-a"])
        )
    # A valid token of the wrong kind is refused for its role, not for its credentials.
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        pool.jobs.ListJobs(jobs_pb2.ListJobsRequest())
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_constraint_no_cluster_meets_is_rejected(pool: Pool) -> None:
    """A job needing 等保 4 and 信创 where no such cluster exists is REJECTED at submit."""
    pool.department("公安局")
    pool.cluster("gov-a", [node("n1")], security_level=3)
    [res] = pool.submit(
        "公安局", py_job("secret", "pass", constraints=types_pb2.Constraints(min_security_level=4))
    )
    assert res.state == types_pb2.JOB_STATE_REJECTED
    assert res.error.code == "FAILED_PRECONDITION" and res.reason == "NO_ELIGIBLE_CLUSTER"
    assert "等保 level 3 < required 4" in res.message
    why = pool.jobs.ExplainJob(
        jobs_pb2.ExplainJobRequest(job_id=res.job_id), metadata=md(pool.tokens["公安局"])
    )
    assert why.clusters[0].reason == "SECURITY_LEVEL"


def test_gang_larger_than_any_cluster_stays_queued(pool: Pool) -> None:
    """A gang that fits the pool only across clusters stays QUEUED with GANG_INCOMPLETE."""
    pool.department("公安局")
    pool.cluster("gov-a", [node("n", cpu=2, count=2)])
    pool.cluster("gov-b", [node("m", cpu=2, count=2)])
    [res] = pool.submit("公安局", py_job("gang", "pass", cpu=2000, replicas=3))
    assert res.state == types_pb2.JOB_STATE_QUEUED
    token = md(pool.tokens["公安局"])
    pool.wait_for(
        lambda: pool.get("公安局", res.job_id).reason == "GANG_INCOMPLETE",
        10,
        "the cycle to explain the gang",
    )
    why = pool.jobs.ExplainJob(jobs_pb2.ExplainJobRequest(job_id=res.job_id), metadata=token)
    assert why.state == types_pb2.JOB_STATE_QUEUED and why.reason == "GANG_INCOMPLETE"
    assert "2" in why.message


def test_killed_agent_requeues_runs_and_another_completes_them(pool: Pool) -> None:
    """SIGKILL on an agent loses its lease; the job is rerun on another cluster and succeeds."""
    pool.department("公安局")
    pool.cluster("cheap", [node("n1")], price={"cpu": 0.01})
    pool.cluster("dear", [node("m1")], price={"cpu": 0.09})
    marker = pool.tmp / "attempts.txt"
    code = (
        f"import os, time; open({str(marker)!r}, 'a').write(os.environ['SUANCHOU_RUN_ID'] + "
        "'\\n'); time.sleep(1.5)"
    )
    [res] = pool.submit("公安局", py_job("survivor", code))
    job = pool.wait_state("公安局", res.job_id, {types_pb2.JOB_STATE_RUNNING})
    assert job.cluster == "cheap"
    # RUNNING means spawned: on a loaded machine the interpreter may not have run a line yet.
    pool.wait_for(
        lambda: marker.exists() and bool(marker.read_text().strip()), 30, "the first attempt"
    )
    pool.agents[0].kill()
    job = pool.wait_state("公安局", res.job_id, TERMINAL, timeout=40)
    assert job.state == types_pb2.JOB_STATE_SUCCEEDED
    assert job.cluster == "dear" and job.attempt == 2
    assert len(marker.read_text().split()) == 2  # one run per attempt, no third


def test_scheduler_restart_keeps_jobs_and_runs_nothing_twice(pool: Pool) -> None:
    """Stopping and restarting the scheduler keeps acknowledged jobs; agents reconcile."""
    pool.department("公安局")
    pool.cluster("gov-a", [node("n1", cpu=8)])
    marker = pool.tmp / "runs.txt"
    code = (
        f"import os, time; open({str(marker)!r}, 'a').write(os.environ['SUANCHOU_JOB_ID'] + "
        "'\\n'); time.sleep(2)"
    )
    running = pool.submit("公安局", *[py_job(f"r{i}", code) for i in range(3)])
    for r in running:
        pool.wait_state("公安局", r.job_id, {types_pb2.JOB_STATE_RUNNING})
    pool.stop()
    pool.start()  # same port, same database
    later = pool.submit("公安局", *[py_job(f"l{i}", code) for i in range(2)])
    ids = [r.job_id for r in running + later]
    for job_id in ids:
        assert pool.wait_state("公安局", job_id, TERMINAL).state == types_pb2.JOB_STATE_SUCCEEDED
    assert sorted(marker.read_text().split()) == sorted(ids)


def test_bad_input_names_the_field(pool: Pool) -> None:
    """Invalid items get INVALID_ARGUMENT naming the field; a huge batch is refused whole."""
    pool.department("公安局")
    pool.cluster("gov-a", [node("n1")])
    bad = py_job("neg", "pass", cpu=-1)
    empty = types_pb2.JobSpec(
        client_id="empty", resources=types_pb2.Resources(quantities={"cpu": 1})
    )
    weird = py_job("weird", "pass")
    weird.resources.quantities["Bad Name!"] = 1
    results = pool.submit("公安局", bad, empty, weird, py_job("fine", "pass"))
    assert [(r.error.code, r.error.field) for r in results[:3]] == [
        ("INVALID_ARGUMENT", "resources[cpu]"),
        ("INVALID_ARGUMENT", "command"),
        ("INVALID_ARGUMENT", "resources[Bad Name!]"),
    ]
    assert results[3].state == types_pb2.JOB_STATE_QUEUED
    with pytest.raises(grpc.RpcError) as err:
        pool.submit("公安局", *[py_job(f"b{i}", "pass") for i in range(1001)])
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "items" in (err.value.details() or "")


def test_agent_sigterm_stops_runs_and_requeues(pool: Pool) -> None:
    """A gracefully stopped agent stops its runs; their jobs go back to the queue."""
    pool.department("公安局")
    pool.cluster("gov-a", [node("n1")])
    [res] = pool.submit("公安局", py_job("long", "import time; time.sleep(60)"))
    pool.wait_state("公安局", res.job_id, {types_pb2.JOB_STATE_RUNNING})
    pool.agents[0].proc.send_signal(signal.SIGTERM)
    pool.agents[0].proc.wait(20)
    pool.wait_state("公安局", res.job_id, {types_pb2.JOB_STATE_QUEUED})
    events = list(
        pool.jobs.WatchEvents(
            jobs_pb2.WatchEventsRequest(job_id=res.job_id), metadata=md(pool.tokens["公安局"])
        )
    )
    assert events[-1].state == types_pb2.JOB_STATE_QUEUED and events[-1].reason == "LEASE_LOST"
