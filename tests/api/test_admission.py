"""Concurrency budgets: no class of caller, and no single caller, can take every worker."""

from __future__ import annotations

import threading
from contextlib import ExitStack

import pytest

from scheduler.api.admission import (
    ADMIN,
    AGENTS,
    JOBS,
    WATCH,
    Admission,
    Budget,
    budgets_for,
    kind_of,
)
from scheduler.domain.errors import Overloaded


def test_methods_map_to_their_budget_class() -> None:
    """Watches, job calls, agent syncs and admin calls are budgeted apart."""
    assert kind_of("/suanchou.v1.JobService/WatchEvents") == WATCH
    assert kind_of("/suanchou.v1.JobService/ReadLogs") == WATCH
    assert kind_of("/suanchou.v1.JobService/SubmitJobs") == JOBS
    assert kind_of("/suanchou.v1.AgentService/Sync") == AGENTS
    assert kind_of("/suanchou.v1.ClusterService/ListClusters") == ADMIN
    # Reads open to departments count with job calls, not against the admins' budget.
    assert kind_of("/suanchou.v1.DepartmentService/GetDepartment") == JOBS
    assert kind_of("/suanchou.v1.PriorityClassService/ListPriorityClasses") == JOBS
    assert kind_of("/suanchou.v1.DepartmentService/SetQuota") == ADMIN


def test_agents_keep_a_reserve_the_others_cannot_take() -> None:
    """With every other class at its budget, a quarter of the pool is still free for agents."""
    budgets = budgets_for(64)
    others = budgets[JOBS].total + budgets[WATCH].total + budgets[ADMIN].total
    assert 64 - others >= 16
    with pytest.raises(ValueError):
        budgets_for(4)


def test_one_caller_cannot_starve_another() -> None:
    """A department at its per-caller limit is refused; another department is still admitted."""
    admission = Admission({JOBS: Budget(total=4, per_caller=2)}, wait_s=0.05)
    with ExitStack() as held:
        for _ in range(2):
            held.enter_context(admission.admit(JOBS, "department:a"))
        with pytest.raises(Overloaded, match="at most 4, 2 per caller"):
            held.enter_context(admission.admit(JOBS, "department:a"))
        held.enter_context(admission.admit(JOBS, "department:b"))
        held.enter_context(admission.admit(JOBS, "department:c"))
        with pytest.raises(Overloaded):
            held.enter_context(admission.admit(JOBS, "department:d"))
    # Everything released: the budget is whole again.
    with admission.admit(JOBS, "department:a"), admission.admit(JOBS, "department:a"):
        pass


def test_a_waiting_call_gets_the_slot_freed_while_it_waits() -> None:
    """A call over budget waits for a slot rather than failing at once."""
    admission = Admission({JOBS: Budget(total=1, per_caller=1)}, wait_s=10)
    entered = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with admission.admit(JOBS, "department:a"):
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    assert entered.wait(10)
    threading.Timer(0.1, release.set).start()
    with admission.admit(JOBS, "department:b"):
        assert release.is_set()
    thread.join(10)
