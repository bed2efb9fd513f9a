"""The agent's full-state sync: record what it reports, tell it what to start and stop."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import structlog

from scheduler.domain.errors import InvalidSpec, quote
from scheduler.domain.models import Job, Node, Run
from scheduler.domain.states import RUN_TRANSITIONS, ClusterState, RunState
from scheduler.domain.validation import validate_node
from scheduler.service import audit
from scheduler.service.clock import Clock
from scheduler.service.evictions import STOPPING_PREFIX
from scheduler.service.liveness import Liveness
from scheduler.service.outcomes import settle_jobs
from scheduler.service.settings import SchedulerSettings
from scheduler.state import Store, Tx

log = structlog.get_logger("suanchou.agents")

MAX_NODES = 10_000
MAX_REPORTED_RUNS = 100_000
MAX_RUN_ID_LEN = 64
# Stored and shown to admins as Cluster.agent_error.
MAX_AGENT_ERROR = 1024
# What an agent may claim about a run it holds; LEASED is the scheduler's word. LOST: the agent
# had started the run but restarted, so its outcome is unknown (the job is requeued).
REPORTABLE = frozenset(
    {
        RunState.PENDING,
        RunState.RUNNING,
        RunState.SUCCEEDED,
        RunState.FAILED,
        RunState.CANCELLED,
        RunState.LOST,
    }
)


# Reports that prove the process started (a run can finish between two syncs).
_STARTED = frozenset({RunState.RUNNING, RunState.SUCCEEDED, RunState.FAILED})


@dataclass(frozen=True)
class RunReport:
    run_id: str
    state: RunState
    exit_code: int | None = None
    message: str = ""
    # A FailureCategory value the agent gave for a FAILED or LOST run; "" when it gave none.
    failure: str = ""


@dataclass(frozen=True)
class Lease:
    run: Run
    job: Job  # with max_runtime_seconds defaulted


@dataclass(frozen=True)
class SyncReply:
    cluster: str
    start: tuple[Lease, ...]
    cancel: tuple[str, ...]
    acknowledged: tuple[str, ...]
    sync_interval_s: float
    lease_timeout_s: float
    # (run id, max runtime) of live runs whose job's limit was changed (JobService.UpdateJob).
    runtime_limits: tuple[tuple[str, int], ...] = ()


class AgentSyncService:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        settings: SchedulerSettings,
        liveness: Liveness | None = None,
        on_agent_error: Callable[[str], None] | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._settings = settings
        self._liveness = liveness or Liveness()
        # Told the cluster of each Sync whose agent says its previous exchange or apply failed
        # (the metrics' agent sync failures: failures the server never saw, such as a refused
        # connection, arrive this way once the agent gets through).
        self._on_agent_error = on_agent_error

    def heard(self, cluster: str) -> None:
        """Notes that the cluster's agent called just now (see Liveness)."""
        self._liveness.heard(cluster, self._clock.now())

    def sync(
        self,
        cluster: str,
        agent_id: str,
        nodes: Sequence[Node],
        reports: Sequence[RunReport],
        *,
        agent_error: str = "",
    ) -> SyncReply:
        """`agent_error` is what the agent says failed in its previous exchange or apply ("" when
        nothing did); kept on the cluster for admins and for the reaper's message."""
        # Before any database work: the agent is alive whether or not this Sync gets through
        # the database quickly (see Liveness).
        self.heard(cluster)
        nodes = self._validate(cluster, nodes, reports)
        if agent_error and self._on_agent_error is not None:
            self._on_agent_error(cluster)
        with self._store.unit() as tx:
            now = self._clock.now()
            current = tx.clusters.get(cluster)
            if agent_error and agent_error[:MAX_AGENT_ERROR] != current.agent_error:
                # Once per new error, not per Sync: an agent that keeps failing the same way
                # would otherwise log every second (the count is in the metrics).
                log.warning("agent_reported_error", cluster=cluster, error=quote(agent_error, 200))
            tx.clusters.heartbeat(cluster, now, agent_id[:256])
            tx.clusters.set_agent_error(cluster, agent_error[:MAX_AGENT_ERROR])
            nodes_changed = tx.clusters.replace_nodes(cluster, nodes, now)
            # Job rows before run rows, as a cancel takes them (Jobs.lock). The runs read here
            # only name the jobs to lock; they are read again below, under the locks, because a
            # cancel may have committed in between (PostgreSQL, READ COMMITTED).
            tx.jobs.lock(tx.runs.job_ids([r.run_id for r in reports], active_on=cluster))
            ack, touched = self._apply_reports(tx, cluster, reports, now)
            reported = {r.run_id for r in reports}
            active = [r for r in tx.runs.active(cluster=cluster) if r.run_id not in reported]
            leased = tx.jobs.get_many(r.job_id for r in active if r.state is RunState.LEASED)
            start: list[Lease] = []
            for run in active:
                if run.state is RunState.LEASED:
                    start.append(Lease(run, leased[run.job_id]))
                elif run.state is RunState.STOPPING:
                    # Preempted, and the agent does not hold it (ended, or never started it):
                    # its room is free. Its job was requeued when it was preempted.
                    tx.runs.transition(
                        run.run_id,
                        RunState.PREEMPTED,
                        expected=[RunState.STOPPING],
                        finished_at=now,
                        message=f"{_preempted(run)}; not held by agent {agent_id or cluster}",
                    )
                else:
                    # The agent acknowledged this run once and no longer holds it (restarted,
                    # or it lost the process): it is gone and must not come back.
                    if tx.runs.transition(
                        run.run_id,
                        RunState.LOST,
                        expected=[run.state],
                        finished_at=now,
                        message=f"agent {agent_id or cluster} no longer holds it",
                    ):
                        touched.add(run.job_id)
            settle_jobs(tx, touched, now, self._settings.max_attempts)
            # After settling, so siblings of a replica that just failed are stopped at once.
            live = tx.runs.get_many([r.run_id for r in reports if not r.state.terminal])
            cancel = self._unwanted(cluster, reports, live)
            limits = _runtime_limits(tx, reports, live, set(cancel))
            if current.state is ClusterState.DRAINING:
                # Nothing new is leased to a draining cluster; leases not yet started are
                # withdrawn rather than started.
                start = []
            if nodes_changed or touched or start or cancel:
                # Audited only when it changed something (see scheduler.service.audit).
                audit.mark_changed(cluster, *(lease.run.run_id for lease in start), *cancel)
        default_runtime = self._settings.default_max_runtime_s
        return SyncReply(
            cluster=cluster,
            start=tuple(
                Lease(lease.run, _with_runtime(lease.job, default_runtime)) for lease in start
            ),
            cancel=tuple(cancel),
            acknowledged=tuple(ack),
            sync_interval_s=self._settings.sync_interval_s,
            lease_timeout_s=self._settings.lease_timeout_s,
            runtime_limits=limits,
        )

    def _apply_reports(
        self, tx: Tx, cluster: str, reports: Sequence[RunReport], now: datetime
    ) -> tuple[list[str], set[str]]:
        """Records reported progress; returns the finished runs to acknowledge and the jobs
        whose runs changed."""
        known = tx.runs.get_many([r.run_id for r in reports])
        ack: list[str] = []
        touched: set[str] = set()
        for report in reports:
            run = known.get(report.run_id)
            if run is None or run.cluster != cluster or run.state.terminal:
                # Unknown, not ours, or already over for the scheduler (cancelled, lost):
                # forget it once it has ended; _unwanted stops it if it still runs.
                if report.state.terminal:
                    ack.append(report.run_id)
                continue
            if run.state is RunState.STOPPING:
                # Stopped after a preemption: however it ended, that is no failure of the job.
                if report.state.terminal:
                    tx.runs.transition(
                        run.run_id,
                        RunState.PREEMPTED,
                        expected=[RunState.STOPPING],
                        exit_code=report.exit_code,
                        finished_at=now,
                        message=f"{_preempted(run)}; the agent reported it "
                        f"{report.state.value.lower()}"
                        + (f" ({report.message[:200]})" if report.message else ""),
                    )
                    ack.append(report.run_id)
                continue
            if (
                report.state is not run.state
                and report.state in RUN_TRANSITIONS[run.state]
                and tx.runs.transition(
                    run.run_id,
                    report.state,
                    expected=[run.state],
                    exit_code=report.exit_code,
                    message=report.message or None,
                    started_at=now if report.state in _STARTED else None,
                    finished_at=now if report.state.terminal else None,
                    failure=report.failure,
                )
            ):
                touched.add(run.job_id)
            if report.state.terminal:
                ack.append(report.run_id)
        return ack, touched

    def _unwanted(
        self, cluster: str, reports: Sequence[RunReport], live: Mapping[str, Run]
    ) -> list[str]:
        """Runs the agent still runs that the scheduler no longer wants (ended for it, or
        preempted): stop them. `live`: the scheduler's record of each, read after settling."""
        running = [r.run_id for r in reports if not r.state.terminal]
        return [
            run_id
            for run_id in running
            if (run := live.get(run_id)) is None
            or run.cluster != cluster
            or run.state.terminal
            or run.state is RunState.STOPPING  # preempted: SIGTERM, SIGKILL after the grace
        ]

    def _validate(
        self, cluster: str, nodes: Sequence[Node], reports: Sequence[RunReport]
    ) -> list[Node]:
        if len(nodes) > MAX_NODES:
            raise InvalidSpec(f"at most {MAX_NODES} nodes", field="nodes")
        if len(reports) > MAX_REPORTED_RUNS:
            raise InvalidSpec(f"at most {MAX_REPORTED_RUNS} runs", field="runs")
        seen: set[str] = set()
        clean: list[Node] = []
        for i, node in enumerate(nodes):
            field = f"nodes[{i}]"
            capacity = validate_node(node.name, node.capacity, node.labels, field, node.taints)
            if node.name in seen:
                raise InvalidSpec(f"duplicate node name {quote(node.name)}", field=f"{field}.name")
            seen.add(node.name)
            clean.append(replace(node, cluster=cluster, capacity=capacity))
        for i, report in enumerate(reports):
            if not report.run_id:
                raise InvalidSpec("is required", field=f"runs[{i}].run_id")
            # Run ids are echoed in `cancel` and `acknowledged`; ours are 36-character UUIDs.
            if len(report.run_id) > MAX_RUN_ID_LEN:
                raise InvalidSpec(
                    f"is {len(report.run_id)} characters, at most {MAX_RUN_ID_LEN}",
                    field=f"runs[{i}].run_id",
                )
            if report.state not in REPORTABLE:
                raise InvalidSpec(
                    f"an agent cannot report {report.state.value}", field=f"runs[{i}].state"
                )
        return clean


def _runtime_limits(
    tx: Tx, reports: Sequence[RunReport], runs: Mapping[str, Run], cancel: set[str]
) -> tuple[tuple[str, int], ...]:
    """The current limit of every live reported run whose job's limit was changed after
    submit: sent while the run lives (the agent applies a value once), so neither a lost reply
    nor an agent restart loses a change."""
    live = [r.run_id for r in reports if not r.state.terminal and r.run_id not in cancel]
    changed = tx.jobs.changed_runtimes(run.job_id for run in runs.values())
    return tuple(
        (run_id, changed[run.job_id])
        for run_id in live
        if (run := runs.get(run_id)) is not None and run.job_id in changed
    )


def _preempted(run: Run) -> str:
    """A stopped preempted run's message: what its STOPPING message said, as done."""
    return run.message.removeprefix(STOPPING_PREFIX)


def _with_runtime(job: Job, default_s: int) -> Job:
    if job.spec.max_runtime_seconds:
        return job
    return replace(job, spec=replace(job.spec, max_runtime_seconds=default_s))
