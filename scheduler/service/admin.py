"""Admin use cases: departments and clusters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from scheduler.domain.errors import FailedPrecondition, InvalidSpec, NotFound, quote
from scheduler.domain.models import ClusterSpec, Department
from scheduler.domain.quotas import validate_department_path
from scheduler.domain.security import Principal, Role
from scheduler.domain.states import ClusterState
from scheduler.domain.validation import validate_cluster_spec
from scheduler.service import audit
from scheduler.service.clock import Clock
from scheduler.service.liveness import Liveness
from scheduler.service.settings import SchedulerSettings
from scheduler.service.tokens import issue_token
from scheduler.service.views import (
    ClusterView,
    allocated_by_node,
    cluster_view,
    effective_state,
)
from scheduler.state import Store, Tx


@dataclass(frozen=True)
class Deregistered:
    removed: bool
    view: ClusterView


class AdminService:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        settings: SchedulerSettings,
        started_at: datetime,
        liveness: Liveness | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._settings = settings
        self._started_at = started_at
        self._liveness = liveness or Liveness()

    def create_department(
        self, name: str, display_name: str, parent: str = ""
    ) -> tuple[Department, str]:
        """Returns the department and its token, which is not stored and cannot be shown again.

        Under a parent the name is a path (`交通局/信号处`, see scheduler.domain.quotas); the
        parent must exist, and the tree is at most MAX_DEPTH deep.
        """
        parent = validate_department_path(name, parent)
        if len(display_name) > 256:
            raise InvalidSpec("at most 256 characters", field="display_name")
        with self._store.unit() as tx:
            if parent and not tx.departments.exists(parent):
                raise NotFound(f"department {quote(parent)} not found", field="parent")
            now = self._clock.now()
            dept = tx.departments.create(name, display_name, now, parent)
            token, info = issue_token(tx, Principal(Role.DEPARTMENT, name), now, audit.actor())
            audit.add_targets(info.token_id)
        return dept, token

    def list_departments(self, *, after: str | None = None, limit: int = 100) -> list[Department]:
        """Departments by name, from after `after` (a page), at most `limit`."""
        with self._store.unit(write=False) as tx:
            return tx.departments.page(after, limit)

    def register_cluster(self, spec: ClusterSpec) -> tuple[ClusterView, str]:
        validate_cluster_spec(spec)
        with self._store.unit() as tx:
            now = self._clock.now()
            tx.clusters.create(spec, now)
            token, info = issue_token(tx, Principal(Role.AGENT, spec.name), now, audit.actor())
            audit.add_targets(info.token_id)
            view = self._view(tx, spec.name)
        return view, token

    def get_cluster(self, name: str) -> ClusterView:
        with self._store.unit(write=False) as tx:
            return self._view(tx, name)

    def list_clusters(self, *, after: str | None = None, limit: int = 100) -> list[ClusterView]:
        """Clusters by name, from after `after` (a page), at most `limit`."""
        with self._store.unit(write=False) as tx:
            return [self._view(tx, c.name) for c in tx.clusters.page(after, limit)]

    def cordon(self, name: str) -> ClusterView:
        return self._set_state(name, ClusterState.CORDONED)

    def uncordon(self, name: str) -> ClusterView:
        return self._set_state(name, ClusterState.ACTIVE)

    def deregister(self, name: str, drain: bool) -> Deregistered:
        with self._store.unit() as tx:
            view = self._view(tx, name)
            if view.active_runs == 0:
                tx.clusters.delete(name)
                # The agent of a removed cluster is refused from its next call on.
                tx.tokens.revoke_all(Principal(Role.AGENT, name), self._clock.now())
                return Deregistered(True, view)
            if not drain:
                raise FailedPrecondition(
                    f"cluster {quote(name)} has {view.active_runs} active runs; "
                    "cordon it and wait, or deregister with drain",
                    field="name",
                )
            tx.clusters.set_state(name, ClusterState.DRAINING)
            return Deregistered(False, self._view(tx, name))

    def _set_state(self, name: str, state: ClusterState) -> ClusterView:
        with self._store.unit() as tx:
            current = tx.clusters.get(name)
            if current.state is ClusterState.DRAINING:
                raise FailedPrecondition(
                    f"cluster {quote(name)} is draining for removal", field="name"
                )
            tx.clusters.set_state(name, state)
            return self._view(tx, name)

    def _view(self, tx: Tx, name: str) -> ClusterView:
        cluster = tx.clusters.get(name)
        runs = tx.runs.active(cluster=name)
        jobs = tx.jobs.get_many(r.job_id for r in runs)
        state = effective_state(
            cluster,
            self._clock.now(),
            self._settings.lease_timeout_s,
            self._started_at,
            self._liveness.last(name),
        )
        return cluster_view(
            cluster, state, tx.clusters.nodes(name), allocated_by_node(runs, jobs), len(runs)
        )
