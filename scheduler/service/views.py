"""Read models the use cases return: domain objects joined with live usage."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from scheduler.domain.errors import quote
from scheduler.domain.models import Cluster, Job, Node, QueuePosition, Run
from scheduler.domain.resources import add, total
from scheduler.domain.states import ClusterState, RunState


@dataclass(frozen=True)
class NodeView:
    node: Node
    allocated: Mapping[str, int]


@dataclass(frozen=True)
class ClusterView:
    cluster: Cluster
    state: ClusterState  # effective: LOST when the agent is silent past the lease timeout
    nodes: tuple[NodeView, ...]
    capacity: Mapping[str, int]
    allocated: Mapping[str, int]
    active_runs: int


@dataclass(frozen=True)
class JobView:
    job: Job
    runs: tuple[Run, ...]  # runs of the current attempt
    position: QueuePosition | None = None  # GetJob of a queued, ranked job


def effective_state(
    cluster: Cluster,
    now: datetime,
    lease_timeout_s: float,
    started_at: datetime,
    heard: datetime | None = None,
) -> ClusterState:
    """LOST if the agent has been silent past the lease timeout while this scheduler was up.

    Counting silence only from the scheduler's own start means a scheduler outage never makes
    every cluster look lost at once (the pain of Armada #315). `heard` is when this process last
    received a Sync from the agent (Liveness), which may be later than the stored heartbeat
    while that Sync waits for the database.
    """
    seen = silent_since(cluster, started_at, heard)
    if seen is None:
        return cluster.state
    if now - seen > timedelta(seconds=lease_timeout_s):
        return ClusterState.LOST
    return cluster.state


def silent_since(
    cluster: Cluster, started_at: datetime, heard: datetime | None = None
) -> datetime | None:
    """From when the agent's silence counts; None if it never synced."""
    if cluster.last_heartbeat is None and heard is None:
        return None
    seen = max(t for t in (cluster.last_heartbeat, heard) if t is not None)
    return max(seen, started_at)


def lost_message(
    cluster: Cluster,
    now: datetime,
    lease_timeout_s: float,
    started_at: datetime,
    heard: datetime | None = None,
) -> str:
    """What happened to a lost cluster, for its runs: since when its agent has been silent and,
    if the agent said something went wrong, the start of what it said."""
    seen = silent_since(cluster, started_at, heard) or started_at
    silent = (now - seen).total_seconds()
    last = max((t for t in (cluster.last_heartbeat, heard) if t is not None), default=None)
    since = "its last sync" if last is not None and last >= started_at else "this scheduler started"
    message = (
        f"cluster {cluster.name} lost: no sync from its agent for {silent:.0f}s since {since} "
        f"at {seen:%Y-%m-%d %H:%M:%S}Z (lease timeout {lease_timeout_s:g}s)"
    )
    if cluster.agent_error:
        message += f"; the agent last reported: {quote(cluster.agent_error, 200)}"
    return message


class _Held(Protocol):
    """What allocated_by_node reads of a run (a Run or a store Placement)."""

    @property
    def job_id(self) -> str: ...
    @property
    def cluster(self) -> str: ...
    @property
    def node(self) -> str: ...
    @property
    def state(self) -> RunState: ...


def allocated_by_node(
    runs: Iterable[_Held], jobs: Mapping[str, Job]
) -> dict[tuple[str, str], dict[str, int]]:
    """Resources held by active runs, per (cluster, node)."""
    out: dict[tuple[str, str], dict[str, int]] = {}
    for run in runs:
        if not run.state.active:
            continue
        job = jobs.get(run.job_id)
        if job is None:
            continue
        key = (run.cluster, run.node)
        out[key] = add(out.get(key, {}), job.spec.resources)
    return out


def cluster_view(
    cluster: Cluster,
    state: ClusterState,
    nodes: Sequence[Node],
    allocated: Mapping[tuple[str, str], Mapping[str, int]],
    active_runs: int,
) -> ClusterView:
    node_views = tuple(NodeView(n, dict(allocated.get((n.cluster, n.name), {}))) for n in nodes)
    return ClusterView(
        cluster=cluster,
        state=state,
        nodes=node_views,
        capacity=total(n.capacity for n in nodes),
        allocated=total(v.allocated for v in node_views),
        active_runs=active_runs,
    )
