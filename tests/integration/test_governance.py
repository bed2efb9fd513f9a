"""Departments, quotas and priority classes through a real server: the tree, usage and
borrowed computed from running jobs, and department isolation (a department sees its own
subtree's quota and usage; an operator sees all)."""

from __future__ import annotations

import grpc
import pytest

from protos.suanchou.v1 import (
    admin_pb2,
    governance_pb2,
    governance_pb2_grpc,
    jobs_pb2,
    types_pb2,
)
from tests.integration.conftest import Pool, md, node, py_job

SLEEP = "import time; time.sleep(120)"


def _create(pool: Pool, name: str, parent: str = "") -> str:
    reply = pool.departments.CreateDepartment(
        admin_pb2.CreateDepartmentRequest(name=name, display_name=name, parent=parent),
        metadata=md(pool.admin_token),
    )
    pool.tokens[name] = reply.token
    assert reply.department.parent == parent
    return reply.token


def _refused(call: object, code: grpc.StatusCode) -> str:
    """Runs `call` and returns the status details of its expected failure."""
    with pytest.raises(grpc.RpcError) as err:
        call()  # type: ignore[operator]
    assert err.value.code() == code, err.value.details()
    return str(err.value.details())


def _quota(resource: str, nominal: int, **limits: int) -> governance_pb2.ResourceQuota:
    return governance_pb2.ResourceQuota(resource=resource, nominal=nominal, **limits)


def test_department_tree_and_who_reads_what(pool: Pool) -> None:
    """Children are created under existing parents by path name; a department token reads
    itself and its descendants and gets NOT_FOUND for its parent and siblings; the operator
    reads every department."""
    admin = md(pool.admin_token)
    _create(pool, "交通局")
    _create(pool, "交通局/信号处", "交通局")
    _create(pool, "交通局/路政处", "交通局")
    details = _refused(lambda: _create(pool, "民政局/救助站", "民政局"), grpc.StatusCode.NOT_FOUND)
    assert "parent" in details and "民政局" in details
    details = _refused(lambda: _create(pool, "信号处", "交通局"), grpc.StatusCode.INVALID_ARGUMENT)
    assert details.startswith("name:")
    # Without --parent the parent is read off the path; four levels at most.
    reply = pool.departments.CreateDepartment(
        admin_pb2.CreateDepartmentRequest(name="交通局/信号处/一科"), metadata=admin
    )
    assert reply.department.parent == "交通局/信号处"
    _create(pool, "交通局/信号处/一科/甲", "交通局/信号处/一科")
    details = _refused(
        lambda: _create(pool, "交通局/信号处/一科/甲/子", "交通局/信号处/一科/甲"),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert details.startswith("name:") and "at most 4" in details
    listed = pool.departments.ListDepartments(admin_pb2.ListDepartmentsRequest(), metadata=admin)
    assert {d.name: d.parent for d in listed.departments}["交通局/路政处"] == "交通局"

    def get(token: str, name: str) -> admin_pb2.Department:
        return pool.departments.GetDepartment(
            admin_pb2.GetDepartmentRequest(name=name), metadata=md(token)
        )

    bureau = pool.tokens["交通局"]
    signals = pool.tokens["交通局/信号处"]
    assert get(bureau, "交通局/信号处").parent == "交通局"
    assert get(signals, "交通局/信号处").name == "交通局/信号处"
    for name in ("交通局", "交通局/路政处", "no-such"):
        _refused(lambda n=name: get(signals, n), grpc.StatusCode.NOT_FOUND)
    operator = pool.principal("ops", "operator")
    assert get(operator, "交通局/路政处").name == "交通局/路政处"


def test_quotas_usage_and_borrowed(pool: Pool) -> None:
    """An admin sets quota triples per cluster group; a running job's replicas show as
    usage in its department and its parent, above nominal as borrowed; children's nominal
    may not exceed the parent's; only admins write and the department reads its own."""
    admin = md(pool.admin_token)
    pool.cluster("xc-a", [node("n1", cpu=8)], xinchuang=True, labels={"gpu": "none"})
    _create(pool, "交通局")
    _create(pool, "交通局/信号处", "交通局")
    set_quota = pool.departments.SetQuota
    reply = set_quota(
        admin_pb2.SetQuotaRequest(
            department="交通局",
            cluster_selector={"xinchuang": "true"},
            quotas=[_quota("cpu", 2000, borrowing_limit=1000, lending_limit=500)],
        ),
        metadata=admin,
    )
    [group] = reply.quotas
    assert dict(group.cluster_selector) == {"xinchuang": "true"}
    assert group.resources[0].borrowing_limit == 1000 and group.resources[0].lending_limit == 500
    set_quota(
        admin_pb2.SetQuotaRequest(department="交通局", quotas=[_quota("cpu", 4000)]),
        metadata=admin,
    )
    details = _refused(
        lambda: set_quota(
            admin_pb2.SetQuotaRequest(
                department="交通局/信号处",
                cluster_selector={"xinchuang": "true"},
                quotas=[_quota("memory", 0), _quota("cpu", 2500)],
            ),
            metadata=admin,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert details.startswith("quotas[1].nominal:") and "'交通局'" in details
    set_quota(
        admin_pb2.SetQuotaRequest(
            department="交通局/信号处",
            cluster_selector={"xinchuang": "true"},
            quotas=[_quota("cpu", 1000)],
        ),
        metadata=admin,
    )
    # Two replicas of 1.5 cores each: 3 cores against the child's nominal of 1.
    [result] = pool.submit("交通局/信号处", py_job("busy", SLEEP, cpu=1500, replicas=2))
    pool.wait_state("交通局/信号处", result.job_id, {types_pb2.JOB_STATE_RUNNING}, timeout=60)

    child = pool.departments.GetDepartment(
        admin_pb2.GetDepartmentRequest(name="交通局/信号处"),
        metadata=md(pool.tokens["交通局/信号处"]),
    )
    [cpu] = child.quotas[0].resources
    assert (cpu.nominal, cpu.used, cpu.borrowed) == (1000, 3000, 2000)
    assert dict(child.usage.quantities) == {"cpu": 3000, "memory": 256}
    parent = pool.departments.GetDepartment(
        admin_pb2.GetDepartmentRequest(name="交通局"), metadata=md(pool.tokens["交通局"])
    )
    whole, xinchuang = (
        (dict(g.cluster_selector), g.resources[0].used, g.resources[0].borrowed)
        for g in parent.quotas
    )
    assert whole == ({}, 3000, 0)  # the whole pool's group comes first
    assert xinchuang == ({"xinchuang": "true"}, 3000, 1000)
    _refused(
        lambda: set_quota(
            admin_pb2.SetQuotaRequest(department="交通局", quotas=[]),
            metadata=md(pool.tokens["交通局"]),
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    pool.jobs.CancelJobs(
        jobs_pb2.CancelJobsRequest(job_ids=[result.job_id]),
        metadata=md(pool.tokens["交通局/信号处"]),
    )


def test_priority_classes_set_job_priority_for_allowed_departments(pool: Pool) -> None:
    """Admins define classes that every department may list; a job naming an allowed class
    gets its value as priority and keeps the class; an unknown class is INVALID_ARGUMENT and
    a class not allowed PERMISSION_DENIED, both on priority_class; once classes exist a bare
    non-zero priority is INVALID_ARGUMENT on priority."""
    admin = md(pool.admin_token)
    classes = governance_pb2_grpc.PriorityClassServiceStub(pool.channel)
    classes.CreatePriorityClass(
        governance_pb2.CreatePriorityClassRequest(
            priority_class=governance_pb2.PriorityClass(
                name="urgent", value=900, may_preempt=True, description="应急"
            )
        ),
        metadata=admin,
    )
    classes.CreatePriorityClass(
        governance_pb2.CreatePriorityClassRequest(
            priority_class=governance_pb2.PriorityClass(name="batch", value=10, preemptible=True)
        ),
        metadata=admin,
    )
    details = _refused(
        lambda: classes.CreatePriorityClass(
            governance_pb2.CreatePriorityClassRequest(
                priority_class=governance_pb2.PriorityClass(name="x", value=1001)
            ),
            metadata=admin,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert details.startswith("value:")
    _create(pool, "公安局")
    dept = md(pool.tokens["公安局"])
    listed = classes.ListPriorityClasses(governance_pb2.ListPriorityClassesRequest(), metadata=dept)
    assert [(c.name, c.value, c.preemptible) for c in listed.priority_classes] == [
        ("batch", 10, True),
        ("urgent", 900, False),
    ]
    allowed = pool.departments.SetDepartmentPriorityClasses(
        admin_pb2.SetDepartmentPriorityClassesRequest(
            department="公安局", priority_classes=["batch"]
        ),
        metadata=admin,
    )
    assert list(allowed.priority_classes) == ["batch"]
    ok, denied, unknown, contradicting, bare = pool.submit(
        "公安局",
        py_job("ok", "pass", priority_class="batch"),
        py_job("denied", "pass", priority_class="urgent"),
        py_job("unknown", "pass", priority_class="nope"),
        py_job("both", "pass", priority_class="batch", priority=500),
        py_job("bare", "pass", priority=500),
    )
    job = pool.get("公安局", ok.job_id)
    assert (job.spec.priority, job.spec.priority_class) == (10, "batch")
    assert (denied.error.code, denied.error.field) == ("PERMISSION_DENIED", "priority_class")
    assert (unknown.error.code, unknown.error.field) == ("INVALID_ARGUMENT", "priority_class")
    assert (contradicting.error.code, contradicting.error.field) == ("INVALID_ARGUMENT", "priority")
    assert (bare.error.code, bare.error.field) == ("INVALID_ARGUMENT", "priority")
    assert "is 500 without a priority_class" in bare.error.message
    [again] = pool.submit("公安局", py_job("ok", "pass", priority_class="batch"))
    assert again.duplicate and again.job_id == ok.job_id
