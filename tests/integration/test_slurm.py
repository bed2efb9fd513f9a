"""Jobs submitted over gRPC run on the real Slurm through a real `--executor slurm` agent."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.main import agent_key
from agents.slurm.commands import SlurmCommands
from agents.slurm.executor import SlurmExecutor
from agents.slurm.jobs import comment, job_name, list_jobs, owned_resources
from protos.suanchou.v1 import jobs_pb2, types_pb2
from tests.integration.conftest import TERMINAL, Pool, md, py_job
from tests.integration.slurm_support import (
    require_slurm,
    run_slurm_pool,
    scontrol_job,
    set_node_state,
    slurm_cli,
    slurm_jobs_of,
    start_slurm_agent,
)

SUCCEEDED = {types_pb2.JOB_STATE_SUCCEEDED}


@pytest.fixture
def slurm_pool(tmp_path: Path) -> Iterator[Pool]:
    yield from run_slurm_pool(tmp_path)


def slurm_cluster(pool: Pool, name: str = "slurm1") -> str:
    """Registers a cluster and starts its Slurm agent; returns the Slurm node's name."""
    node = require_slurm()
    pool.department("dept")
    pool.cluster(name, [], start_agent=False)
    start_slurm_agent(pool, name)
    pool.wait_for(lambda: pool.cluster_info(name).node_count > 0, 30, "the Slurm node offered")
    return node


def only_run(pool: Pool, job_id: str) -> types_pb2.Run:
    runs = list(pool.get("dept", job_id).runs)
    assert len(runs) == 1, runs
    return runs[0]


def log_events(log: Path, event: str) -> list[dict[str, object]]:
    found = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("event") == event:
            found.append(entry)
    return found


def test_job_runs_on_slurm_with_its_resources_environment_and_output(slurm_pool: Pool) -> None:
    """A job runs as one Slurm batch job pinned to the leased node with -c, --mem and --time,
    sees its env but not the agent's token, and its stdout is read back from Slurm's file."""
    node = slurm_cluster(slurm_pool)
    code = (
        "import os; print('hello', os.environ['GREETING'], os.environ['SUANCHOU_JOB_ID']); "
        "print('token' if any('TOKEN' in k for k in os.environ) else 'no token')"
    )
    job_id = slurm_pool.submit(
        "dept",
        py_job(
            "hello", code, cpu=500, memory=200, env={"GREETING": "slurm"}, max_runtime_seconds=90
        ),
    )[0].job_id
    slurm_pool.wait_state("dept", job_id, SUCCEEDED, timeout=60)
    run = only_run(slurm_pool, job_id)
    assert run.exit_code == 0 and run.node == node
    [slurm_job] = slurm_jobs_of(run.run_id)
    details = scontrol_job(slurm_job.job_id)
    assert "JobState=COMPLETED" in details and f"NodeList={node}" in details
    assert "NumCPUs=1" in details and "MinMemoryNode=200M" in details
    assert "TimeLimit=00:02:00" in details  # 90 s, in Slurm's whole minutes
    executor = SlurmExecutor(
        slurm_pool.tmp / "work-slurm1",
        SlurmCommands(),
        partition="debug",
        agent_key=agent_key(slurm_pool.tokens["slurm1"]),
    )
    output = executor.read_output(run.run_id, "stdout", 0, 4096)
    assert output == f"hello slurm {job_id}\nno token\n".encode()
    assert executor.read_output(run.run_id, "stdout", 6, 5) == b"slurm"
    assert executor.read_output("no-such-run", "stdout", 0, 10) is None


def test_failing_job_reports_its_exit_code(slurm_pool: Pool) -> None:
    """A replica that exits 3 in Slurm fails the job with exit code 3."""
    slurm_cluster(slurm_pool)
    job_id = slurm_pool.submit("dept", py_job("fails", "import sys; sys.exit(3)"))[0].job_id
    job = slurm_pool.wait_state("dept", job_id, TERMINAL, timeout=60)
    assert job.state == types_pb2.JOB_STATE_FAILED, job
    run = only_run(slurm_pool, job_id)
    assert run.state == types_pb2.RUN_STATE_FAILED and run.exit_code == 3
    [slurm_job] = slurm_jobs_of(run.run_id)
    assert slurm_job.state == "FAILED"


def test_cancel_reaches_scancel(slurm_pool: Pool) -> None:
    """Cancelling a running job signals its Slurm job (scancel) and the job ends CANCELLED."""
    slurm_cluster(slurm_pool)
    job_id = slurm_pool.submit("dept", py_job("sleeper", "import time; time.sleep(300)"))[0].job_id
    slurm_pool.wait_state("dept", job_id, {types_pb2.JOB_STATE_RUNNING}, timeout=60)
    run_id = only_run(slurm_pool, job_id).run_id
    slurm_pool.wait_for(
        lambda: [j.state for j in slurm_jobs_of(run_id)] == ["RUNNING"], 30, "Slurm RUNNING"
    )
    slurm_pool.jobs.CancelJobs(
        jobs_pb2.CancelJobsRequest(job_ids=[job_id]), metadata=md(slurm_pool.tokens["dept"])
    )
    slurm_pool.wait_state("dept", job_id, {types_pb2.JOB_STATE_CANCELLED}, timeout=60)
    slurm_pool.wait_for(
        lambda: slurm_jobs_of(run_id)[0].state in ("CANCELLED", "FAILED"), 30, "Slurm job ended"
    )
    signalled = log_events(slurm_pool.agents[-1].log, "slurm_job_signalled")
    assert [e["run_id"] for e in signalled][:1] == [run_id]
    assert signalled[0]["how"] == "--full --signal=TERM"


def test_drained_node_receives_no_work_until_resumed(slurm_pool: Pool) -> None:
    """A node drained in Slurm is withdrawn (nothing is submitted to it); resumed, it takes the
    waiting job."""
    node = slurm_cluster(slurm_pool)
    set_node_state(node, "drain")
    try:
        slurm_pool.wait_for(
            lambda: slurm_pool.cluster_info("slurm1").node_count == 0, 30, "node withdrawn"
        )
        job_id = slurm_pool.submit("dept", py_job("waits", "print('ran')"))[0].job_id
        slurm_pool.wait_for(
            lambda: slurm_pool.get("dept", job_id).reason != "", 30, "the job to be explained"
        )
        job = slurm_pool.get("dept", job_id)
        assert job.state == types_pb2.JOB_STATE_QUEUED and not job.runs, job
        key = agent_key(slurm_pool.tokens["slurm1"])
        assert not [
            j for j in list_jobs(slurm_cli()) if owned_resources(j.comment, key) is not None
        ]
    finally:
        set_node_state(node, "resume")
    slurm_pool.wait_state("dept", job_id, SUCCEEDED, timeout=60)
    assert len(slurm_jobs_of(only_run(slurm_pool, job_id).run_id)) == 1


def test_restarted_agent_adopts_its_slurm_job_instead_of_resubmitting(slurm_pool: Pool) -> None:
    """kill -9 of the agent while its Slurm job runs, then a restart: the job is found again by
    name, finishes once, and was submitted once."""
    slurm_cluster(slurm_pool)
    marker = slurm_pool.tmp / "go"
    code = (
        "import os, time\n"
        f"while not os.path.exists({str(marker)!r}):\n"
        "    time.sleep(0.1)\n"
        "print('done')\n"
    )
    job_id = slurm_pool.submit("dept", py_job("survivor", code))[0].job_id
    slurm_pool.wait_state("dept", job_id, {types_pb2.JOB_STATE_RUNNING}, timeout=60)
    run_id = only_run(slurm_pool, job_id).run_id
    slurm_pool.agents[-1].kill()
    restarted = start_slurm_agent(slurm_pool, "slurm1")
    slurm_pool.wait_for(
        lambda: bool(log_events(restarted.log, "slurm_job_adopted")), 30, "the job adopted"
    )
    marker.write_text("")
    job = slurm_pool.wait_state("dept", job_id, SUCCEEDED, timeout=60)
    assert job.attempt == 1
    run = only_run(slurm_pool, job_id)
    assert run.run_id == run_id and run.exit_code == 0
    assert [j.state for j in slurm_jobs_of(run_id)] == ["COMPLETED"]
    assert [e["run_id"] for e in log_events(restarted.log, "slurm_job_adopted")] == [run_id]
    assert not log_events(restarted.log, "slurm_job_submitted")


def test_bad_partition_fails_at_start(slurm_pool: Pool) -> None:
    """An agent given a partition Slurm does not have exits 2 naming it."""
    require_slurm()
    slurm_pool.cluster("slurm-bad", [], start_agent=False)
    agent = start_slurm_agent(slurm_pool, "slurm-bad", "--partition", "nosuchpart")
    assert agent.proc.wait(30) == 2
    assert re.search(r"partition 'nosuchpart'", agent.log.read_text())


def test_gpu_job_gets_a_slurm_gres_device(slurm_pool: Pool) -> None:
    """A job asking for one nvidia.com/gpu is submitted with --gres=gpu:1 and sees the device
    Slurm gave it in CUDA_VISIBLE_DEVICES."""
    slurm_cluster(slurm_pool)
    info = slurm_pool.cluster_info("slurm1")
    assert info.node_count == 1
    spec = py_job("gpu", "import os; print(os.environ.get('CUDA_VISIBLE_DEVICES'))")
    spec.resources.quantities["nvidia.com/gpu"] = 1
    job_id = slurm_pool.submit("dept", spec)[0].job_id
    slurm_pool.wait_state("dept", job_id, SUCCEEDED, timeout=60)
    run = only_run(slurm_pool, job_id)
    [slurm_job] = slurm_jobs_of(run.run_id)
    assert "TresPerNode=gres:gpu:1" in scontrol_job(slurm_job.job_id)
    out = (slurm_pool.tmp / "work-slurm1" / run.run_id / "stdout.log").read_text()
    assert out in ("0\n", "1\n")


def test_job_that_ended_while_the_agent_was_down_is_reported_once(slurm_pool: Pool) -> None:
    """A Slurm job that finishes while its agent is dead is found finished by the restarted
    agent and reported with its exit code, not lost and not submitted again."""
    slurm_cluster(slurm_pool)
    marker = slurm_pool.tmp / "go"
    code = (
        "import os, sys, time\n"
        f"while not os.path.exists({str(marker)!r}):\n"
        "    time.sleep(0.1)\n"
        "sys.exit(4)\n"
    )
    job_id = slurm_pool.submit("dept", py_job("ends-alone", code))[0].job_id
    slurm_pool.wait_state("dept", job_id, {types_pb2.JOB_STATE_RUNNING}, timeout=60)
    run_id = only_run(slurm_pool, job_id).run_id
    slurm_pool.agents[-1].kill()
    marker.write_text("")
    slurm_pool.wait_for(
        lambda: [j.state for j in slurm_jobs_of(run_id)] == ["FAILED"], 30, "Slurm job ended"
    )
    start_slurm_agent(slurm_pool, "slurm1")
    job = slurm_pool.wait_state("dept", job_id, TERMINAL, timeout=60)
    assert job.state == types_pb2.JOB_STATE_FAILED and job.attempt == 1
    run = only_run(slurm_pool, job_id)
    assert run.run_id == run_id and run.exit_code == 4
    assert len(slurm_jobs_of(run_id)) == 1


def test_stopping_the_agent_cancels_its_slurm_jobs(slurm_pool: Pool) -> None:
    """SIGTERM to the agent stops its Slurm jobs (the scheduler requeues them), so no Slurm
    work keeps running that no agent accounts for."""
    slurm_cluster(slurm_pool)
    job_id = slurm_pool.submit("dept", py_job("stopped", "import time; time.sleep(300)"))[0].job_id
    slurm_pool.wait_state("dept", job_id, {types_pb2.JOB_STATE_RUNNING}, timeout=60)
    run_id = only_run(slurm_pool, job_id).run_id
    agent = slurm_pool.agents[-1]
    agent.proc.terminate()
    assert agent.proc.wait(30) == 0
    [slurm_job] = slurm_jobs_of(run_id)
    assert slurm_job.state in ("CANCELLED", "FAILED"), slurm_job


def test_out_of_memory_is_a_failure_saying_so(slurm_pool: Pool) -> None:
    """A replica that outgrows its --mem under Slurm's cgroup enforcement fails with Slurm's
    OUT_OF_MEMORY as the reason (skips where the test Slurm does not enforce memory)."""
    config = slurm_cli().run(["scontrol", "show", "config"])
    if "task/cgroup" not in config:
        pytest.skip("the test Slurm does not enforce memory (SLURM_CGROUP=1 does)")
    slurm_cluster(slurm_pool)
    code = "import time; x = bytearray(400 * 1024 * 1024); time.sleep(5)"
    job_id = slurm_pool.submit("dept", py_job("hog", code, memory=100))[0].job_id
    job = slurm_pool.wait_state("dept", job_id, TERMINAL, timeout=60)
    assert job.state == types_pb2.JOB_STATE_FAILED
    run = only_run(slurm_pool, job_id)
    assert run.message == "out of memory (Slurm OUT_OF_MEMORY)", run


def test_a_slurm_job_of_the_agent_it_does_not_hold_is_cancelled(slurm_pool: Pool) -> None:
    """A live job carrying this agent's name and key but held by no run (an sbatch that
    answered too late) is cancelled, so no Slurm work runs unaccounted for."""
    slurm_cluster(slurm_pool)
    key = agent_key(slurm_pool.tokens["slurm1"])
    out = slurm_cli().run(
        [
            "sbatch",
            "--parsable",
            f"--job-name={job_name('orphan-run')}",
            f"--comment={comment(key, {'cpu': 1000, 'memory': 50})}",
            "--chdir=/tmp",
            "--output=/dev/null",
            "--mem=50M",
        ],
        stdin=b"#!/bin/sh\nexec sleep 300\n",
    )
    slurm_id = out.strip().split(";")[0]
    slurm_pool.wait_for(
        lambda: "JobState=CANCELLED" in scontrol_job(slurm_id), 60, "the orphan cancelled"
    )
    [event] = log_events(slurm_pool.agents[-1].log, "slurm_orphan_cancelled")
    assert event["slurm_job"] == slurm_id


def test_a_gang_runs_as_one_slurm_job_per_replica(slurm_pool: Pool) -> None:
    """A two-replica gang becomes two Slurm batch jobs that both run and succeed, each with
    its own replica index."""
    slurm_cluster(slurm_pool)
    code = "import os; print(os.environ['SUANCHOU_REPLICA'], os.environ['SUANCHOU_REPLICAS'])"
    job_id = slurm_pool.submit("dept", py_job("gang", code, replicas=2))[0].job_id
    slurm_pool.wait_state("dept", job_id, SUCCEEDED, timeout=60)
    runs = sorted(slurm_pool.get("dept", job_id).runs, key=lambda r: r.replica)
    assert [r.replica for r in runs] == [0, 1]
    for run in runs:
        [slurm_job] = slurm_jobs_of(run.run_id)
        assert slurm_job.state == "COMPLETED"
        out = (slurm_pool.tmp / "work-slurm1" / run.run_id / "stdout.log").read_text()
        assert out == f"{run.replica} 2\n"


def test_a_gpu_share_and_a_whole_gpu_hold_distinct_slurm_devices(
    slurm_pool: Pool, tmp_path: Path
) -> None:
    """On the 2 fake GPUs: a 0.5 share (one whole GRES GPU in Slurm: GRES has no fractions
    without shards) and a whole-GPU job run at the same time, each with the device Slurm bound
    in CUDA_VISIBLE_DEVICES, never the same one."""
    slurm_cluster(slurm_pool)
    release = tmp_path / "release"
    code = (
        "import os, pathlib, time\n"
        "print(os.environ.get('CUDA_VISIBLE_DEVICES'), flush=True)\n"
        "deadline = time.monotonic() + 60\n"
        f"while not pathlib.Path({str(release)!r}).exists() and time.monotonic() < deadline:\n"
        "    time.sleep(0.1)\n"
    )
    share = py_job("share", code)
    share.resources.shares["nvidia.com/gpu"] = 500
    whole = py_job("whole", code)
    whole.resources.quantities["nvidia.com/gpu"] = 1
    ids = [r.job_id for r in slurm_pool.submit("dept", share, whole)]
    work = slurm_pool.tmp / "work-slurm1"

    def devices() -> list[str]:
        seen = []
        for job_id in ids:
            runs = list(slurm_pool.get("dept", job_id).runs)
            path = work / runs[0].run_id / "stdout.log" if runs else None
            seen.append(path.read_text().strip() if path and path.exists() else "")
        return seen

    slurm_pool.wait_for(lambda: all(devices()), 60, "both jobs to run on Slurm together")
    seen = devices()
    release.touch()
    assert sorted(seen) == ["0", "1"]
    share_run = only_run(slurm_pool, ids[0])
    [slurm_job] = slurm_jobs_of(share_run.run_id)
    assert "TresPerNode=gres:gpu:1" in scontrol_job(slurm_job.job_id)
    for job_id in ids:
        slurm_pool.wait_state("dept", job_id, SUCCEEDED, timeout=60)
