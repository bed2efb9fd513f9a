"""A scheduler's use cases wired on a real SQLite file with a manual clock."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from scheduler.domain.models import ClusterSpec, JobSpec, Node
from scheduler.service.admin import AdminService
from scheduler.service.agent_sync import AgentSyncService, RunReport, SyncReply
from scheduler.service.clock import ManualClock
from scheduler.service.cycle import SchedulingCycle
from scheduler.service.jobs import JobsService
from scheduler.service.liveness import Liveness
from scheduler.service.settings import SchedulerSettings
from scheduler.state import Store


@dataclass
class Pool:
    store: Store
    clock: ManualClock
    settings: SchedulerSettings
    admin: AdminService
    jobs: JobsService
    agents: AgentSyncService
    cycle: SchedulingCycle
    liveness: Liveness

    def cluster(self, name: str, nodes: list[Node], **spec: object) -> None:
        base: dict[str, object] = {"region": "hz", "security_level": 2}
        base.update(spec)
        self.admin.register_cluster(ClusterSpec(name=name, **base))  # type: ignore[arg-type]
        self.agents.sync(name, f"agent-{name}", nodes, [])

    def sync(self, cluster: str, reports: list[RunReport] | None = None) -> SyncReply:
        nodes = [n for n in self._nodes(cluster)]
        return self.agents.sync(cluster, f"agent-{cluster}", nodes, reports or [])

    def _nodes(self, cluster: str) -> list[Node]:
        with self.store.unit(write=False) as tx:
            return tx.clusters.nodes(cluster)

    def submit(self, *specs: JobSpec, department: str = "公安局") -> list[str]:
        out = self.jobs.submit(department, list(specs))
        return [o.job_id for o in out]


def node(cluster: str, name: str, cpu: int = 4000, memory: int = 8192, **labels: str) -> Node:
    return Node(cluster, name, {"cpu": cpu, "memory": memory}, labels)


def spec(client_id: str, cpu: int = 1000, replicas: int = 1, **kw: object) -> JobSpec:
    return JobSpec(
        client_id=client_id,
        command=("true",),
        resources={"cpu": cpu, "memory": 256},
        replicas=replicas,
        **kw,
    )  # type: ignore[arg-type]


@pytest.fixture
def pool(store: Store, clock: ManualClock) -> Pool:
    return build_pool(store, clock)


def build_pool(store: Store, clock: ManualClock, **settings: object) -> Pool:
    """The use cases on `store` with the test settings, changed by `settings`."""
    base = SchedulerSettings(
        lease_timeout_s=10, sync_interval_s=1, max_attempts=2, solver_time_limit_s=1.0
    )
    settings_ = replace(base, **settings)  # type: ignore[arg-type]
    started = clock.now()
    liveness = Liveness()
    p = Pool(
        store=store,
        clock=clock,
        settings=settings_,
        admin=AdminService(store, clock, settings_, started, liveness),
        jobs=JobsService(store, clock, settings_),
        agents=AgentSyncService(store, clock, settings_, liveness),
        cycle=SchedulingCycle(store, clock, settings_, started, liveness),
        liveness=liveness,
    )
    p.admin.create_department("公安局", "Public Security")
    p.admin.create_department("交通局", "Transport")
    return p
