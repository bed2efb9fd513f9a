"""The audit trail on a real server: every mutating rpc leaves exactly one record with the
right principal, rpc, targets and outcome; denied calls leave one; reads and heartbeats none."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from protos.suanchou.v1 import (
    admin_pb2,
    agent_pb2,
    agent_pb2_grpc,
    audit_pb2,
    audit_pb2_grpc,
    governance_pb2,
    governance_pb2_grpc,
    jobs_pb2,
    security_pb2,
    security_pb2_grpc,
    types_pb2,
)
from scheduler.api.authz import RULES
from tests.integration.conftest import Pool, md, node, py_job

PREFIX = "/suanchou.v1."


@pytest.fixture(params=["pool", "pg_pool"])
def any_pool(request: pytest.FixtureRequest) -> Pool:
    """The scheduler on SQLite and on PostgreSQL (skipped without the test server)."""
    pool: Pool = request.getfixturevalue(request.param)
    return pool


class Trail:
    """Reads the records a step added, as the auditor does."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.auditor = md(pool.principal("aud", "auditor"))
        self.stub = audit_pb2_grpc.AuditServiceStub(pool.channel)
        self.seen = self._last()
        self.covered: set[str] = set()

    def _all(self) -> list[audit_pb2.AuditRecord]:
        stream = self.stub.ExportAuditRecords(
            audit_pb2.ExportAuditRecordsRequest(), metadata=self.auditor, timeout=20
        )
        return list(stream)

    def _last(self) -> int:
        records = self._all()
        return records[-1].seq if records else 0

    def new(self) -> list[audit_pb2.AuditRecord]:
        added = [r for r in self._all() if r.seq > self.seen]
        if added:
            self.seen = added[-1].seq
        return added

    def one(
        self, step: Callable[[], Any], rpc: str, principal: str, outcome: str = "OK"
    ) -> audit_pb2.AuditRecord:
        """Runs `step` and returns the single record it left, checking who, what and result."""
        try:
            step()
        except grpc.RpcError as exc:
            assert exc.code().name == outcome, exc.details()
        added = self.new()
        assert len(added) == 1, [(r.rpc, r.outcome) for r in added]
        [record] = added
        assert record.rpc == PREFIX + rpc and record.principal == principal, record
        assert record.outcome == outcome and record.request_id and record.peer, record
        if outcome == "OK":
            self.covered.add(PREFIX + rpc)
        return record


def sync_request(*names: str) -> agent_pb2.SyncRequest:
    nodes = [
        agent_pb2.NodeReport(name=n, capacity=types_pb2.Resources(quantities={"cpu": 4000}))
        for n in names
    ]
    return agent_pb2.SyncRequest(agent_id="audit-test", nodes=nodes)


def test_every_mutating_rpc_leaves_exactly_one_record(any_pool: Pool) -> None:
    """Each mutation (and only it) appends one record naming the caller and the targets; a
    heartbeat-only Sync and reads append none."""
    pool = any_pool
    trail = Trail(pool)
    admin, sec = md(pool.admin_token), md(pool.principal("sec", "security-admin"))
    trail.new()  # the auditor's and security-admin's own creation
    principals = security_pb2_grpc.PrincipalServiceStub(pool.channel)
    tokens = security_pb2_grpc.TokenServiceStub(pool.channel)
    sync = agent_pb2_grpc.AgentServiceStub(pool.channel).Sync

    made = trail.one(
        lambda: pool.department("公安局"), "DepartmentService/CreateDepartment", "admin"
    )
    assert made.role == "admin" and made.targets[0] == "公安局"
    assert made.targets[1].startswith("tok_")
    classes = governance_pb2_grpc.PriorityClassServiceStub(pool.channel)
    record = trail.one(
        lambda: classes.CreatePriorityClass(
            governance_pb2.CreatePriorityClassRequest(
                priority_class=governance_pb2.PriorityClass(name="urgent", value=900)
            ),
            metadata=admin,
        ),
        "PriorityClassService/CreatePriorityClass",
        "admin",
    )
    assert list(record.targets) == ["urgent"]
    record = trail.one(
        lambda: pool.departments.SetDepartmentPriorityClasses(
            admin_pb2.SetDepartmentPriorityClassesRequest(
                department="公安局", priority_classes=["urgent"]
            ),
            metadata=admin,
        ),
        "DepartmentService/SetDepartmentPriorityClasses",
        "admin",
    )
    assert list(record.targets) == ["公安局"]
    record = trail.one(
        lambda: pool.departments.SetDepartmentFairShareWeight(
            admin_pb2.SetDepartmentFairShareWeightRequest(department="公安局", weight=2),
            metadata=admin,
        ),
        "DepartmentService/SetDepartmentFairShareWeight",
        "admin",
    )
    assert list(record.targets) == ["公安局"]
    quota = governance_pb2.ResourceQuota(resource="cpu", nominal=4000)
    record = trail.one(
        lambda: pool.departments.SetQuota(
            admin_pb2.SetQuotaRequest(department="公安局", quotas=[quota]), metadata=admin
        ),
        "DepartmentService/SetQuota",
        "admin",
    )
    assert list(record.targets) == ["公安局"]
    pool.departments.GetDepartment(admin_pb2.GetDepartmentRequest(name="公安局"), metadata=admin)
    assert trail.new() == []  # reads are not recorded
    agent: dict[str, str] = {}
    record = trail.one(
        lambda: agent.update(token=pool.cluster("gov-a", [node("n")], start_agent=False)),
        "ClusterService/RegisterCluster",
        "admin",
    )
    assert record.targets[0] == "gov-a"
    record = trail.one(lambda: sync(sync_request("n1"), metadata=md(agent["token"])),
                       "AgentService/Sync", "gov-a")  # fmt: skip
    assert record.role == "agent" and list(record.targets) == ["gov-a"]
    sync(sync_request("n1"), metadata=md(agent["token"]))
    assert trail.new() == []  # a heartbeat changes nothing and is not recorded

    submitted: dict[str, str] = {}

    def submit() -> None:
        [result] = pool.submit("公安局", py_job("audited", "pass"))
        submitted["job"] = result.job_id

    record = trail.one(submit, "JobService/SubmitJobs", "公安局")
    assert record.role == "department" and list(record.targets) == [submitted["job"]]
    dept = md(pool.tokens["公安局"])
    pool.jobs.ListJobs(jobs_pb2.ListJobsRequest(), metadata=dept)
    assert trail.new() == []  # reads are not recorded
    queued: dict[str, str] = {}

    def submit_queued() -> None:
        # cpu only, as the one node reported above: it is accepted and stays unfinished.
        spec = types_pb2.JobSpec(
            client_id="to-update",
            resources=types_pb2.Resources(quantities={"cpu": 500}),
            command=["true"],
        )
        [result] = pool.submit("公安局", spec)
        queued["job"] = result.job_id

    trail.one(submit_queued, "JobService/SubmitJobs", "公安局")
    record = trail.one(
        lambda: pool.jobs.UpdateJob(
            jobs_pb2.UpdateJobRequest(job_id=queued["job"], max_runtime_seconds=60),
            metadata=dept,
        ),
        "JobService/UpdateJob",
        "公安局",
    )
    assert list(record.targets) == [queued["job"]]
    trail.one(
        lambda: pool.jobs.CancelJobs(
            jobs_pb2.CancelJobsRequest(job_ids=[queued["job"]]), metadata=dept
        ),
        "JobService/CancelJobs",
        "公安局",
    )  # its cluster is deregistered below: no run may stay active there
    record = trail.one(
        lambda: pool.jobs.CancelJobs(
            jobs_pb2.CancelJobsRequest(job_ids=[submitted["job"]]), metadata=dept
        ),
        "JobService/CancelJobs",
        "公安局",
    )
    assert list(record.targets) == [submitted["job"]]
    for rpc, call in (
        ("CordonCluster", pool.clusters.CordonCluster),
        ("UncordonCluster", pool.clusters.UncordonCluster),
    ):
        request = getattr(admin_pb2, f"{rpc}Request")(name="gov-a")
        record = trail.one(lambda c=call, r=request: c(r, metadata=admin),
                           f"ClusterService/{rpc}", "admin")  # fmt: skip
        assert list(record.targets) == ["gov-a"]

    created: dict[str, Any] = {}
    record = trail.one(
        lambda: created.update(
            reply=principals.CreatePrincipal(
                security_pb2.CreatePrincipalRequest(name="ops", role="operator"), metadata=sec
            )
        ),
        "PrincipalService/CreatePrincipal",
        "sec",
    )
    first = created["reply"].token_info.token_id
    assert list(record.targets) == ["ops", first] and record.role == "security-admin"
    issued = {}
    record = trail.one(
        lambda: issued.update(
            reply=tokens.IssueToken(
                security_pb2.IssueTokenRequest(kind="operator", principal="ops"), metadata=sec
            )
        ),
        "TokenService/IssueToken",
        "sec",
    )
    assert list(record.targets) == ["ops", issued["reply"].token_info.token_id]
    rotated = {}
    record = trail.one(
        lambda: rotated.update(
            reply=tokens.RotateToken(security_pb2.RotateTokenRequest(token_id=first), metadata=sec)
        ),
        "TokenService/RotateToken",
        "sec",
    )
    assert list(record.targets) == [first, rotated["reply"].token_info.token_id, "ops"]
    record = trail.one(
        lambda: tokens.RevokeToken(
            security_pb2.RevokeTokenRequest(token_id=issued["reply"].token_info.token_id),
            metadata=sec,
        ),
        "TokenService/RevokeToken",
        "sec",
    )
    assert record.targets[0] == issued["reply"].token_info.token_id
    record = trail.one(
        lambda: pool.clusters.DeregisterCluster(
            admin_pb2.DeregisterClusterRequest(name="gov-a"), metadata=admin
        ),
        "ClusterService/DeregisterCluster",
        "admin",
    )
    assert list(record.targets) == ["gov-a"]
    # Every rpc the server audits as a mutation was exercised above.
    assert trail.covered == {m for m, rule in RULES.items() if rule.mutating}


def test_failed_and_denied_calls_leave_one_record(any_pool: Pool) -> None:
    """A refused mutation records its status code; a wrong-role call records the caller with
    PERMISSION_DENIED; an unknown token records UNAUTHENTICATED with no principal."""
    pool = any_pool
    trail = Trail(pool)
    pool.department("公安局")
    trail.new()
    record = trail.one(
        lambda: pool.department("公安局"),
        "DepartmentService/CreateDepartment",
        "admin",
        outcome="ALREADY_EXISTS",
    )
    assert "already exists" in record.message and record.targets[0] == "公安局"
    dept = md(pool.tokens["公安局"])
    record = trail.one(
        lambda: pool.clusters.GetCluster(admin_pb2.GetClusterRequest(name="gov-x"), metadata=dept),
        "ClusterService/GetCluster",
        "公安局",
        outcome="PERMISSION_DENIED",
    )
    assert record.role == "department" and list(record.targets) == ["gov-x"]
    record = trail.one(
        lambda: pool.jobs.ListJobs(jobs_pb2.ListJobsRequest(), metadata=md("scd_guess")),
        "JobService/ListJobs",
        "",
        outcome="UNAUTHENTICATED",
    )
    assert record.role == ""
    record = trail.one(
        lambda: pool.jobs.ListJobs(jobs_pb2.ListJobsRequest(department="other"), metadata=dept),
        "JobService/ListJobs",
        "公安局",
        outcome="PERMISSION_DENIED",
    )
    check = trail.stub.VerifyAuditChain(audit_pb2.VerifyAuditChainRequest(), metadata=trail.auditor)
    assert check.ok and check.checked == trail.seen, check.message


@pytest.mark.parametrize("page_size", [2])
def test_audit_listing_filters_and_pages(pool: Pool, page_size: int) -> None:
    """ListAuditRecords filters by principal and target and pages through the result."""
    trail = Trail(pool)
    for name in ("公安局", "交通局", "民政局"):
        pool.department(name)
    seen: list[int] = []
    token = ""
    while True:
        page = trail.stub.ListAuditRecords(
            audit_pb2.ListAuditRecordsRequest(
                principal="admin", page_size=page_size, page_token=token
            ),
            metadata=trail.auditor,
        )
        seen.extend(r.seq for r in page.records)
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == 3 and seen == sorted(seen)  # principals were created by bootstrap
    only = trail.stub.ListAuditRecords(
        audit_pb2.ListAuditRecordsRequest(target="交通局"), metadata=trail.auditor
    )
    assert [r.targets[0] for r in only.records] == ["交通局"]
    with pytest.raises(grpc.RpcError) as err:
        trail.stub.ListAuditRecords(
            audit_pb2.ListAuditRecordsRequest(page_token="forged"), metadata=trail.auditor
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_change_commits_only_with_its_record(pool: Pool, tmp_path: Path) -> None:
    """The record is written in the transaction of the change: when it cannot be appended, the
    change is rolled back too."""
    db = sqlite3.connect(tmp_path / "suanchou.db")
    with db:
        db.execute("DELETE FROM audit_head")  # appends now fail
    db.close()
    with pytest.raises(grpc.RpcError) as err:
        pool.department("公安局")
    assert err.value.code() == grpc.StatusCode.INTERNAL
    listed = pool.departments.ListDepartments(
        admin_pb2.ListDepartmentsRequest(), metadata=md(pool.admin_token)
    )
    assert list(listed.departments) == []
