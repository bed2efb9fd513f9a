"""python -m benchmarks.cycle_cost: what one scheduling cycle costs with a long queue.

Builds a pool through the service layer (a SQLite file in a temporary directory, or
--database-url), submits --jobs one-core jobs in batches of 100 onto --clusters one-node
clusters (4 cores each, so almost all stay queued), and times two cycles: the first evaluates
every queued job, the second re-evaluates them. Prints wall seconds per cycle and the solver's
share, from the cycle's own report.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence

from scheduler.domain.models import ClusterSpec, JobSpec, Node
from scheduler.service.admin import AdminService
from scheduler.service.agent_sync import AgentSyncService
from scheduler.service.clock import ManualClock
from scheduler.service.cycle import SchedulingCycle
from scheduler.service.jobs import JobsService
from scheduler.service.settings import SchedulerSettings
from scheduler.state import Store


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cycle_cost", description=__doc__)
    p.add_argument("--database-url", help="default: SQLite in a temporary directory (empty db)")
    p.add_argument("--jobs", type=int, default=5000)
    p.add_argument("--clusters", type=int, default=3)
    args = p.parse_args(argv)
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='suanchou-cycle-')}/x.db"
    store = Store(url)
    clock = ManualClock()
    settings = SchedulerSettings()
    started = clock.now()
    admin = AdminService(store, clock, settings, started)
    jobs = JobsService(store, clock, settings)
    agents = AgentSyncService(store, clock, settings)
    cycle = SchedulingCycle(store, clock, settings, started)
    admin.create_department("d", "d")
    for c in range(args.clusters):
        admin.register_cluster(ClusterSpec(name=f"c{c}", region="hz", security_level=3))
        agents.sync(f"c{c}", "a", [Node(f"c{c}", "n", {"cpu": 4000, "memory": 8192}, {})], [])
    for b in range(0, args.jobs, 100):
        batch = [
            JobSpec(client_id=f"j{b + i}", command=("true",), resources={"cpu": 1000, "memory": 64})
            for i in range(min(100, args.jobs - b))
        ]
        jobs.submit("d", batch)
    for name in ("first", "second"):
        t = time.perf_counter()
        report = cycle.run_once()
        print(
            f"{name} cycle: {time.perf_counter() - t:.2f} s wall, {report.jobs} queued jobs "
            f"considered, {report.placed} placed, solver {report.solve_ms / 1000:.2f} s"
        )
    store.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
