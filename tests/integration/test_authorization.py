"""The authorization matrix: every rpc of every suanchou service x every kind of caller.

The rpcs are enumerated from the descriptors of every generated module, so an rpc added to a
.proto without a row in EXPECTED fails `test_every_rpc_has_a_row`, and the server denies it
to everyone until it has a row in scheduler.api.authz.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

import protos.suanchou.v1 as v1
from protos.suanchou.v1 import (
    admin_pb2,
    agent_pb2,
    audit_pb2,
    governance_pb2,
    jobs_pb2,
    security_pb2,
)
from scheduler.api.authz import RULES, rule_for
from scheduler.service.security_settings import SecuritySettings
from tests.integration.conftest import BOOTSTRAP_TOKEN, Pool, _run_pool, md, node, py_job

ADMIN, SECURITY, AUDITOR, OPERATOR = "admin", "security-admin", "auditor", "operator"
DEPT_A, DEPT_B, AGENT_X, AGENT_Y = "dept A", "dept B", "agent X", "agent Y"
BOOTSTRAP, NO_TOKEN, GARBAGE = "bootstrap", "no token", "garbage token"
CALLERS = (
    ADMIN, SECURITY, AUDITOR, OPERATOR, DEPT_A, DEPT_B, AGENT_X, AGENT_Y,
    BOOTSTRAP, NO_TOKEN, GARBAGE,
)  # fmt: skip
DEPARTMENTS = {DEPT_A, DEPT_B}
JOB_READERS = {DEPT_A, DEPT_B, OPERATOR}
NAMED = {ADMIN, SECURITY, AUDITOR, OPERATOR}

# rpc -> callers that may call it (the specification, written out independently of the
# server's table). Every other caller gets PERMISSION_DENIED, or UNAUTHENTICATED without a
# valid token.
EXPECTED: dict[str, set[str]] = {
    "/suanchou.v1.JobService/SubmitJobs": DEPARTMENTS,
    "/suanchou.v1.JobService/GetJob": JOB_READERS,
    "/suanchou.v1.JobService/ListJobs": JOB_READERS,
    "/suanchou.v1.JobService/CancelJobs": DEPARTMENTS,
    "/suanchou.v1.JobService/UpdateJob": DEPARTMENTS,
    "/suanchou.v1.JobService/WatchEvents": JOB_READERS,
    "/suanchou.v1.JobService/ExplainJob": JOB_READERS,
    "/suanchou.v1.JobService/ReadLogs": JOB_READERS,
    "/suanchou.v1.ClusterService/RegisterCluster": {ADMIN},
    "/suanchou.v1.ClusterService/GetCluster": {ADMIN, OPERATOR},
    "/suanchou.v1.ClusterService/ListClusters": {ADMIN, OPERATOR},
    "/suanchou.v1.ClusterService/CordonCluster": {ADMIN},
    "/suanchou.v1.ClusterService/UncordonCluster": {ADMIN},
    "/suanchou.v1.ClusterService/DeregisterCluster": {ADMIN},
    "/suanchou.v1.DepartmentService/CreateDepartment": {ADMIN},
    "/suanchou.v1.DepartmentService/ListDepartments": {ADMIN, OPERATOR},
    "/suanchou.v1.DepartmentService/GetDepartment": {ADMIN, OPERATOR, *DEPARTMENTS},
    "/suanchou.v1.DepartmentService/SetQuota": {ADMIN},
    "/suanchou.v1.DepartmentService/SetDepartmentPriorityClasses": {ADMIN},
    "/suanchou.v1.DepartmentService/SetDepartmentFairShareWeight": {ADMIN},
    "/suanchou.v1.PriorityClassService/CreatePriorityClass": {ADMIN},
    "/suanchou.v1.PriorityClassService/ListPriorityClasses": NAMED | DEPARTMENTS,
    "/suanchou.v1.AgentService/Sync": {AGENT_X, AGENT_Y},
    "/suanchou.v1.AgentService/AppendLogs": {AGENT_X, AGENT_Y},
    "/suanchou.v1.PrincipalService/CreatePrincipal": {SECURITY, BOOTSTRAP},
    "/suanchou.v1.PrincipalService/ListPrincipals": {SECURITY},
    "/suanchou.v1.TokenService/IssueToken": {SECURITY},
    "/suanchou.v1.TokenService/ListTokens": {SECURITY},
    "/suanchou.v1.TokenService/RotateToken": {SECURITY},
    "/suanchou.v1.TokenService/RevokeToken": {SECURITY},
    "/suanchou.v1.AuditService/ListAuditRecords": {AUDITOR},
    "/suanchou.v1.AuditService/ExportAuditRecords": {AUDITOR},
    "/suanchou.v1.AuditService/VerifyAuditChain": {AUDITOR},
}
DENIED = {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED}


def every_rpc() -> dict[str, Any]:
    """Full method name -> method descriptor, for every service of every generated module."""
    found: dict[str, Any] = {}
    for info in pkgutil.iter_modules(v1.__path__):
        if not info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(f"{v1.__name__}.{info.name}")
        for service in module.DESCRIPTOR.services_by_name.values():
            for m in service.methods:
                found[f"/{service.full_name}/{m.name}"] = m
    return found


@dataclass
class World:
    pool: Pool
    tokens: dict[str, str]
    job_a: str


def requests(job_a: str) -> dict[str, Any]:
    """A minimal, valid-shaped request per rpc that leaves the fixtures intact when allowed."""
    return {
        "SubmitJobs": jobs_pb2.SubmitJobsRequest(),
        "GetJob": jobs_pb2.GetJobRequest(job_id=job_a),
        "ListJobs": jobs_pb2.ListJobsRequest(),
        "CancelJobs": jobs_pb2.CancelJobsRequest(job_ids=["no-such-job"]),
        "UpdateJob": jobs_pb2.UpdateJobRequest(job_id="no-such-job", max_runtime_seconds=60),
        "WatchEvents": jobs_pb2.WatchEventsRequest(),
        "ExplainJob": jobs_pb2.ExplainJobRequest(job_id=job_a),
        "ReadLogs": jobs_pb2.ReadLogsRequest(job_id=job_a),
        "RegisterCluster": admin_pb2.RegisterClusterRequest(),
        "GetCluster": admin_pb2.GetClusterRequest(name="x"),
        "ListClusters": admin_pb2.ListClustersRequest(),
        "CordonCluster": admin_pb2.CordonClusterRequest(name="no-such-cluster"),
        "UncordonCluster": admin_pb2.UncordonClusterRequest(name="no-such-cluster"),
        "DeregisterCluster": admin_pb2.DeregisterClusterRequest(name="no-such-cluster"),
        "CreateDepartment": admin_pb2.CreateDepartmentRequest(),
        "ListDepartments": admin_pb2.ListDepartmentsRequest(),
        "GetDepartment": admin_pb2.GetDepartmentRequest(name="dept-a"),
        "SetQuota": admin_pb2.SetQuotaRequest(department="no-such-department"),
        "SetDepartmentPriorityClasses": admin_pb2.SetDepartmentPriorityClassesRequest(
            department="no-such-department"
        ),
        "SetDepartmentFairShareWeight": admin_pb2.SetDepartmentFairShareWeightRequest(
            department="no-such-department", weight=1
        ),
        "CreatePriorityClass": governance_pb2.CreatePriorityClassRequest(),
        "ListPriorityClasses": governance_pb2.ListPriorityClassesRequest(),
        "Sync": agent_pb2.SyncRequest(agent_id="matrix"),
        "AppendLogs": agent_pb2.AppendLogsRequest(),
        "CreatePrincipal": security_pb2.CreatePrincipalRequest(name="p", role="no-such-role"),
        "ListPrincipals": security_pb2.ListPrincipalsRequest(),
        "IssueToken": security_pb2.IssueTokenRequest(kind="department", principal="nobody"),
        "ListTokens": security_pb2.ListTokensRequest(),
        "RotateToken": security_pb2.RotateTokenRequest(token_id="tok_none"),
        "RevokeToken": security_pb2.RevokeTokenRequest(token_id="tok_none"),
        "ListAuditRecords": audit_pb2.ListAuditRecordsRequest(),
        "ExportAuditRecords": audit_pb2.ExportAuditRecordsRequest(),
        "VerifyAuditChain": audit_pb2.VerifyAuditChainRequest(),
    }


def call(pool: Pool, method: Any, request: Any, token: str | None) -> grpc.StatusCode:
    """Calls `method` generically (no stub) and returns the status code it ended with."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    metadata = md(token) if token is not None else ()
    serialize: Callable[[Any], bytes] = type(request).SerializeToString
    if method.server_streaming:
        stream = pool.channel.unary_stream(path, request_serializer=serialize)
        try:
            for _ in stream(request, metadata=metadata, timeout=20):
                pass
        except grpc.RpcError as exc:
            return exc.code()
        return grpc.StatusCode.OK
    unary = pool.channel.unary_unary(path, request_serializer=serialize)
    try:
        unary(request, metadata=metadata, timeout=20)
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("matrix")
    # Two columns fail authentication on every rpc; keep the throttle out of this test.
    pools = _run_pool(tmp, f"sqlite:///{tmp / 's.db'}", SecuritySettings(auth_max_failures=10**6))
    pool = next(pools)
    tokens = {
        ADMIN: pool.admin_token,
        SECURITY: pool.principal("sec", SECURITY),
        AUDITOR: pool.principal("aud", AUDITOR),
        OPERATOR: pool.principal("ops", OPERATOR),
        DEPT_A: pool.department("dept-a"),
        DEPT_B: pool.department("dept-b"),
        AGENT_X: pool.cluster("x", [node("n")], start_agent=False),
        AGENT_Y: pool.cluster("y", [node("n")], start_agent=False),
        BOOTSTRAP: BOOTSTRAP_TOKEN,
        GARBAGE: "scd_" + "garbage" * 6,
    }
    [result] = pool.submit("dept-a", py_job("matrix-job", "pass"))
    yield World(pool, tokens, result.job_id)
    next(pools, None)


def test_every_rpc_has_a_row() -> None:
    """The specification and the server's table cover exactly the rpcs the .proto files
    define, and an rpc without a row is denied to every role."""
    assert set(EXPECTED) == set(every_rpc())
    assert set(RULES) == set(every_rpc())
    assert rule_for("/suanchou.v1.JobService/NotInTheTable").roles == frozenset()


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_authorization_matrix(world: World, path: str) -> None:
    """Each caller gets through exactly where the specification allows it; elsewhere it gets
    PERMISSION_DENIED with a valid token and UNAUTHENTICATED without one."""
    method = every_rpc()[path]
    request = requests(world.job_a)[method.name]
    wrong = {}
    for caller in CALLERS:
        code = call(world.pool, method, request, world.tokens.get(caller))
        if caller in EXPECTED[path]:
            ok = code not in DENIED and code is not grpc.StatusCode.INTERNAL
        elif caller in (NO_TOKEN, GARBAGE):
            ok = code is grpc.StatusCode.UNAUTHENTICATED
        else:
            ok = code is grpc.StatusCode.PERMISSION_DENIED
        if not ok:
            wrong[caller] = code.name
    assert wrong == {}


def test_departments_see_only_their_own_jobs(world: World) -> None:
    """Department B cannot read A's job (NOT_FOUND) nor name A in a listing (PERMISSION_DENIED);
    the operator reads every department's jobs."""
    pool, job = world.pool, world.job_a
    b = md(world.tokens[DEPT_B])
    for rpc, request in (
        (pool.jobs.GetJob, jobs_pb2.GetJobRequest(job_id=job)),
        (pool.jobs.ExplainJob, jobs_pb2.ExplainJobRequest(job_id=job)),
    ):
        with pytest.raises(grpc.RpcError) as err:
            rpc(request, metadata=b)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        pool.jobs.ListJobs(jobs_pb2.ListJobsRequest(department="dept-a"), metadata=b)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert pool.jobs.ListJobs(jobs_pb2.ListJobsRequest(), metadata=b).jobs == []
    ops = md(world.tokens[OPERATOR])
    assert pool.jobs.GetJob(jobs_pb2.GetJobRequest(job_id=job), metadata=ops).job_id == job
    listed = pool.jobs.ListJobs(jobs_pb2.ListJobsRequest(), metadata=ops).jobs
    assert [j.job_id for j in listed] == [job]
    only_b = pool.jobs.ListJobs(jobs_pb2.ListJobsRequest(department="dept-b"), metadata=ops)
    assert list(only_b.jobs) == []
    events = pool.jobs.WatchEvents(jobs_pb2.WatchEventsRequest(), metadata=ops, timeout=10)
    assert {e.job_id for e in events} == {job}
