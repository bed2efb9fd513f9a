"""Retries by failure category through a real scheduler and a real local agent."""

from __future__ import annotations

from pathlib import Path

from protos.suanchou.v1 import jobs_pb2, types_pb2
from tests.integration.conftest import TERMINAL, Pool, md, node, py_job


def _attempt_counter(path: Path, code: int) -> str:
    """Appends a line to `path` per attempt, then exits with `code`."""
    return f"open({str(path)!r}, 'a').write('x\\n'); raise SystemExit({code})"


def test_listed_exit_code_retries_and_another_fails_at_once(pool: Pool, tmp_path: Path) -> None:
    """With retry_exit_codes [3] and max_attempts 3, exit 3 runs three attempts before the job
    fails (MAX_ATTEMPTS); exit 4 fails after one, saying it was not retried, also in ExplainJob."""
    pool.department("dept")
    pool.cluster("gov", [node("n1")])
    three, four = tmp_path / "three", tmp_path / "four"
    retry = {"max_attempts": 3, "retry_exit_codes": [3]}
    [r3, r4] = pool.submit(
        "dept",
        py_job("exit-3", _attempt_counter(three, 3), **retry),
        py_job("exit-4", _attempt_counter(four, 4), **retry),
    )
    job4 = pool.wait_state("dept", r4.job_id, TERMINAL, timeout=60)
    assert (job4.state, job4.attempt, job4.reason) == (types_pb2.JOB_STATE_FAILED, 1, "EXIT_CODE")
    assert "not retried: exit code 4 is not in retry_exit_codes (3)" in job4.message
    assert four.read_text() == "x\n"
    explained = pool.jobs.ExplainJob(
        jobs_pb2.ExplainJobRequest(job_id=r4.job_id), metadata=md(pool.tokens["dept"])
    )
    assert "not retried" in explained.message

    job3 = pool.wait_state("dept", r3.job_id, TERMINAL, timeout=90)
    assert (job3.state, job3.attempt, job3.reason) == (
        types_pb2.JOB_STATE_FAILED,
        3,
        "MAX_ATTEMPTS",
    )
    assert three.read_text() == "x\n" * 3
    assert list(job3.spec.retry_exit_codes) == [3] and job3.spec.max_attempts == 3
    events = pool.jobs.WatchEvents(
        jobs_pb2.WatchEventsRequest(job_id=r3.job_id), metadata=md(pool.tokens["dept"])
    )
    assert [e.reason for e in events if e.state == types_pb2.JOB_STATE_QUEUED][1:] == [
        "RETRYING",
        "RETRYING",
    ]
