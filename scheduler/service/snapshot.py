"""An immutable picture of the pool taken at the start of a scheduling cycle."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property

from scheduler.domain import reasons
from scheduler.domain.models import Cluster, Department, Job, Node
from scheduler.domain.quotas import PriorityClass, QuotaGroup
from scheduler.domain.resources import SHARES_PER_DEVICE, device_resource
from scheduler.domain.states import ClusterState, JobState, RunState
from scheduler.service.liveness import Liveness
from scheduler.service.views import allocated_by_node, effective_state
from scheduler.state import Tx
from scheduler.state.run_records import Placement

# Device id standing for "some device" in Snapshot.device_load: a GPU run without device ids.
UNKNOWN_DEVICE = -1


@dataclass(frozen=True)
class Governance:
    """What the cycle's policy reads (scheduler.service.policy): the department tree with
    fair-share weights, every department's quota groups, and decayed usage with the time it
    was last advanced (priority classes: Snapshot.classes)."""

    departments: Mapping[str, Department]
    quotas: Mapping[str, tuple[QuotaGroup, ...]]
    usage: Mapping[str, tuple[float, datetime]]


@dataclass(frozen=True)
class Snapshot:
    now: datetime
    clusters: tuple[Cluster, ...]
    states: Mapping[str, ClusterState]  # effective state per cluster
    nodes: tuple[Node, ...]
    used: Mapping[tuple[str, str], Mapping[str, int]]  # held by active runs, per (cluster, node)
    queued: tuple[Job, ...]  # highest effective priority first, then oldest
    # Jobs holding capacity now, with the (cluster, node) of each active replica: the previous
    # placement, which the next cycle starts from.
    running: tuple[tuple[Job, tuple[tuple[str, str], ...]], ...] = ()
    # When each running job's first replica started (absent: none has started yet).
    started: Mapping[str, datetime] = field(default_factory=dict)
    # Held by preempted replicas still stopping, per (cluster, node): capacity nobody may take
    # until the agent reports them ended. Their jobs are back in the queue but left out of
    # `queued` until then, so a job never runs twice at once.
    stopping: Mapping[tuple[str, str], Mapping[str, int]] = field(default_factory=dict)
    classes: Mapping[str, PriorityClass] = field(default_factory=dict)
    # Jobs preempted within the last minute (PREEMPTED events), for the per-minute budget.
    preempted_last_minute: int = 0
    governance: Governance = Governance({}, {}, {})
    # Per (cluster, node): device id -> thousandths held by active runs (stopping ones too),
    # whole devices as 1000; what the cycle's device ids must not collide with. UNKNOWN_DEVICE
    # holds the load of runs without device ids.
    device_load: Mapping[tuple[str, str], Mapping[int, int]] = field(default_factory=dict)

    def schedulable(self, cluster: str) -> bool:
        return self.states[cluster].schedulable

    @cached_property
    def node_kinds(self) -> Mapping[str, tuple[NodeKind, ...]]:
        """Per cluster, its nodes grouped by capacity, labels, taints and use, in order of first
        appearance; computed once: explanations weigh every cluster for every job, and a
        city's clusters are mostly a few kinds of node."""
        kinds: dict[tuple[object, ...], NodeKind] = {}
        for node in self.nodes:
            used = self.used.get((node.cluster, node.name), {})
            key = (
                node.cluster,
                tuple(sorted(node.capacity.items())),
                tuple(sorted(node.labels.items())),
                node.taints,
                tuple(sorted(used.items())),
            )
            kind = kinds.get(key)
            kinds[key] = (
                NodeKind(node, used, 1) if kind is None else replace(kind, count=kind.count + 1)
            )
        grouped: dict[str, list[NodeKind]] = {}
        for kind in kinds.values():
            grouped.setdefault(kind.node.cluster, []).append(kind)
        return {name: tuple(group) for name, group in grouped.items()}


@dataclass(frozen=True)
class NodeKind:
    """`count` nodes of one cluster alike in capacity, labels and use; `node` the first."""

    node: Node
    used: Mapping[str, int]
    count: int


def take_snapshot(
    tx: Tx,
    now: datetime,
    lease_timeout_s: float,
    started_at: datetime,
    max_jobs: int,
    liveness: Liveness | None = None,
    known_jobs: Mapping[str, Job] | None = None,
) -> Snapshot:
    """`known_jobs`: jobs read by an earlier snapshot (Jobs.get_many_known): what ran and what
    was queued."""
    clusters = tuple(tx.clusters.all())
    runs = tx.runs.active_placements()
    held = tx.jobs.get_many_known((r.job_id for r in runs), known_jobs or {})
    stopping_runs = [r for r in runs if r.state is RunState.STOPPING]
    waiting = {r.job_id for r in stopping_runs}
    queued = [j for j in tx.jobs.queued_first(max_jobs, known_jobs) if j.job_id not in waiting]
    placed: dict[str, list[tuple[str, str]]] = {}
    started: dict[str, datetime] = {}

    # Oldest job first (submit order), not by id: ids are random, and the engine's answer may
    # depend on the order of its jobs, so a replay of the same history decides the same.
    def order(r: Placement) -> tuple[int, str, int]:
        job = held.get(r.job_id)
        return (job.seq if job is not None else -1, r.job_id, r.replica)

    for run in sorted(runs, key=order):
        job = held.get(run.job_id)
        if run.state is RunState.STOPPING or job is None or not job.state.active:
            continue
        placed.setdefault(run.job_id, []).append((run.cluster, run.node))
        if run.started_at is not None:
            started[run.job_id] = min(started.get(run.job_id, run.started_at), run.started_at)
    device_load: dict[tuple[str, str], dict[int, int]] = {}
    for run in runs:
        job = held.get(run.job_id)
        name = device_resource(job.spec.resources) if job is not None else None
        if job is None or name is None:
            continue
        q = job.spec.resources[name]
        share = SHARES_PER_DEVICE if q % SHARES_PER_DEVICE == 0 else q
        load = device_load.setdefault((run.cluster, run.node), {})
        # A run leased before device ids (migration 0012) may use any device: UNKNOWN_DEVICE.
        for d in run.devices or (UNKNOWN_DEVICE,):
            load[d] = load.get(d, 0) + share
    return Snapshot(
        now=now,
        clusters=clusters,
        states={
            c.name: effective_state(
                c, now, lease_timeout_s, started_at, liveness.last(c.name) if liveness else None
            )
            for c in clusters
        },
        nodes=tuple(tx.clusters.nodes()),
        used=allocated_by_node(runs, held),
        queued=tuple(queued),
        running=tuple((held[job_id], tuple(nodes)) for job_id, nodes in placed.items()),
        started=started,
        stopping=allocated_by_node(stopping_runs, held),
        classes={c.name: c for c in tx.priority_classes.all()},
        preempted_last_minute=tx.events.count(
            reasons.PREEMPTED, state=JobState.QUEUED, since=now - timedelta(minutes=1)
        ),
        device_load=device_load,
        governance=Governance(
            departments={d.name: d for d in tx.departments.all()},
            quotas={k: tuple(v) for k, v in tx.quotas.every_group().items()},
            usage=tx.fair_share.usage(),
        ),
    )
