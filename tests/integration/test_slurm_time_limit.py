"""A time-limit change (JobService.UpdateJob) reaches the real Slurm as `scontrol update`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from protos.suanchou.v1 import jobs_pb2, types_pb2
from tests.integration.conftest import Pool, md, py_job
from tests.integration.slurm_support import run_slurm_pool, scontrol_job, slurm_jobs_of
from tests.integration.test_slurm import only_run, slurm_cluster


@pytest.fixture
def slurm_pool(tmp_path: Path) -> Iterator[Pool]:
    yield from run_slurm_pool(tmp_path)


def _time_limit(slurm_id: str) -> str:
    found = re.search(r"\bTimeLimit=(\S+)", scontrol_job(slurm_id))
    return found.group(1) if found else ""


def test_a_changed_limit_reaches_the_slurm_job(slurm_pool: Pool) -> None:
    """A running job's limit raised to 2h and then cut to 61s is the Slurm job's TimeLimit
    (whole minutes, rounded up) each time."""
    slurm_cluster(slurm_pool)
    dept = md(slurm_pool.tokens["dept"])
    job_id = slurm_pool.submit(
        "dept", py_job("sleeper", "import time; time.sleep(300)", max_runtime_seconds=600)
    )[0].job_id
    slurm_pool.wait_state("dept", job_id, {types_pb2.JOB_STATE_RUNNING}, timeout=60)
    run_id = only_run(slurm_pool, job_id).run_id
    [slurm_job] = slurm_jobs_of(run_id)
    assert _time_limit(slurm_job.job_id) == "00:10:00"
    for seconds, limit in ((7200, "02:00:00"), (61, "00:02:00")):
        slurm_pool.jobs.UpdateJob(
            jobs_pb2.UpdateJobRequest(job_id=job_id, max_runtime_seconds=seconds), metadata=dept
        )
        slurm_pool.wait_for(
            lambda limit=limit: _time_limit(slurm_job.job_id) == limit,  # type: ignore[misc]
            30,
            f"Slurm TimeLimit {limit}",
        )
    slurm_pool.jobs.CancelJobs(jobs_pb2.CancelJobsRequest(job_ids=[job_id]), metadata=dept)
    slurm_pool.wait_state("dept", job_id, {types_pb2.JOB_STATE_CANCELLED}, timeout=60)
