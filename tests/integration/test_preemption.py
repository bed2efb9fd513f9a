"""Preemption end to end with a real scheduler and a real agent process: the replica gets
SIGTERM (and SIGKILL after the grace period if it ignores it), the urgent job runs only after
the replica is gone, and the preempted job runs again later; nothing runs twice at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from protos.suanchou.v1 import (
    admin_pb2,
    governance_pb2,
    governance_pb2_grpc,
    jobs_pb2,
    types_pb2,
)
from scheduler.service.settings import SchedulerSettings
from tests.integration.conftest import Pool, md, node, py_job

DEPT = "公安局"

# The preempted job: holds an exclusive flock on `lock` while it lives (the kernel drops it when
# the process dies, SIGKILL included), marks its start and its SIGTERM per run, and on its first
# start runs for a minute (only a preemption ends it early); later starts finish at once.
VICTIM = """
import fcntl, os, signal, sys, time
d, ignore = {dir!r}, {ignore!r}
run = os.environ["SUANCHOU_RUN_ID"]
lock = open(os.path.join(d, "lock"), "w")
try:
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    open(os.path.join(d, "overlap"), "a").write("victim " + run + "\\n")
first = not any(n.startswith("started-") for n in os.listdir(d))
open(os.path.join(d, "started-" + run), "w").close()
def term(signum, frame):
    open(os.path.join(d, "term-" + run), "w").close()
    if not ignore:
        sys.exit(0)
signal.signal(signal.SIGTERM, term)
end = time.time() + (60 if first else 0.2)
while time.time() < end:
    time.sleep(0.05)
open(os.path.join(d, "exited-" + run), "w").close()
"""

# The urgent job: if the victim still holds the lock when it starts, the node was shared.
URGENT = """
import fcntl, os
d = {dir!r}
lock = open(os.path.join(d, "lock"), "w")
try:
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    open(os.path.join(d, "overlap"), "a").write("urgent\\n")
open(os.path.join(d, "urgent-ran"), "w").close()
"""


def _run(tmp_path: Path, url: str, reclaim_delay_s: float = 600.0) -> Iterator[Pool]:
    """The integration pool's scheduler, with jobs preemptible after 1 s of run time."""
    settings = SchedulerSettings(
        sync_interval_s=0.2,
        lease_timeout_s=2.0,
        cycle_interval_s=0.2,
        max_attempts=3,
        min_runtime_s=1.0,
        quota_reclaim_delay_s=reclaim_delay_s,
    )
    pool = Pool(tmp=tmp_path, db_url=url, settings=settings)
    pool.start()
    yield pool
    for agent in pool.agents:
        agent.stop()
    pool.stop()


@pytest.fixture
def ppool(tmp_path: Path) -> Iterator[Pool]:
    yield from _run(tmp_path, f"sqlite:///{tmp_path / 'suanchou.db'}")


def _setup(pool: Pool) -> None:
    admin = md(pool.admin_token)
    classes = governance_pb2_grpc.PriorityClassServiceStub(pool.channel)
    for pc in (
        governance_pb2.PriorityClass(name="batch", value=10, preemptible=True),
        governance_pb2.PriorityClass(name="steady", value=10),
        governance_pb2.PriorityClass(name="urgent", value=900, may_preempt=True),
    ):
        classes.CreatePriorityClass(
            governance_pb2.CreatePriorityClassRequest(priority_class=pc), metadata=admin
        )
    pool.department(DEPT)
    pool.departments.SetDepartmentPriorityClasses(
        admin_pb2.SetDepartmentPriorityClassesRequest(
            department=DEPT, priority_classes=["batch", "steady", "urgent"]
        ),
        metadata=admin,
    )
    pool.cluster("a", [node("n1", cpu=4)])


def _running_victim(
    pool: Pool, tmp_path: Path, ignore_term: bool = False, victim_class: str = "batch"
) -> tuple[Path, str]:
    """The pool set up, the marks folder, and the victim job (VICTIM) running on cluster a."""
    _setup(pool)
    marks = tmp_path / "marks"
    marks.mkdir()
    [victim] = pool.submit(
        DEPT,
        py_job(
            "victim",
            VICTIM.format(dir=str(marks), ignore=ignore_term),
            cpu=4000,
            priority_class=victim_class,
        ),
    )
    pool.wait_state(DEPT, victim.job_id, {types_pb2.JOB_STATE_RUNNING})
    return marks, victim.job_id


def _events(pool: Pool, job_id: str) -> list[types_pb2.JobEvent]:
    stream = pool.jobs.WatchEvents(
        jobs_pb2.WatchEventsRequest(job_id=job_id), metadata=md(pool.tokens[DEPT]), timeout=10
    )
    return list(stream)


@pytest.mark.parametrize(
    ("ignore_term", "victim_class"),
    [(False, "batch"), (True, "batch"), (False, "")],
    ids=["exits-on-term", "ignores-term", "no-class"],
)
def test_urgent_job_preempts_a_running_batch_replica(
    ppool: Pool, tmp_path: Path, ignore_term: bool, victim_class: str
) -> None:
    """The batch replica gets SIGTERM (killed after the 1 s grace if it ignores it), is requeued
    with a PREEMPTED event naming the urgent job, the urgent job starts only once the replica
    is gone, and the batch job then runs again to success; no overlap ever. A job without a
    class is preempted the same way."""
    pool = ppool
    marks, victim_id = _running_victim(pool, tmp_path, ignore_term, victim_class)
    pool.wait_for(
        lambda: any(p.name.startswith("started-") for p in marks.iterdir()), 20, "victim start"
    )
    [first_run] = [p.name.removeprefix("started-") for p in marks.glob("started-*")]
    [urgent] = pool.submit(
        DEPT, py_job("urgent", URGENT.format(dir=str(marks)), cpu=4000, priority_class="urgent")
    )
    done = pool.wait_state(DEPT, urgent.job_id, {types_pb2.JOB_STATE_SUCCEEDED}, timeout=60)
    assert done.state == types_pb2.JOB_STATE_SUCCEEDED
    assert (marks / f"term-{first_run}").exists()
    # Ignoring SIGTERM, the first run never reached its end: SIGKILL after the grace.
    assert (marks / f"exited-{first_run}").exists() is False
    again = pool.wait_state(DEPT, victim_id, {types_pb2.JOB_STATE_SUCCEEDED}, timeout=60)
    assert again.attempt == 2
    assert not (marks / "overlap").exists()
    preempted = [e for e in _events(pool, victim_id) if e.reason == "PREEMPTED"]
    assert len(preempted) == 1
    assert preempted[0].state == types_pb2.JOB_STATE_QUEUED
    assert f"preempted by job {urgent.job_id} (urgent)" in preempted[0].message
    assert "does not count against its attempts" in preempted[0].message
    waited = [e for e in _events(pool, urgent.job_id) if e.state == types_pb2.JOB_STATE_LEASED]
    assert len(waited) == 1


def test_non_preemptible_jobs_keep_running(ppool: Pool, tmp_path: Path) -> None:
    """A running job of a non-preemptible class is never evicted: the urgent job stays queued
    while it runs. (A job without a class is preemptible: scheduler/service/preemption.py.)"""
    pool = ppool
    marks, victim_id = _running_victim(pool, tmp_path, victim_class="steady")
    [urgent] = pool.submit(
        DEPT, py_job("urgent", URGENT.format(dir=str(marks)), cpu=4000, priority_class="urgent")
    )
    # Well past the minimum runtime, over many cycles: still queued, the victim untouched.
    pool.wait_for(
        lambda: pool.get(DEPT, urgent.job_id).reason not in ("", "NOT_YET_SCHEDULED"),
        20,
        "a cycle to consider the urgent job",
    )
    assert pool.app is not None
    runner = pool.app.runner
    seen = runner.cycles
    # 15 cycles of 0.2 s: well past the 1 s minimum runtime.
    pool.wait_for(lambda: runner.cycles >= seen + 15, 30, "15 more scheduling cycles")
    assert pool.get(DEPT, victim_id).state == types_pb2.JOB_STATE_RUNNING
    assert pool.get(DEPT, urgent.job_id).state == types_pb2.JOB_STATE_QUEUED
    assert not list(marks.glob("term-*"))


# An urgent job that runs until its `release` mark appears (at most a minute).
URGENT_UNTIL_RELEASED = """
import os, time
d = {dir!r}
end = time.time() + 60
while time.time() < end and not os.path.exists(os.path.join(d, "release")):
    time.sleep(0.05)
"""


def test_explain_job_over_grpc_names_the_preemptor_while_the_victim_waits(
    ppool: Pool, tmp_path: Path
) -> None:
    """While the preempted job waits for the urgent one to finish, ExplainJob (the gRPC call)
    says it was preempted, by which job, and that the attempt was not counted, whatever
    reason later cycles give it; once the room is free it runs again to success."""
    pool = ppool
    marks, victim_id = _running_victim(pool, tmp_path, victim_class="")
    [urgent] = pool.submit(
        DEPT,
        py_job(
            "urgent",
            URGENT_UNTIL_RELEASED.format(dir=str(marks)),
            cpu=4000,
            priority_class="urgent",
        ),
    )
    pool.wait_state(DEPT, urgent.job_id, {types_pb2.JOB_STATE_RUNNING}, timeout=60)
    assert pool.app is not None
    runner = pool.app.runner
    seen = runner.cycles
    # Several cycles re-explain the waiting victim meanwhile.
    pool.wait_for(lambda: runner.cycles >= seen + 5, 30, "5 more scheduling cycles")
    explained = pool.jobs.ExplainJob(
        jobs_pb2.ExplainJobRequest(job_id=victim_id), metadata=md(pool.tokens[DEPT])
    )
    assert explained.state == types_pb2.JOB_STATE_QUEUED
    assert f"preempted by job {urgent.job_id} (urgent)" in explained.message
    assert "does not count against its attempts" in explained.message
    (marks / "release").touch()
    again = pool.wait_state(DEPT, victim_id, {types_pb2.JOB_STATE_SUCCEEDED}, timeout=60)
    assert again.attempt == 2
    assert not (marks / "overlap").exists()


@pytest.fixture
def rpool(tmp_path: Path) -> Iterator[Pool]:
    """The preemption pool with a lowered quota reclaimed 1 s after the change."""
    yield from _run(tmp_path, f"sqlite:///{tmp_path / 'suanchou.db'}", reclaim_delay_s=1.0)


def _cpu_quota(pool: Pool, nominal: int) -> governance_pb2.ResourceQuota:
    reply = pool.departments.SetQuota(
        admin_pb2.SetQuotaRequest(
            department=DEPT,
            quotas=[
                governance_pb2.ResourceQuota(resource="cpu", nominal=nominal, borrowing_limit=0)
            ],
        ),
        metadata=md(pool.admin_token),
    )
    [group] = reply.quotas
    [cpu] = group.resources
    return cpu


def test_a_quota_lowered_on_a_live_server_is_reclaimed_after_its_delay(
    rpool: Pool, tmp_path: Path
) -> None:
    """Two 4-core jobs run under an 8-core quota (no borrowing); SetQuota lowers it to 4 cores:
    the reply shows
    4 cores over the limit and when reclaim starts, and after the delay a cycle preempts one
    job (SIGTERM through the real agent) with a PREEMPTED event naming the lowered quota; the
    other keeps running and the department is no longer over its limit."""
    pool = rpool
    _setup(pool)
    pool.cluster("b", [node("n1", cpu=4)])
    marks = tmp_path / "marks"
    marks.mkdir()
    assert _cpu_quota(pool, 8000).over_limit == 0
    ids = [
        pool.submit(
            DEPT,
            py_job(
                f"j{i}",
                URGENT_UNTIL_RELEASED.format(dir=str(marks)),
                cpu=4000,
                priority_class="batch",
            ),
        )[0].job_id
        for i in range(2)
    ]
    for job_id in ids:
        pool.wait_state(DEPT, job_id, {types_pb2.JOB_STATE_RUNNING}, timeout=60)
    lowered = _cpu_quota(pool, 4000)
    assert lowered.over_limit == 4000
    assert lowered.HasField("reclaim_at")
    assert lowered.reclaim_at.ToDatetime() > lowered.changed_at.ToDatetime()

    def preempted() -> list[types_pb2.JobEvent]:
        return [e for i in ids for e in _events(pool, i) if e.reason == "PREEMPTED"]

    pool.wait_for(lambda: len(preempted()) == 1, 30, "one job preempted to reclaim the quota")
    [event] = preempted()
    assert "reclaim a lowered quota" in event.message
    states = {i: pool.get(DEPT, i).state for i in ids}
    assert sorted(states.values()) == [types_pb2.JOB_STATE_QUEUED, types_pb2.JOB_STATE_RUNNING]

    def over_limit() -> int:
        got = pool.departments.GetDepartment(
            admin_pb2.GetDepartmentRequest(name=DEPT), metadata=md(pool.admin_token)
        )
        return int(got.quotas[0].resources[0].over_limit)

    pool.wait_for(lambda: over_limit() == 0, 30, "use back within the lowered quota")
    (marks / "release").touch()
    for job_id in ids:
        pool.wait_state(DEPT, job_id, {types_pb2.JOB_STATE_SUCCEEDED}, timeout=60)
