"""The real scheduler as a policy: suanchou's service layer, store and cycle on simulated time.

A Store on a SQLite file in a temporary folder, a ManualClock, and AdminService, JobsService,
AgentSyncService and SchedulingCycle built as the server builds them. Jobs enter through
JobsService.submit (client_id = the trace's job id); one SchedulingCycle.run_once is one
decision (the solver runs on wall-clock time, `solver_time_limit_s` per cycle); simulated
agents call AgentSyncService.sync directly with their nodes and the full state of the runs they
hold, as the real agent does: a leased run is started at once and reported RUNNING right after
the cycle that leased it, SUCCEEDED once its duration has elapsed, and a run the scheduler
stopped is reported ended before the next cycle (a real agent reports each change within its
sync interval, 1 s by default, far below a tick).

Two policies use it: `suanchou` (the pooled cycle) and `separate` (the same cycle, but every
node carries `owner=<department>` and every job a node_selector on it, so each department runs
only on the clusters it contributed: today's city). Agents are never silent (heartbeats are not
simulated), so the lease timeout is set beyond any simulated period.

Governance goes through the governance service as an admin would set it: the priority classes
of `benchmarks.city.quotas` (jobs name their class, not a number) for both policies, and for
`suanchou` each department's nominal quota per cluster group (`quotas.flavours`: kind, 信创,
等保 level). Whatever the cycle does with them (quotas, fair share, preemption), the simulator
measures; a run the scheduler no longer wants (the sync's `cancel`, e.g. preempted) is stopped
by the simulated agent and reported to the loop as preempted.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.city.quotas import (
    CLASS_OF_KIND,
    CLASSES,
    KIND,
    flavour_selector,
    flavours,
    kind_of,
    node_selector,
    nominal,
)
from benchmarks.city.sim import Decision, Start
from benchmarks.city.trace import CityCluster, Trace, TraceJob
from scheduler.domain.cluster_choice import HOME_LABEL
from scheduler.domain.models import ClusterSpec, Constraints, JobSpec, Node
from scheduler.domain.quotas import ResourceQuota
from scheduler.domain.resources import CPU, MEMORY, NVIDIA_GPU
from scheduler.domain.states import RunState
from scheduler.domain.validation import MAX_BATCH
from scheduler.service.admin import AdminService
from scheduler.service.agent_sync import AgentSyncService, RunReport
from scheduler.service.clock import ManualClock
from scheduler.service.cycle import SchedulingCycle
from scheduler.service.governance import GovernanceService
from scheduler.service.jobs import JobsService
from scheduler.service.liveness import Liveness
from scheduler.service.settings import SchedulerSettings
from scheduler.state import Store

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
NEVER_SILENT_S = 10 * 366 * 86_400.0
OWNER = "owner"


# The clusters' price lists (yuan per core-, GiB- and GPU-hour), as their admins register
# them: a GPU cluster prices its cores and memory at a GPU instance's rate, three times a CPU
# cluster's, since work there strands the GPUs. Equal work then goes to a CPU cluster while one
# has room (the cost term; the work term still overflows onto GPU nodes when none has), as a
# Kubernetes city keeps CPU work off GPU nodes with taints and Kueue with flavour order. The
# report's cost column prices every policy's work alike (metrics.PRICES).
CPU_PRICE = {CPU: 0.12, MEMORY: 0.015}
GPU_PRICE = {CPU: 0.36, MEMORY: 0.045, NVIDIA_GPU: 12.0}


def price_of(cluster: CityCluster) -> dict[str, float]:
    return dict(GPU_PRICE if kind_of(cluster) == "gpu" else CPU_PRICE)


def nodes_of(cluster: CityCluster, owner_label: bool) -> list[Node]:
    labels = {OWNER: cluster.department} if owner_label else {}
    labels[KIND] = kind_of(cluster)
    return [
        Node(cluster.name, f"{cluster.name}-n{i:04d}", dict(cluster.node_capacity), labels)
        for i in range(cluster.nodes)
    ]


def job_spec(job: TraceJob, own_only: bool) -> JobSpec:
    return JobSpec(
        client_id=job.job_id,
        command=("simulated",),
        resources=job.demand(),
        name=job.kind,
        priority_class=CLASS_OF_KIND[job.kind],
        replicas=job.replicas,
        max_runtime_seconds=max(1, int(job.duration_s) + 1),
        constraints=Constraints(
            min_security_level=job.min_security_level,
            xinchuang_required=job.xinchuang_required,
            node_selector=({OWNER: job.department} if own_only else {}) | node_selector(job),
        ),
    )


class RealCycle:
    """`own_only=False`: suanchou (pooled); True: separate clusters through the same cycle.
    `preemption=False`: the scheduler never preempts (`max_preemptions_per_cycle` 0), to
    measure what the guarantee costs without it (the `suanchou-no-preemption` variant)."""

    def __init__(
        self,
        trace: Trace,
        *,
        own_only: bool = False,
        preemption: bool = True,
        solver_time_limit_s: float = 0.2,
        deterministic: bool = True,
    ) -> None:
        self.name = "separate" if own_only else "suanchou"
        if not preemption:
            self.name += "-no-preemption"
        self._own_only = own_only
        self._tmp = tempfile.TemporaryDirectory(prefix="city-")
        self.store = Store(f"sqlite:///{Path(self._tmp.name) / 'city.db'}")
        self.clock = ManualClock(EPOCH)
        self._settings = SchedulerSettings(
            sync_interval_s=60.0,
            lease_timeout_s=NEVER_SILENT_S,
            max_attempts=3,
            default_max_runtime_s=int(trace.horizon_s * 10),
            solver_time_limit_s=solver_time_limit_s,
            # Replayable: the same trace gives the same decisions on an idle or a loaded
            # machine, so the figures (and the CI thresholds on them) do not move with load.
            # False only to time the wall-clock mode (decision_cost --wall-clock).
            solver_deterministic=deterministic,
            max_preemptions_per_cycle=(
                SchedulerSettings.max_preemptions_per_cycle if preemption else 0
            ),
        )
        liveness = Liveness()
        started = self.clock.now()
        self.admin = AdminService(self.store, self.clock, self._settings, started, liveness)
        self.jobs = JobsService(self.store, self.clock, self._settings)
        self.agents = AgentSyncService(self.store, self.clock, self._settings, liveness)
        self.cycle = SchedulingCycle(self.store, self.clock, self._settings, started, liveness)
        self._nodes: dict[str, list[Node]] = {}
        # Per cluster, what its simulated agent holds: run_id -> trace job id.
        self._held: dict[str, dict[str, str]] = {}
        self._done: set[str] = set()  # trace job ids whose runs have ended
        self._stopped: set[str] = set()  # trace job ids the scheduler had stopped
        self._stopping: dict[str, set[str]] = {}  # per cluster: run ids stopped, to report
        self._client: dict[str, str] = {}  # scheduler job id -> trace job id
        self._dirty: set[str] = set()  # clusters with ended runs not yet reported
        self.cycles = 0
        self.preempted = 0  # jobs the scheduler stopped before their end
        self.final_states: dict[str, int] = {}  # job state -> count, read at close
        self.governance = GovernanceService(self.store, self.clock)
        for pc in CLASSES:
            self.governance.create_priority_class(pc)
        quotas = nominal(trace)
        for dept in trace.departments:
            self.admin.create_department(dept, dept)
            self.governance.set_priority_classes(dept, [pc.name for pc in CLASSES])
            if not own_only:  # separate clusters: its own nodes are its only quota
                for group, members in flavours(trace.clusters).items():
                    self.governance.set_quota(
                        dept,
                        flavour_selector(members[0]),
                        [ResourceQuota(r, q) for r, q in quotas[dept][group].items()],
                    )
        for c in trace.clusters:
            self.admin.register_cluster(
                ClusterSpec(
                    name=c.name,
                    region="city",
                    security_level=c.security_level,
                    xinchuang=c.xinchuang,
                    # HOME_LABEL: the department contributed it, so its work prefers it
                    # (scheduler.domain.cluster_choice, home clusters).
                    labels={OWNER: c.department, KIND: kind_of(c), HOME_LABEL: c.department},
                    price=price_of(c),
                )
            )
            self._nodes[c.name] = nodes_of(c, own_only)
            self._held[c.name] = {}
            self._sync(c.name)

    def _at(self, now: float) -> None:
        delta = now - (self.clock.now() - EPOCH).total_seconds()
        if delta > 0:
            self.clock.advance(delta)

    def _sync(self, cluster: str) -> None:
        """One full-state sync: held runs RUNNING, ended ones SUCCEEDED; starts new leases."""
        held = self._held[cluster]
        stopping = self._stopping.setdefault(cluster, set())
        reports = [
            RunReport(
                run_id,
                RunState.SUCCEEDED if job in self._done else RunState.RUNNING,
                exit_code=0 if job in self._done else None,
            )
            for run_id, job in held.items()
        ]
        # Runs it was told to stop: SIGTERM ended them, reported as a real agent does.
        reports += [RunReport(r, RunState.CANCELLED, exit_code=-15) for r in sorted(stopping)]
        reply = self.agents.sync(cluster, f"sim-{cluster}", self._nodes[cluster], reports)
        for run_id in reply.acknowledged:
            held.pop(run_id, None)
            stopping.discard(run_id)
        for run_id in reply.cancel:
            job = held.pop(run_id, None)
            if job is not None and job not in self._done:
                self._stopped.add(job)
                stopping.add(run_id)
        for lease in reply.start:
            held[lease.run.run_id] = lease.job.spec.client_id

    def submit(self, jobs: Sequence[TraceJob], now: float) -> None:
        self._at(now)
        by_dept: dict[str, list[JobSpec]] = {}
        for job in jobs:
            by_dept.setdefault(job.department, []).append(job_spec(job, self._own_only))
        for dept, specs in by_dept.items():
            for i in range(0, len(specs), MAX_BATCH):
                for out in self.jobs.submit(dept, specs[i : i + MAX_BATCH]):
                    if out.error is not None or out.state is None or out.state.terminal:
                        raise RuntimeError(f"{self.name}: {out.client_id} not queued: {out}")
                    self._client[out.job_id] = out.client_id

    def finish(self, jobs: Sequence[TraceJob], now: float) -> None:
        # Reported with the cluster's next sync, which the next cycle waits for: while no job
        # waits there is no cycle, and several ends on one cluster make one sync.
        ended = {j.job_id for j in jobs}
        self._done |= ended
        for cluster, held in self._held.items():
            if any(job in ended for job in held.values()):
                self._dirty.add(cluster)

    def schedule(self, now: float) -> Decision:
        self._at(now)
        # Before the cycle, the clusters whose runs ended, and those whose agents were told
        # to stop runs at the last sync: SIGTERM ended them within the grace period, long
        # before this tick, and a real agent reports that at its next sync. (Reported only
        # after this cycle, the room they held stayed taken for it, and the job that preempted
        # for it waited for a later decision, which may be hours away on a quiet pool.)
        stopping = {c for c, runs in self._stopping.items() if runs}
        for cluster in sorted(self._dirty | stopping):
            self._sync(cluster)
        self._dirty.clear()
        self.cycle.run_once()
        self.cycles += 1
        with self.store.unit(write=False) as tx:
            # Seven columns per run, not Run objects: thousands run at city scale.
            active = tx.runs.active_placements()
        # The agents start their new leases at once and report them RUNNING right away, as a
        # real agent does within its sync interval (1 s by default): the run's start time is
        # then its lease's, and so is its runtime for the preemption rules (a run never
        # reported RUNNING has run 0 s and may not be preempted; reported only at its
        # cluster's next end, a long run on a quiet cluster stayed unpreemptible for hours).
        starts: dict[str, str] = {}
        for r in active:
            held = self._held[r.cluster]
            if r.state is RunState.LEASED and r.run_id not in held:
                held[r.run_id] = self._client[r.job_id]
                starts[self._client[r.job_id]] = r.cluster
        started = set(starts.values())
        # A cluster holding a run the scheduler no longer counts as active (preempted or
        # otherwise stopped) syncs now too: the reply's `cancel` says which.
        alive = {r.run_id for r in active if r.state is not RunState.STOPPING}
        for cluster, held in sorted(self._held.items()):
            stale = any(run_id not in alive for run_id in held)
            if stale or self._stopping.get(cluster) or cluster in started:
                self._sync(cluster)
        # Stopped before it started again, if it did: the loop applies stops first.
        stopped = sorted(self._stopped)
        self._stopped.clear()
        self.preempted += len(stopped)
        return Decision([Start(job_id, cluster) for job_id, cluster in starts.items()], stopped)

    def close(self) -> None:
        for cluster in sorted(self._dirty):  # the last ends, which no cycle waited for
            self._sync(cluster)
        # Read before the store goes: how the scheduler itself saw the jobs end.
        with self.store.unit(write=False) as tx:
            self.final_states = {state.value: n for state, n in tx.jobs.count_by_state().items()}
        self.store.dispose()
        self._tmp.cleanup()
