"""A city-sized pool where little changes, built through the service layer (cycle_cost --quiet).

Clusters of identical nodes (32 cores, 128 GiB) register through AdminService and report their
nodes through AgentSyncService. The running jobs are one-replica jobs sized so that
ceil(running / nodes) of them fill a node up to 2 cores; they are submitted in batches, leased
by real cycles and reported RUNNING by each cluster's simulated agent (the Sync that picks a
lease up, then the Sync that reports it running). The queue is jobs asking for a whole node:
they wait while every node runs something, as big jobs wait in a busy city, so the cycle keeps
considering them. Between two measured cycles, `churn` finishes a few running jobs (their
agents report SUCCEEDED) and submits as many running-sized ones, which the next cycle places
in the holes.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from scheduler.domain.models import ClusterSpec, JobSpec, Node
from scheduler.domain.states import JobState, RunState
from scheduler.domain.validation import MAX_BATCH
from scheduler.service.admin import AdminService
from scheduler.service.agent_sync import AgentSyncService, RunReport
from scheduler.service.clock import ManualClock
from scheduler.service.cycle import SchedulingCycle
from scheduler.service.jobs import JobsService
from scheduler.service.settings import SchedulerSettings
from scheduler.state import Store

NODE_CPU = 32_000
NODE_MEMORY = 131_072
# Room left on a full node: a finished job's hole plus this is still less than a whole node.
SLACK_CPU = 2_000
DEPARTMENT = "city"
# Cycles the fill may take before the benchmark gives up (the solver places most per cycle).
MAX_FILL_CYCLES = 200


@dataclass(frozen=True)
class PoolShape:
    clusters: int
    nodes_per_cluster: int
    running: int
    queue: int

    @property
    def nodes(self) -> int:
        return self.clusters * self.nodes_per_cluster


class QuietPool:
    """The pool, its simulated agents, and the cycle that schedules it."""

    def __init__(
        self,
        store: Store,
        clock: ManualClock,
        settings: SchedulerSettings,
        cycle: SchedulingCycle,
        shape: PoolShape,
    ) -> None:
        if shape.running < shape.nodes:
            raise ValueError("--running must be at least the number of nodes (no empty node)")
        self.store = store
        self.clock = clock
        self.cycle = cycle
        self.shape = shape
        started = clock.now()
        self._admin = AdminService(store, clock, settings, started)
        self._jobs = JobsService(store, clock, settings)
        self._agents = AgentSyncService(store, clock, settings)
        per_node = math.ceil(shape.running / shape.nodes)
        self.job_cpu = (NODE_CPU - SLACK_CPU) // per_node
        self.job_memory = NODE_MEMORY // (2 * per_node)
        self._nodes: dict[str, list[Node]] = {}
        self._held: dict[str, dict[str, str]] = {}  # cluster -> run_id -> job_id
        self._done: set[str] = set()  # run ids whose jobs finished, reported on the next Sync
        self._serial = 0
        self._rng = random.Random(1)

    def build(self) -> None:
        self._admin.create_department(DEPARTMENT, DEPARTMENT)
        for c in range(self.shape.clusters):
            name = f"c{c:03d}"
            self._admin.register_cluster(ClusterSpec(name=name, region="city", security_level=3))
            self._nodes[name] = [
                Node(name, f"n{i:03d}", {"cpu": NODE_CPU, "memory": NODE_MEMORY}, {})
                for i in range(self.shape.nodes_per_cluster)
            ]
            self._held[name] = {}
            self.sync(name)
        for start in range(0, self.shape.running, MAX_BATCH):
            self.submit(min(MAX_BATCH, self.shape.running - start))
            self.place_all()
        self.submit(self.shape.queue, cpu=NODE_CPU, memory=NODE_MEMORY)

    def submit(self, count: int, *, cpu: int = 0, memory: int = 0) -> None:
        specs = []
        for _ in range(count):
            self._serial += 1
            specs.append(
                JobSpec(
                    client_id=f"j{self._serial}",
                    command=("true",),
                    resources={"cpu": cpu or self.job_cpu, "memory": memory or self.job_memory},
                )
            )
        for start in range(0, len(specs), MAX_BATCH):
            for out in self._jobs.submit(DEPARTMENT, specs[start : start + MAX_BATCH]):
                if out.state is not JobState.QUEUED:
                    raise RuntimeError(f"{out.client_id} not queued: {out.error or out.state}")

    def place_all(self) -> None:
        """Runs cycles until every running-sized queued job is leased and reported RUNNING."""
        for _ in range(MAX_FILL_CYCLES):
            report = self.cycle.run_once()
            self.start_leases()
            if report.jobs == report.placed:
                return
        raise RuntimeError(f"the pool did not fill within {MAX_FILL_CYCLES} cycles")

    def churn(self, count: int) -> None:
        """Finishes `count` running jobs (their agents report SUCCEEDED) and submits as many."""
        held = sorted((run, c) for c, runs in self._held.items() for run in runs)
        finished = self._rng.sample(held, min(count, len(held)))
        self._done |= {run for run, _ in finished}
        for cluster in sorted({c for _, c in finished}):
            self.sync(cluster)
        self.submit(count)

    def start_leases(self) -> None:
        """Each cluster with new leases syncs twice: it picks them up, then reports them
        RUNNING."""
        with self.store.unit(write=False) as tx:
            leased = {r.cluster for r in tx.runs.active() if r.state is RunState.LEASED}
        for cluster in sorted(leased):
            self.sync(cluster)
            self.sync(cluster)

    def sync(self, cluster: str) -> None:
        held = self._held[cluster]
        reports = [
            RunReport(run, RunState.SUCCEEDED, exit_code=0)
            if run in self._done
            else RunReport(run, RunState.RUNNING)
            for run in held
        ]
        reply = self._agents.sync(cluster, f"agent-{cluster}", self._nodes[cluster], reports)
        for run in reply.acknowledged:
            held.pop(run, None)
            self._done.discard(run)
        for lease in reply.start:
            held[lease.run.run_id] = lease.job.job_id

    def counts(self) -> tuple[int, int, int]:
        """(nodes, running runs, queued jobs) as the store has them."""
        with self.store.unit(write=False) as tx:
            nodes = len(tx.clusters.nodes())
            running = sum(1 for r in tx.runs.active() if r.state is RunState.RUNNING)
            queued = tx.jobs.count_by_state().get(JobState.QUEUED, 0)
        return nodes, running, queued
