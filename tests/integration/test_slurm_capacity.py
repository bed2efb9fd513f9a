"""The Slurm capacity source against the real Slurm: other work counts as used, ours not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agents.slurm.capacity import GPU_MODEL_LABEL, PARTITION_LABEL, SlurmCapacity
from agents.slurm.jobs import GPU, comment
from tests.integration.conftest import Pool
from tests.integration.slurm_support import require_slurm, slurm_cli

KEY = "capacitytest"


@pytest.fixture
def submitted() -> Iterator[list[str]]:
    """Slurm job ids to cancel after the test."""
    ids: list[str] = []
    yield ids
    for job_id in ids:
        slurm_cli().call(["scancel", job_id])


def sbatch(ids: list[str], *options: str) -> str:
    out = slurm_cli().run(
        ["sbatch", "--parsable", "--chdir=/tmp", "--output=/dev/null", *options],
        stdin=b"#!/bin/sh\nexec sleep 120\n",
    )
    ids.append(out.strip().split(";")[0])
    return ids[-1]


def running(job_id: str) -> bool:
    return "JobState=RUNNING" in slurm_cli().run(["scontrol", "show", "job", "-o", job_id])


def test_foreign_slurm_work_is_used_capacity_and_own_jobs_are_not(
    submitted: list[str],
) -> None:
    """A Slurm job not of this agent reduces the node's offered CPUs, memory and GPUs; a job
    of this agent is counted at what the scheduler reserved for it (500m of its whole CPU)."""
    node = require_slurm()
    cli = slurm_cli()
    capacity = SlurmCapacity(cli, "debug", KEY, refresh=0)
    [idle] = capacity.nodes()
    assert idle.name == node and idle.labels[PARTITION_LABEL] == "debug"
    assert GPU_MODEL_LABEL not in idle.labels  # the test GPUs are untyped
    assert idle.capacity["cpu"] == 2000 and idle.capacity[GPU] == 2

    foreign = sbatch(submitted, "-c1", "--mem=1000M", "--gres=gpu:1", "--job-name=foreign")
    Pool.wait_for(lambda: running(foreign), 30, "the foreign job to run")
    [busy] = capacity.nodes()
    assert busy.capacity == {
        "cpu": 1000,
        "memory": idle.capacity["memory"] - 1000,
        GPU: 1,
    }

    own = comment(KEY, {"cpu": 500, "memory": 100, GPU: 1})
    ours = sbatch(submitted, "-c1", "--mem=100M", "--gres=gpu:1", f"--comment={own}")
    Pool.wait_for(lambda: running(ours), 30, "our job to run")
    [full] = capacity.nodes()
    assert full.capacity == {"cpu": 500, "memory": idle.capacity["memory"] - 1000, GPU: 1}
