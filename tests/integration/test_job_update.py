"""UpdateJob end to end: a real scheduler, a real local agent, and the CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

import grpc
import pytest

from protos.suanchou.v1 import jobs_pb2, types_pb2
from scheduler.cli.main import main
from tests.integration.conftest import Pool, md, node, py_job

RUNNING = {types_pb2.JOB_STATE_RUNNING}
DONE = {types_pb2.JOB_STATE_SUCCEEDED, types_pb2.JOB_STATE_FAILED}


def _wait_for_flag(flag: Path) -> str:
    """A job that runs until `flag` exists, then exits 0."""
    return f"import os, time\nwhile not os.path.exists({str(flag)!r}): time.sleep(0.05)"


def _update(pool: Pool, job_id: str, seconds: int) -> types_pb2.Job:
    return pool.jobs.UpdateJob(
        jobs_pb2.UpdateJobRequest(job_id=job_id, max_runtime_seconds=seconds),
        metadata=md(pool.tokens["dept"]),
    )


def _agent_applied(pool: Pool, seconds: int) -> bool:
    """Whether the agent's log (JSON lines) says it gave a run the limit `seconds`."""
    for line in pool.agents[0].log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "run_max_runtime_changed":
            return bool(entry.get("max_runtime_seconds") == seconds)
    return False


def test_a_shortened_limit_kills_a_running_job_with_the_reason(pool: Pool) -> None:
    """A running job whose limit is cut below its age is stopped by its agent and FAILED with
    "max runtime 1s exceeded"; the change is an event of its own."""
    pool.department("dept")
    pool.cluster("gov", [node("n1")])
    [result] = pool.submit(
        "dept", py_job("sleeper", "import time; time.sleep(120)", max_runtime_seconds=600)
    )
    pool.wait_state("dept", result.job_id, RUNNING)
    assert _update(pool, result.job_id, 1).spec.max_runtime_seconds == 1
    job = pool.wait_state("dept", result.job_id, DONE, timeout=60)
    assert job.state == types_pb2.JOB_STATE_FAILED
    assert job.message.startswith("max runtime 1s exceeded; not retried"), job.message
    events = pool.jobs.WatchEvents(
        jobs_pb2.WatchEventsRequest(job_id=result.job_id), metadata=md(pool.tokens["dept"])
    )
    changed = [e for e in events if e.reason == "MAX_RUNTIME_CHANGED"]
    assert [e.message for e in changed] == ["max runtime changed from 10m to 1s"]


def test_a_lengthened_limit_lets_a_running_job_outlive_the_old_one(
    pool: Pool, tmp_path: Path
) -> None:
    """A running job given a longer limit runs past its old one and succeeds."""
    pool.department("dept")
    pool.cluster("gov", [node("n1")])
    flag = tmp_path / "finish"
    [result] = pool.submit("dept", py_job("long", _wait_for_flag(flag), max_runtime_seconds=4))
    pool.wait_state("dept", result.job_id, RUNNING)
    _update(pool, result.job_id, 300)
    pool.wait_for(lambda: _agent_applied(pool, 300), 20, "the agent to apply the new limit")
    [run] = pool.get("dept", result.job_id).runs
    # Past the old limit, counted from the replica's start as the agent counts it.
    started = run.started_at.ToDatetime().timestamp()
    pool.wait_for(lambda: time.time() > started + 6, 30, "the old limit to pass")
    assert pool.get("dept", result.job_id).state == types_pb2.JOB_STATE_RUNNING
    flag.touch()
    job = pool.wait_state("dept", result.job_id, DONE, timeout=60)
    assert job.state == types_pb2.JOB_STATE_SUCCEEDED, job.message


def test_cli_job_update_and_its_errors(
    pool: Pool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`job update ID --max-runtime 2h` changes a queued job; a bad duration names the flag;
    a finished job is refused by the server."""
    pool.department("dept")
    pool.cluster("gov", [node("n1", cpu=1)], start_agent=False)
    monkeypatch.setenv("SUANCHOU_SCHEDULER", pool.address)
    monkeypatch.setenv("SUANCHOU_TOKEN", pool.tokens["dept"])
    monkeypatch.delenv("SUANCHOU_CONFIG", raising=False)
    [queued] = pool.submit("dept", py_job("q", "pass"))
    assert main(["--json", "job", "update", queued.job_id, "--max-runtime", "2h"]) == 0
    assert json.loads(capsys.readouterr().out)["spec"]["max_runtime_seconds"] == "7200"
    assert main(["job", "update", queued.job_id, "--max-runtime", "soon"]) != 0
    assert "--max-runtime" in capsys.readouterr().err
    pool.jobs.CancelJobs(
        jobs_pb2.CancelJobsRequest(job_ids=[queued.job_id]), metadata=md(pool.tokens["dept"])
    )
    assert main(["job", "update", queued.job_id, "--max-runtime", "1h"]) != 0
    assert "already finished" in capsys.readouterr().err
    with pytest.raises(grpc.RpcError) as caught:
        _update(pool, queued.job_id, 0)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "max_runtime_seconds" in str(caught.value.details())
