"""Byte limits over a real server and a real agent: oversized specs and requests are refused
naming the field and the limit; a pool full of maximum-size jobs still syncs and runs them all
(the agent's replies are paged) and `job list` pages through them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import grpc
import pytest
import yaml

from protos.suanchou.v1 import admin_pb2, jobs_pb2, types_pb2
from scheduler.api.budget import DEFAULT_MAX_MESSAGE_BYTES
from scheduler.cli.main import main
from scheduler.domain.validation import MAX_SPEC_BYTES
from tests.integration.conftest import Pool, md, node

TRUE = shutil.which("true") or "/bin/true"


def _spec(client_id: str, size: int) -> types_pb2.JobSpec:
    """A job running `true` with one long argument, `size` bytes serialized."""
    spec = types_pb2.JobSpec(
        client_id=client_id,
        resources=types_pb2.Resources(quantities={"cpu": 100, "memory": 16}),
        command=[TRUE, ""],
    )
    spec.command[1] = "a" * (size - spec.ByteSize())
    # The argument's length prefix grew from one byte to three: take those back.
    spec.command[1] = "a" * (len(spec.command[1]) - (spec.ByteSize() - size))
    assert spec.ByteSize() == size
    return spec


def test_an_oversized_job_spec_is_refused_naming_the_item_and_the_limit(pool: Pool) -> None:
    """A spec of 64 KiB + 1 is an item error `items[1]: job spec is N bytes, at most 65536`;
    the other items of the batch go in."""
    token = pool.department("公安局")
    reply = pool.jobs.SubmitJobs(
        jobs_pb2.SubmitJobsRequest(
            items=[_spec("fits", MAX_SPEC_BYTES), _spec("over", MAX_SPEC_BYTES + 1)]
        ),
        metadata=md(token),
    )
    ok, over = reply.results
    assert ok.job_id and ok.error.field != "items[0]"  # recorded (REJECTED: no cluster yet)
    assert (over.error.code, over.error.field, over.error.message) == (
        "INVALID_ARGUMENT",
        "items[1]",
        f"job spec is {MAX_SPEC_BYTES + 1} bytes, at most {MAX_SPEC_BYTES}",
    )


def test_an_oversized_request_is_refused_naming_its_largest_field(pool: Pool) -> None:
    """A 12 MB SubmitJobs request (200 jobs of 60 KB) is INVALID_ARGUMENT on `items` with the
    limit, and nothing is recorded."""
    token = pool.department("公安局")
    request = jobs_pb2.SubmitJobsRequest(items=[_spec(f"j{i}", 60_000) for i in range(200)])
    with pytest.raises(grpc.RpcError) as err:
        pool.jobs.SubmitJobs(request, metadata=md(token))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == (
        f"items: request is {request.ByteSize()} bytes, at most {DEFAULT_MAX_MESSAGE_BYTES}"
    )
    listed = pool.jobs.ListJobs(jobs_pb2.ListJobsRequest(), metadata=md(token))
    assert list(listed.jobs) == []


def test_a_pool_full_of_maximum_size_jobs_runs_them_all(
    patient_pool: Pool,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """140 jobs just under the per-spec limit (one Sync reply with all of them would exceed the
    max message size) are submitted by the CLI in byte-bounded batches, leased at once, synced
    to a real agent over several paged replies and all SUCCEEDED on their first attempt; the
    cluster never looks lost, and `job list --all` pages through them."""
    count, size = 140, MAX_SPEC_BYTES - 16
    assert count * size > DEFAULT_MAX_MESSAGE_BYTES
    monkeypatch.setenv("SUANCHOU_SCHEDULER", patient_pool.address)
    monkeypatch.setenv("SUANCHOU_TOKEN", patient_pool.department("公安局"))
    monkeypatch.delenv("SUANCHOU_CONFIG", raising=False)
    patient_pool.cluster("gov-a", [node("big", cpu=64, memory="64Gi")])
    jobs = [
        {
            "client_id": f"max-{i}",
            "resources": {"cpu": "100m", "memory": "16Mi"},
            "command": list(_spec(f"max-{i}", size).command),
        }
        for i in range(count)
    ]
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump({"jobs": jobs}, width=2**31))
    assert main(["--json", "job", "submit", str(path)]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert len(results) == count and all(r["state"] == "JOB_STATE_QUEUED" for r in results)

    token = patient_pool.tokens["公安局"]

    def succeeded() -> int:
        total, page_token = 0, ""
        while True:
            page = patient_pool.jobs.ListJobs(
                jobs_pb2.ListJobsRequest(
                    states=[types_pb2.JOB_STATE_SUCCEEDED], page_size=500, page_token=page_token
                ),
                metadata=md(token),
            )
            total += len(page.jobs)
            page_token = page.next_page_token
            if not page_token:
                return total

    patient_pool.wait_for(
        lambda: succeeded() == count, 180, f"{count} maximum-size jobs to succeed"
    )
    first = patient_pool.jobs.ListJobs(jobs_pb2.ListJobsRequest(page_size=500), metadata=md(token))
    assert 0 < len(first.jobs) < count and first.next_page_token
    assert main(["--json", "job", "list", "--all"]) == 0
    listed = json.loads(capsys.readouterr().out)["jobs"]
    assert len(listed) == count
    assert {j["attempt"] for j in listed} == {1}
    cluster = patient_pool.clusters.GetCluster(
        admin_pb2.GetClusterRequest(name="gov-a"), metadata=md(patient_pool.admin_token)
    )
    assert cluster.state == types_pb2.CLUSTER_STATE_ACTIVE and cluster.agent_error == ""
    assert "RESOURCE_EXHAUSTED" not in patient_pool.agents[0].log.read_text()


def test_a_batch_of_rejections_over_many_clusters_stays_within_the_reply_budget(
    pool: Pool,
) -> None:
    """1,000 jobs no cluster can run, each naming 64 long regions, against 8 clusters: every
    item is REJECTED with a message of at most 1,024 characters (5 regions named per cluster,
    at most 5 clusters) and the whole
    reply stays within half the max message size."""
    token = pool.department("公安局")
    for i in range(8):
        pool.cluster(f"gov-{i}", [], start_agent=False)
    regions = [f"region-{i:02d}-" + "r" * 50 for i in range(64)]
    spec = _spec("x", 200)
    spec.constraints.allowed_regions.extend(regions)
    items = []
    for i in range(1000):
        item = types_pb2.JobSpec()
        item.CopyFrom(spec)
        item.client_id = f"reject-{i}"
        items.append(item)
    reply = pool.jobs.SubmitJobs(jobs_pb2.SubmitJobsRequest(items=items), metadata=md(token))
    assert {r.state for r in reply.results} == {types_pb2.JOB_STATE_REJECTED}
    assert reply.ByteSize() <= DEFAULT_MAX_MESSAGE_BYTES // 2
    message = reply.results[0].message
    assert len(message) <= 1024 and "and 59 more" in message
    assert message.startswith("no cluster can ever run this job (gov-0: region hz not in")
