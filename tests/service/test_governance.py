"""Governance use cases on a real store: the tree's quota bounds with hand-worked numbers,
usage from leased and running jobs, and priority-class resolution."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from scheduler.domain.errors import DomainError, InvalidSpec, NotFound, PermissionDenied
from scheduler.domain.models import Constraints, Job, JobSpec
from scheduler.domain.quotas import MAX_GROUPS, PriorityClass, ResourceQuota
from scheduler.domain.security import Principal, Role
from scheduler.domain.states import JobState, RunState
from scheduler.service.agent_sync import RunReport
from scheduler.service.clock import ManualClock
from scheduler.service.governance import GovernanceService, resolve_priority_class
from scheduler.state import Store
from tests.service.conftest import Pool, node, spec

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
Q = ResourceQuota
ADMIN = Principal(Role.ADMIN, "admin")


@pytest.fixture
def governance(store: Store) -> GovernanceService:
    with store.unit() as tx:
        tx.departments.create("交通局", "", NOW)
        for child in ("信号处", "路政处"):
            tx.departments.create(f"交通局/{child}", "", NOW, parent="交通局")
    return GovernanceService(store, ManualClock(NOW))


def test_siblings_share_the_parents_nominal(governance: GovernanceService) -> None:
    """Parent 64 cores; 信号处 40 fits; 路政处 24 fits exactly; raising 路政处 to 25 is refused
    and leaves its 24 in place; the parent cannot drop below the children's 64."""
    governance.set_quota("交通局", {}, [Q("cpu", 64000)])
    governance.set_quota("交通局/信号处", {}, [Q("cpu", 40000)])
    governance.set_quota("交通局/路政处", {}, [Q("cpu", 24000)])
    with pytest.raises(InvalidSpec) as err:
        governance.set_quota("交通局/路政处", {}, [Q("cpu", 25000)])
    assert err.value.field == "quotas[0].nominal" and "cpu=65" in err.value.message
    status = governance.get_department(ADMIN, "交通局/路政处")
    assert status.groups[0].resources[0].quota.nominal == 24000
    with pytest.raises(InvalidSpec) as err:
        governance.set_quota("交通局", {}, [Q("cpu", 63000)])
    assert "'交通局/信号处'" in err.value.message and "'交通局/路政处'" in err.value.message


def test_groups_bound_separately(governance: GovernanceService) -> None:
    """A parent's whole-pool quota does not bound a child's 信创 group: groups match exactly."""
    governance.set_quota("交通局", {}, [Q("cpu", 64000)])
    with pytest.raises(InvalidSpec):
        governance.set_quota("交通局/信号处", {"xinchuang": "true"}, [Q("cpu", 1000)])
    governance.set_quota("交通局", {"xinchuang": "true"}, [Q("cpu", 8000)])
    governance.set_quota("交通局/信号处", {"xinchuang": "true"}, [Q("cpu", 8000)])


def test_group_count_and_unknown_department_are_refused(governance: GovernanceService) -> None:
    """At most MAX_GROUPS groups per department; an unknown department is NOT_FOUND."""
    for i in range(MAX_GROUPS):
        governance.set_quota("交通局", {"g": str(i)}, [Q("cpu", 1)])
    governance.set_quota("交通局", {"g": "0"}, [Q("cpu", 2)])  # replacing one is fine
    with pytest.raises(InvalidSpec) as err:
        governance.set_quota("交通局", {"g": "new"}, [Q("cpu", 1)])
    assert err.value.field == "cluster_selector"
    with pytest.raises(NotFound) as nf:
        governance.set_quota("民政局", {}, [])
    assert nf.value.field == "department"


def test_usage_counts_replicas_of_holding_jobs_in_the_subtree(pool: Pool) -> None:
    """Through the real cycle: a RUNNING 2 x 4-core job of the child on a 信创 cluster and a
    LEASED 1-core job of the parent on another make the parent's 信创 group use 8 of nominal
    6 (2 borrowed) and its pool usage 9 cores; the child sees its own 8 only; a QUEUED job
    counts nowhere."""
    pool.admin.create_department("交通局/信号处", "", "交通局")
    governance = GovernanceService(pool.store, pool.clock)
    governance.set_quota("交通局", {"xinchuang": "true"}, [Q("cpu", 6000)])
    pool.cluster("xc", [node("xc", "n1", cpu=16000)], xinchuang=True)
    pool.cluster("x86", [node("x86", "n1", cpu=16000)], region="sh")
    pool.submit(
        spec("j1", cpu=4000, replicas=2, constraints=Constraints(xinchuang_required=True)),
        department="交通局/信号处",
    )
    pool.submit(spec("j2", constraints=Constraints(allowed_regions=("sh",))), department="交通局")
    assert pool.cycle.run_once().placed == 2
    runs = [lease.run.run_id for lease in pool.sync("xc").start]
    pool.sync("xc", [RunReport(r, RunState.RUNNING) for r in runs])
    pool.submit(spec("j3"), department="交通局")
    parent = governance.get_department(ADMIN, "交通局")
    [cpu] = parent.groups[0].resources
    assert (cpu.used, cpu.borrowed) == (8000, 2000)
    assert parent.usage == {"cpu": 9000, "memory": 768}
    child = governance.get_department(Principal(Role.DEPARTMENT, "交通局/信号处"), "交通局/信号处")
    assert child.usage == {"cpu": 8000, "memory": 512} and child.groups == ()


def test_departments_read_only_their_subtree(governance: GovernanceService) -> None:
    """The parent reads its child; the child gets NOT_FOUND for parent and sibling; the
    operator reads all."""
    bureau = Principal(Role.DEPARTMENT, "交通局")
    signals = Principal(Role.DEPARTMENT, "交通局/信号处")
    assert governance.get_department(bureau, "交通局/信号处").parent == "交通局"
    for name in ("交通局", "交通局/路政处"):
        with pytest.raises(NotFound):
            governance.get_department(signals, name)
    assert governance.get_department(Principal(Role.OPERATOR, "ops"), "交通局/路政处")


def test_concurrent_sibling_quotas_cannot_both_overfill_the_parent(
    governance: GovernanceService,
) -> None:
    """Two siblings each asking 40 of the parent's 64 cores at once: exactly one succeeds."""
    governance.set_quota("交通局", {}, [Q("cpu", 64000)])
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def ask(name: str) -> None:
        barrier.wait()
        try:
            governance.set_quota(name, {}, [Q("cpu", 40000)])
            outcomes.append("ok")
        except DomainError as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=ask, args=(f"交通局/{c}",)) for c in ("信号处", "路政处")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["InvalidSpec", "ok"]


def test_a_bare_priority_only_before_any_class_exists(
    store: Store, governance: GovernanceService
) -> None:
    """Before an admin defines a class a bare priority is the only one and passes; after,
    a bare non-zero one is INVALID_ARGUMENT on priority (it would outrank the classes the
    department is allowed), priority 0 still passes, and a resubmit of a job accepted with a
    bare priority resolves as it did."""
    bare = JobSpec("c", ("true",), {"cpu": 1}, priority=1000)
    with store.unit(write=False) as tx:
        assert resolve_priority_class(tx, "交通局", bare) is bare
    governance.create_priority_class(PriorityClass("batch", 10, True, False))
    governance.set_priority_classes("交通局", ["batch"])
    with store.unit(write=False) as tx:
        with pytest.raises(InvalidSpec) as err:
            resolve_priority_class(tx, "交通局", bare)
        assert err.value.field == "priority"
        assert "1000" in str(err.value) and "priority_class" in str(err.value)
        plain = JobSpec("c", ("true",), {"cpu": 1})
        assert resolve_priority_class(tx, "交通局", plain) is plain
        earlier = Job("j1", "交通局", bare, JobState.QUEUED, NOW, NOW, seq=1)
        assert resolve_priority_class(tx, "交通局", bare, earlier) is bare


def test_priority_class_resolution(store: Store, governance: GovernanceService) -> None:
    """An allowed class sets the priority; a disallowed one is PERMISSION_DENIED, an unknown
    one INVALID_ARGUMENT, a contradicting bare priority INVALID_ARGUMENT on priority."""
    governance.create_priority_class(PriorityClass("urgent", 900, False, True))
    governance.create_priority_class(PriorityClass("batch", 10, True, False))
    governance.set_priority_classes("交通局", ["urgent"])
    with pytest.raises(NotFound) as nf:
        governance.set_priority_classes("交通局", ["urgent", "nope"])
    assert nf.value.field == "priority_classes[1]"
    base = JobSpec("c", ("true",), {"cpu": 1})
    with store.unit(write=False) as tx:
        assert resolve_priority_class(tx, "交通局", base) is base
        resolved = resolve_priority_class(
            tx, "交通局", JobSpec("c", ("true",), {"cpu": 1}, priority_class="urgent")
        )
        assert resolved.priority == 900
        for spec, error, field in (
            (
                JobSpec("c", ("t",), {"cpu": 1}, priority_class="batch"),
                PermissionDenied,
                "priority_class",
            ),
            (
                JobSpec("c", ("t",), {"cpu": 1}, priority_class="nope"),
                InvalidSpec,
                "priority_class",
            ),
            (
                JobSpec("c", ("t",), {"cpu": 1}, priority=5, priority_class="urgent"),
                InvalidSpec,
                "priority",
            ),
        ):
            with pytest.raises(error) as err:
                resolve_priority_class(tx, "交通局", spec)
            assert err.value.field == field


def test_a_resubmit_resolves_as_its_first_submit(
    store: Store, governance: GovernanceService
) -> None:
    """After a class is withdrawn from the department, resubmitting a job that named it
    resolves to the first submit's priority (the same job), while a new job is refused."""
    governance.create_priority_class(PriorityClass("urgent", 900, False, True))
    spec = JobSpec("c", ("true",), {"cpu": 1}, priority_class="urgent")
    first = Job("j", "交通局", replace(spec, priority=900), JobState.QUEUED, NOW, NOW)
    with store.unit(write=False) as tx:
        assert resolve_priority_class(tx, "交通局", spec, first).priority == 900
        with pytest.raises(PermissionDenied):
            resolve_priority_class(tx, "交通局", spec)
