"""Malformed and oversized input over a real server: INVALID_ARGUMENT or NOT_FOUND naming the
field with a short message, never INTERNAL, and every refusal logged."""

from __future__ import annotations

import base64

import grpc
import pytest
from structlog.testing import capture_logs

from protos.suanchou.v1 import admin_pb2, jobs_pb2, types_pb2
from tests.integration.conftest import Pool, md, py_job


def _raw(pool: Pool, method: str, payload: bytes, token: str) -> grpc.RpcError:
    call = pool.channel.unary_unary(
        method, request_serializer=lambda b: b, response_deserializer=lambda b: b
    )
    with pytest.raises(grpc.RpcError) as err:
        call(payload, metadata=md(token), timeout=10)
    return err.value


@pytest.mark.parametrize(
    "token",
    [
        base64.urlsafe_b64encode(f"seq:{2**63}".encode()).decode(),
        base64.urlsafe_b64encode(b"seq:-5").decode(),
        base64.urlsafe_b64encode(b"seq:" + b"9" * 5000).decode(),
        base64.urlsafe_b64encode(b"seq:0").decode(),
        "not base64 at all!",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_forged_page_tokens_are_invalid_argument(pool: Pool, token: str) -> None:
    """A page token the server did not issue (overflowing, negative, huge) names page_token."""
    pool.department("公安局")
    with pytest.raises(grpc.RpcError) as err:
        pool.jobs.ListJobs(
            jobs_pb2.ListJobsRequest(page_token=token), metadata=md(pool.tokens["公安局"])
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (err.value.details() or "").startswith("page_token:")


def test_undecodable_payloads_are_invalid_argument_and_logged(pool: Pool) -> None:
    """Random bytes and invalid UTF-8 in a string field are refused as INVALID_ARGUMENT naming
    the request type, and the rpc is logged with that code."""
    token = pool.department("公安局")
    invalid_utf8 = b"\x0a\x02\xff\xfe"  # GetJobRequest.job_id = b"\xff\xfe"
    with capture_logs() as logs:
        garbage = _raw(pool, "/suanchou.v1.JobService/SubmitJobs", b"\xff" * 64, token)
        bad_text = _raw(pool, "/suanchou.v1.JobService/GetJob", invalid_utf8, token)
    assert garbage.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert garbage.details() == "request: request could not be decoded as SubmitJobsRequest"
    assert bad_text.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "could not be decoded as GetJobRequest" in (bad_text.details() or "")
    completed = [e for e in logs if e["event"] == "rpc_completed"]
    assert [(e["method"], e["code"]) for e in completed] == [
        ("/suanchou.v1.JobService/SubmitJobs", "INVALID_ARGUMENT"),
        ("/suanchou.v1.JobService/GetJob", "INVALID_ARGUMENT"),
    ]


def test_a_huge_job_id_comes_back_short(pool: Pool) -> None:
    """A 1 MiB job id is NOT_FOUND with a details string of under 300 bytes."""
    token = pool.department("公安局")
    huge = "j" * (1024 * 1024)
    for call in (pool.jobs.GetJob, pool.jobs.ExplainJob):
        request = (
            jobs_pb2.GetJobRequest(job_id=huge)
            if call is pool.jobs.GetJob
            else jobs_pb2.ExplainJobRequest(job_id=huge)
        )
        with pytest.raises(grpc.RpcError) as err:
            call(request, metadata=md(token))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        details = (err.value.details() or "").encode()
        assert len(details) < 300 and b"(1048576 chars)" in details
    with pytest.raises(grpc.RpcError) as err:
        pool.jobs.CancelJobs(jobs_pb2.CancelJobsRequest(job_ids=[huge]), metadata=md(token))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len((err.value.details() or "").encode()) < 300


def test_a_huge_resource_name_comes_back_short(pool: Pool) -> None:
    """A 2 MiB resource name (a cluster price) is INVALID_ARGUMENT with under 300 bytes of
    details; in a job spec the item error is as short."""
    token = pool.department("公安局")
    huge = "r" * (2 * 1024 * 1024)
    with pytest.raises(grpc.RpcError) as err:
        pool.clusters.RegisterCluster(
            admin_pb2.RegisterClusterRequest(
                spec=admin_pb2.ClusterSpec(
                    name="gov-a", region="hz", security_level=2, price={huge: 1.0}
                )
            ),
            metadata=md(pool.admin_token),
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len((err.value.details() or "").encode()) < 300
    spec = py_job("big-name", "pass")
    spec.resources.quantities[huge] = 1
    [result] = pool.jobs.SubmitJobs(
        jobs_pb2.SubmitJobsRequest(items=[spec]), metadata=md(token)
    ).results
    assert result.error.code == "INVALID_ARGUMENT" and not result.job_id
    assert len(result.error.SerializeToString()) < 300


def test_a_long_label_key_is_cut_in_the_field_path(pool: Pool) -> None:
    """A label key over the limit is named by a short prefix in the item error's field path."""
    token = pool.department("公安局")
    key = "k" * 20_000
    spec = py_job("long-key", "pass", labels={key: "v"})
    [result] = pool.jobs.SubmitJobs(
        jobs_pb2.SubmitJobsRequest(items=[spec]), metadata=md(token)
    ).results
    assert result.error.code == "INVALID_ARGUMENT"
    assert result.error.field.startswith("labels[kkk") and "(20000 chars)" in result.error.field
    assert len(result.error.SerializeToString()) < 300
    assert result.state == types_pb2.JOB_STATE_UNSPECIFIED


@pytest.mark.parametrize("backend", ["pool", "pg_pool"])
def test_nul_characters_are_refused_by_field_on_every_store(
    backend: str, request: pytest.FixtureRequest
) -> None:
    """A NUL in any string (PostgreSQL cannot store or even compare one) is INVALID_ARGUMENT
    naming the field, in a top-level id, a list filter and a nested map key alike."""
    pool: Pool = request.getfixturevalue(backend)
    token = pool.department("公安局")
    calls = [
        (lambda: pool.jobs.GetJob(jobs_pb2.GetJobRequest(job_id="a\x00b"), metadata=md(token)),
         "job_id"),
        (lambda: pool.jobs.ListJobs(jobs_pb2.ListJobsRequest(job_set="n\x00"), metadata=md(token)),
         "job_set"),
        (lambda: pool.submit("公安局", py_job("nul", "pass", labels={"k\x00": "v"})),
         "items[0].labels['k\\x00']"),
    ]  # fmt: skip
    for call, field in calls:
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.details() == f"{field}: must not contain NUL characters"
