"""Gauges of the pool, computed when Prometheus scrapes (a custom collector), never stored as
label series that outlive what they describe (a removed cluster or department disappears).

Two sources, chosen by cost:
- Jobs by state and queued jobs by department and reason: two grouped reads of the jobs table
  at scrape time (one read transaction, the read engine, over the `state` index). A cycle's
  snapshot cannot give them: it holds at most max_jobs_per_cycle queued jobs and no finished
  ones. Measured on the 2-core machine with 100,000 queued and 50,000 finished jobs: 15 + 95 ms
  on SQLite, 60 + 90 ms on PostgreSQL, against a scrape every 15-60 s (not every cycle). The
  answer is reused for max(5 s, 10x what the reads took), so several scrapers, or a queue ten
  times larger, still cost the database at most a tenth of one connection's time.
- Cluster capacity and allocation, and quota use: what the last cycle's snapshot and policy
  already computed (SchedulingCycle's on_plan), so no read at all; they are as fresh as the
  last cycle (one second by default). Heartbeat age is that snapshot's stored heartbeat or the
  Sync this process heard since, whichever is later, against the clock at scrape time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from scheduler.domain import reasons
from scheduler.domain.quotas import selector_key
from scheduler.domain.states import JobState
from scheduler.observe.units import base_unit
from scheduler.service.clock import Clock
from scheduler.service.liveness import Liveness
from scheduler.service.policy import Policy
from scheduler.service.snapshot import Snapshot
from scheduler.state import Store

log = structlog.get_logger("suanchou.metrics")

# Label values a reason may take: the reason vocabulary; anything else is OTHER, so a stored
# value from an older or newer version can never add series of its own.
REASONS = frozenset(
    v for k, v in vars(reasons).items() if k.isupper() and isinstance(v, str) and v == k
)
OTHER = "OTHER"
# Job counts are reused this long at least, and for ten times what reading them took.
MIN_REUSE_S = 5.0
REUSE_FACTOR = 10.0


@dataclass(frozen=True)
class ClusterGauge:
    name: str
    schedulable: bool
    capacity: dict[str, int]  # scheduler units, summed over its nodes
    allocated: dict[str, int]  # held by active runs
    last_heartbeat: datetime | None


@dataclass(frozen=True)
class QuotaGauge:
    department: str
    group: str  # the quota group's selector as canonical JSON (domain.quotas.selector_key)
    resource: str
    nominal: int
    used: int


@dataclass(frozen=True)
class PoolView:
    clusters: tuple[ClusterGauge, ...] = ()
    quotas: tuple[QuotaGauge, ...] = ()


def pool_view(snap: Snapshot, policy: Policy) -> PoolView:
    """The per-cluster and per-quota numbers of one cycle: O(nodes + quotas)."""
    capacity: dict[str, dict[str, int]] = {c.name: {} for c in snap.clusters}
    allocated: dict[str, dict[str, int]] = {c.name: {} for c in snap.clusters}
    for node in snap.nodes:
        total = capacity.setdefault(node.cluster, {})
        for resource, value in node.capacity.items():
            total[resource] = total.get(resource, 0) + value
    for (cluster, _), used in snap.used.items():
        held = allocated.setdefault(cluster, {})
        for resource, value in used.items():
            held[resource] = held.get(resource, 0) + value
    return PoolView(
        clusters=tuple(
            ClusterGauge(
                c.name,
                snap.schedulable(c.name),
                capacity[c.name],
                allocated[c.name],
                c.last_heartbeat,
            )
            for c in snap.clusters
        ),
        quotas=tuple(
            QuotaGauge(q.department, selector_key(q.selector), q.resource, q.nominal, q.used)
            for q in policy.quotas
        ),
    )


class PoolCollector(Collector):
    """Yields the pool's gauges at scrape time (module docstring)."""

    def __init__(self, store: Store, liveness: Liveness, clock: Clock) -> None:
        self._store = store
        self._liveness = liveness
        self._clock = clock
        # Replaced whole by the cycle thread, read by scrapes: a reference swap, no lock.
        self.view = PoolView()
        # (reuse until (monotonic), by state, queued by department and reason)
        self._counts: tuple[float, dict[JobState, int], dict[tuple[str, str], int]] | None = None
        self._reading = threading.Lock()

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Described without reading the store: registering the collector must not touch it.
        return iter(())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self._jobs()
        yield from self._clusters(self.view)
        yield from self._quotas(self.view)

    def _read_counts(self) -> tuple[dict[JobState, int], dict[tuple[str, str], int]]:
        """The two grouped reads, or their last answer while it may be reused (module
        docstring); one scrape reads at a time."""
        with self._reading:
            now = time.monotonic()
            if self._counts is not None and now < self._counts[0]:
                return self._counts[1], self._counts[2]
            with self._store.unit(write=False) as tx:
                by_state = tx.jobs.count_by_state()
                queued = tx.jobs.queued_by_department_reason()
            cost = time.monotonic() - now
            self._counts = (now + max(MIN_REUSE_S, REUSE_FACTOR * cost), by_state, queued)
            return by_state, queued

    def _jobs(self) -> Iterator[GaugeMetricFamily]:
        try:
            by_state, queued = self._read_counts()
        except Exception:
            # A scrape during a database outage still answers the other families.
            log.warning("metrics_store_read_failed", exc_info=True)
            return
        jobs = GaugeMetricFamily(
            "suanchou_jobs", "Jobs in each state, every job the store holds.", labels=["state"]
        )
        for state in JobState:
            jobs.add_metric([state.value], by_state.get(state, 0))
        yield jobs
        pending: dict[tuple[str, str], int] = {}
        for (department, reason), count in queued.items():
            key = (department, reason if reason in REASONS else OTHER)
            pending[key] = pending.get(key, 0) + count
        family = GaugeMetricFamily(
            "suanchou_pending_jobs",
            "Queued jobs per department and the reason code they wait for "
            "(scheduler.domain.reasons; OTHER for a value outside it).",
            labels=["department", "reason"],
        )
        for (department, reason), count in sorted(pending.items()):
            family.add_metric([department, reason], count)
        yield family

    def _clusters(self, view: PoolView) -> Iterator[GaugeMetricFamily]:
        capacity = GaugeMetricFamily(
            "suanchou_cluster_capacity",
            "Capacity of a cluster's reported nodes, in base units (unit: core, byte, device, "
            "count), as of the last scheduling cycle.",
            labels=["cluster", "resource", "unit"],
        )
        allocated = GaugeMetricFamily(
            "suanchou_cluster_allocated",
            "Resources held by a cluster's active runs, in base units, as of the last "
            "scheduling cycle.",
            labels=["cluster", "resource", "unit"],
        )
        schedulable = GaugeMetricFamily(
            "suanchou_cluster_schedulable",
            "1 if the cluster takes new work (active, not cordoned, draining or lost), else 0.",
            labels=["cluster"],
        )
        age = GaugeMetricFamily(
            "suanchou_cluster_heartbeat_age_seconds",
            "Seconds since the cluster's agent last synced (absent before its first sync).",
            labels=["cluster"],
        )
        now = self._clock.now()
        for c in view.clusters:
            for resource, value in sorted(c.capacity.items()):
                amount, unit = base_unit(resource, value)
                capacity.add_metric([c.name, resource, unit], amount)
            # Every resource the cluster has, 0 when nothing holds it: a series that is absent
            # when idle breaks `allocated / capacity` in dashboards.
            held = dict.fromkeys(c.capacity, 0) | c.allocated
            for resource, value in sorted(held.items()):
                amount, unit = base_unit(resource, value)
                allocated.add_metric([c.name, resource, unit], amount)
            schedulable.add_metric([c.name], 1.0 if c.schedulable else 0.0)
            heard = [t for t in (c.last_heartbeat, self._liveness.last(c.name)) if t is not None]
            if heard:
                age.add_metric([c.name], max(0.0, (now - max(heard)).total_seconds()))
        yield from (capacity, allocated, schedulable, age)

    def _quotas(self, view: PoolView) -> Iterator[GaugeMetricFamily]:
        used = GaugeMetricFamily(
            "suanchou_quota_used",
            "What a department's subtree uses of one quota (cluster group as selector JSON, "
            "resource), in base units, as of the last scheduling cycle.",
            labels=["department", "group", "resource", "unit"],
        )
        nominal = GaugeMetricFamily(
            "suanchou_quota_nominal",
            "A department's nominal quota for one cluster group and resource, in base units.",
            labels=["department", "group", "resource", "unit"],
        )
        for q in view.quotas:
            amount, unit = base_unit(q.resource, q.used)
            used.add_metric([q.department, q.group, q.resource, unit], amount)
            amount, unit = base_unit(q.resource, q.nominal)
            nominal.add_metric([q.department, q.group, q.resource, unit], amount)
        yield from (used, nominal)
