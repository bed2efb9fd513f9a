"""The cycle's policy through a real server, real agent and CLI: queue positions and quota
numbers in GetJob/ExplainJob, and a department's fair-share weight, decayed usage and lent in
GetDepartment and `suanchou department get|set-weight`, with department isolation kept."""

from __future__ import annotations

import json

import grpc
import pytest

from protos.suanchou.v1 import admin_pb2, governance_pb2, jobs_pb2, types_pb2
from scheduler.cli.main import main
from tests.integration.conftest import Pool, md, node, py_job

SLEEP = "import time; time.sleep(120)"
RUNNING = {types_pb2.JOB_STATE_RUNNING}


def _quota(pool: Pool, department: str, nominal: int, **limits: int) -> None:
    pool.departments.SetQuota(
        admin_pb2.SetQuotaRequest(
            department=department,
            quotas=[governance_pb2.ResourceQuota(resource="cpu", nominal=nominal, **limits)],
        ),
        metadata=md(pool.admin_token),
    )


def _ranked(pool: Pool, dept: str, job_id: str) -> types_pb2.Job:
    """The job once a cycle has ranked it (it has a queue position)."""
    pool.wait_for(lambda: pool.get(dept, job_id).HasField("queue_position"), 20, f"{job_id} ranked")
    return pool.get(dept, job_id)


def test_queued_jobs_get_positions_and_quota_numbers(
    pool: Pool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """交通局 holds 1 core without borrowing: its second 1-core job waits QUOTA_EXHAUSTED with
    the numbers although the node has room; 公安局's 4-core job waits for room; each is first
    in its department, the two share pool places 1 and 2, and ExplainJob (and `job explain`)
    agree with GetJob; 公安局 cannot read 交通局's job."""
    pool.department("交通局")
    pool.department("公安局")
    _quota(pool, "交通局", 1000, borrowing_limit=0)
    pool.cluster("a", [node("n1", cpu=4)])
    first, second = (
        r.job_id
        for r in pool.submit("交通局", py_job("t1", SLEEP, cpu=1000), py_job("t2", SLEEP, cpu=1000))
    )
    pool.wait_state("交通局", first, RUNNING)
    (big,) = (r.job_id for r in pool.submit("公安局", py_job("p1", SLEEP, cpu=4000)))
    pool.wait_for(
        lambda: pool.get("交通局", second).reason == "QUOTA_EXHAUSTED", 20, "the quota verdict"
    )
    held = _ranked(pool, "交通局", second)
    assert held.state == types_pb2.JOB_STATE_QUEUED
    assert held.message.startswith("cpu used 1000 of nominal 1000 + borrowing 0 in the whole pool")
    waiting = _ranked(pool, "公安局", big)
    assert held.queue_position.department == waiting.queue_position.department == 1

    def pool_places() -> set[int]:
        # Two reads, and a cycle may re-rank between them (fair share moves): poll.
        return {
            pool.get(d, j).queue_position.pool for d, j in (("交通局", second), ("公安局", big))
        }

    pool.wait_for(lambda: pool_places() == {1, 2}, 20, "pool places 1 and 2")
    assert 0 <= held.queue_position.effective_priority <= 124  # borrowing band: over nominal
    explained = pool.jobs.ExplainJob(
        jobs_pb2.ExplainJobRequest(job_id=second), metadata=md(pool.tokens["交通局"])
    )
    assert explained.reason == "QUOTA_EXHAUSTED"
    assert explained.queue_position.department == 1
    monkeypatch.setenv("SUANCHOU_SCHEDULER", pool.address)
    monkeypatch.setenv("SUANCHOU_TOKEN", pool.tokens["交通局"])
    monkeypatch.delenv("SUANCHOU_CONFIG", raising=False)
    assert main(["job", "explain", second]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "In line" in x)
    assert "1 in its department" in line and "in the pool (effective priority" in line
    with pytest.raises(grpc.RpcError) as err:
        pool.get("公安局", second)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_department_get_shows_weight_decayed_usage_and_lent(
    pool: Pool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """公安局 (1 core) runs 2 cores, borrowing 1 that 交通局 (2 idle cores) lends; an admin sets
    交通局's weight with the CLI; `department get` shows weight, decayed usage and LENT; a
    department token may not set a weight and reads no other department."""
    pool.department("交通局")
    pool.department("公安局")
    _quota(pool, "交通局", 2000)
    _quota(pool, "公安局", 1000)
    pool.cluster("a", [node("n1", cpu=4)])
    jobs = [
        r.job_id
        for r in pool.submit("公安局", *(py_job(f"p{i}", SLEEP, cpu=1000) for i in range(2)))
    ]
    for job_id in jobs:
        pool.wait_state("公安局", job_id, RUNNING)
    monkeypatch.setenv("SUANCHOU_SCHEDULER", pool.address)
    monkeypatch.setenv("SUANCHOU_ADMIN_TOKEN", pool.admin_token)
    monkeypatch.delenv("SUANCHOU_CONFIG", raising=False)
    monkeypatch.delenv("SUANCHOU_TOKEN", raising=False)
    assert main(["department", "set-weight", "交通局", "3"]) == 0
    assert "交通局 fair-share weight: 3" in capsys.readouterr().out

    def lent() -> int:
        reply = pool.departments.GetDepartment(
            admin_pb2.GetDepartmentRequest(name="交通局"), metadata=md(pool.admin_token)
        )
        return reply.quotas[0].resources[0].lent

    pool.wait_for(lambda: lent() == 1000, 20, "交通局 to lend one core")
    pool.wait_for(
        lambda: (
            pool.departments.GetDepartment(
                admin_pb2.GetDepartmentRequest(name="公安局"), metadata=md(pool.admin_token)
            ).decayed_usage
            > 0
        ),
        20,
        "公安局's decayed usage",
    )
    assert main(["department", "get", "交通局"]) == 0
    out = capsys.readouterr().out
    assert "fair-share weight: 3" in out and "pool-seconds" in out
    row = next(line.split() for line in out.splitlines() if line.startswith("pool"))
    assert row == ["pool", "cpu", "2", "unlimited", "all", "idle", "0", "0", "1"]

    monkeypatch.delenv("SUANCHOU_ADMIN_TOKEN")
    monkeypatch.setenv("SUANCHOU_TOKEN", pool.tokens["公安局"])
    assert main(["--json", "department", "get", "公安局"]) == 0
    mine = json.loads(capsys.readouterr().out)
    assert mine["fair_share_weight"] == 1 and mine["decayed_usage"] > 0
    assert mine["quotas"][0]["resources"][0]["borrowed"] == "1000"
    assert main(["department", "get", "交通局"]) == 1
    assert "NOT_FOUND" in capsys.readouterr().err
    with pytest.raises(grpc.RpcError) as err:
        pool.departments.SetDepartmentFairShareWeight(
            admin_pb2.SetDepartmentFairShareWeightRequest(department="公安局", weight=9),
            metadata=md(pool.tokens["公安局"]),
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        pool.departments.SetDepartmentFairShareWeight(
            admin_pb2.SetDepartmentFairShareWeightRequest(department="公安局", weight=0),
            metadata=md(pool.admin_token),
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith("weight:")
