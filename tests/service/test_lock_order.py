"""Cancels and agent syncs of the same jobs at the same time never deadlock: every writer takes
job rows before run rows (Jobs.lock)."""

from __future__ import annotations

import random
import threading

from scheduler.domain.states import JobState, RunState
from scheduler.service.agent_sync import RunReport
from tests.service.conftest import Pool, node, spec

JOBS = 30


def test_concurrent_cancels_and_syncs_of_the_same_jobs_do_not_deadlock(pool: Pool) -> None:
    """One thread cancels the jobs one by one while another reports their runs finished over
    and over: no call fails (a deadlock would surface as Unavailable), and every job ends
    cancelled or succeeded with its runs settled."""
    pool.cluster("a", [node("a", "n1", cpu=JOBS * 2000, memory=JOBS * 1024)])
    job_ids = pool.submit(*(spec(f"j{i}", replicas=2) for i in range(JOBS)))
    pool.cycle.run_once()
    runs = [lease.run for lease in pool.sync("a").start]
    pool.sync("a", [RunReport(r.run_id, RunState.RUNNING) for r in runs])
    errors: list[BaseException] = []
    done = threading.Event()

    def cancel_all() -> None:
        order = list(job_ids)
        random.Random(3).shuffle(order)
        try:
            for job_id in order:
                pool.jobs.cancel("公安局", [job_id])
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
        finally:
            done.set()

    def report_finished() -> None:
        rng = random.Random(4)
        try:
            while not done.is_set():
                picked = rng.sample(runs, len(runs) // 2)
                pool.sync("a", [RunReport(r.run_id, RunState.SUCCEEDED, 0) for r in picked])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=cancel_all), threading.Thread(target=report_finished)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    states = {pool.jobs.get("公安局", j).job.state for j in job_ids}
    assert states <= {JobState.CANCELLED, JobState.SUCCEEDED}
    with pool.store.unit(write=False) as tx:
        assert tx.runs.active(cluster="a") == []
