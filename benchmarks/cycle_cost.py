"""python -m benchmarks.cycle_cost: what one scheduling cycle costs.

Two modes, each building its pool through the service layer on a SQLite file in a temporary
directory (or --database-url, an empty database):

- the long queue (default): submits --jobs one-core jobs in batches of 100 onto --clusters
  one-node clusters (4 cores each, so almost all stay queued), and times two cycles: the first
  evaluates every queued job, the second re-evaluates them. Prints wall seconds per cycle and
  the solver's share, from the cycle's own report.
- the quiet city (--quiet): --clusters clusters of --nodes-per-cluster nodes, --running jobs
  running and --queue whole-node jobs waiting (benchmarks.quiet_pool), then --cycles cycles
  with --churn jobs finishing and as many submitted before each. Prints the pool as the store
  has it, then mean / median / max wall milliseconds per phase of the cycle (CycleReport
  phases_ms: reap, snapshot, build, solve, check, persist, and the total), and the CPU
  milliseconds of the whole cycle (process time: steadier than wall time on a loaded machine).

Results before and after the cuts to the quiet cycle: benchmarks/README.md, "Cycle cost".
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence

from benchmarks.quiet_pool import PoolShape, QuietPool
from scheduler import logs
from scheduler.domain.models import ClusterSpec, JobSpec, Node
from scheduler.service.admin import AdminService
from scheduler.service.agent_sync import AgentSyncService
from scheduler.service.clock import ManualClock
from scheduler.service.cycle import PHASES, SchedulingCycle
from scheduler.service.jobs import JobsService
from scheduler.service.settings import SchedulerSettings
from scheduler.state import Store


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.cycle_cost",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--database-url", help="default: SQLite in a temporary directory (empty db)")
    p.add_argument("--clusters", type=int, help="default: 3 (long queue), 40 (--quiet)")
    p.add_argument("--jobs", type=int, default=5000, help="long queue: jobs submitted")
    p.add_argument("--quiet", action="store_true", help="the quiet city instead")
    p.add_argument("--nodes-per-cluster", type=int, default=25)
    p.add_argument("--running", type=int, default=3000)
    p.add_argument("--queue", type=int, default=20)
    p.add_argument("--cycles", type=int, default=20, help="quiet cycles measured")
    p.add_argument("--churn", type=int, default=3, help="finishes and submits between cycles")
    p.add_argument("--solver-time-limit", type=float, default=SchedulerSettings.solver_time_limit_s)
    args = p.parse_args(argv)
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='suanchou-cycle-')}/x.db"
    store = Store(url)
    settings = SchedulerSettings(solver_time_limit_s=args.solver_time_limit)
    try:
        if args.quiet:
            logs.configure("warning", json=False)  # the fill alone runs dozens of cycles
            shape = PoolShape(args.clusters or 40, args.nodes_per_cluster, args.running, args.queue)
            quiet(store, settings, shape, args.cycles, args.churn)
        else:
            long_queue(store, settings, args.clusters or 3, args.jobs)
    finally:
        store.dispose()
    return 0


def quiet(
    store: Store, settings: SchedulerSettings, shape: PoolShape, cycles: int, churn: int
) -> None:
    clock = ManualClock()
    cycle = SchedulingCycle(store, clock, settings, clock.now())
    pool = QuietPool(store, clock, settings, cycle, shape)
    t = time.perf_counter()
    pool.build()
    nodes, running, queued = pool.counts()
    print(
        f"pool: {shape.clusters} clusters, {nodes} nodes, {running} running, {queued} queued "
        f"(built in {time.perf_counter() - t:.1f} s)"
    )
    samples: dict[str, list[float]] = {name: [] for name in (*PHASES, "total", "cpu")}
    considered = placed = 0
    for _ in range(cycles):
        clock.advance(settings.cycle_interval_s)
        pool.churn(churn)
        cpu = time.process_time()
        report = cycle.run_once()
        samples["cpu"].append((time.process_time() - cpu) * 1000)
        pool.start_leases()
        considered += report.jobs
        placed += report.placed
        for name in PHASES:
            samples[name].append(report.phases_ms.get(name, 0.0))
        samples["total"].append(report.total_ms)
    nodes, running, queued = pool.counts()
    print(
        f"cycles: {cycles}, churn {churn}: {considered} queued jobs considered, {placed} placed; "
        f"after: {running} running, {queued} queued"
    )
    print(f"{'phase':<10} {'mean ms':>9} {'median ms':>10} {'max ms':>9}")
    for name, values in samples.items():
        print(
            f"{name:<10} {statistics.fmean(values):>9.1f} {statistics.median(values):>10.1f} "
            f"{max(values):>9.1f}"
        )


def long_queue(store: Store, settings: SchedulerSettings, clusters: int, count: int) -> None:
    clock = ManualClock()
    started = clock.now()
    admin = AdminService(store, clock, settings, started)
    jobs = JobsService(store, clock, settings)
    agents = AgentSyncService(store, clock, settings)
    cycle = SchedulingCycle(store, clock, settings, started)
    admin.create_department("d", "d")
    for c in range(clusters):
        admin.register_cluster(ClusterSpec(name=f"c{c}", region="hz", security_level=3))
        agents.sync(f"c{c}", "a", [Node(f"c{c}", "n", {"cpu": 4000, "memory": 8192}, {})], [])
    for b in range(0, count, 100):
        batch = [
            JobSpec(client_id=f"j{b + i}", command=("true",), resources={"cpu": 1000, "memory": 64})
            for i in range(min(100, count - b))
        ]
        jobs.submit("d", batch)
    for name in ("first", "second"):
        t = time.perf_counter()
        report = cycle.run_once()
        print(
            f"{name} cycle: {time.perf_counter() - t:.2f} s wall, {report.jobs} queued jobs "
            f"considered, {report.placed} placed, solver {report.solve_ms / 1000:.2f} s"
        )


if __name__ == "__main__":
    sys.exit(main())
