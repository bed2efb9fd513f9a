"""python -m benchmarks.api (or `python -m benchmarks --track api`, `suanchou bench --track
api`): does the API keep up? A real `suanchou server` process on 127.0.0.1:0, real gRPC
clients in up to 2 spawned processes (benchmarks.api.load says why), simulated agents calling
the real AgentService.Sync (benchmarks.api.agent), on SQLite and, with --postgres-url (or
$SUANCHOU_BENCH_POSTGRES_URL, else $SUANCHOU_TEST_POSTGRES_URL), on PostgreSQL:

- unary SubmitJobs (one job per call) from 1, 2, 4, 8, 16 concurrent clients: jobs/s, p50/p99;
- 1,000-item SubmitJobs batches: jobs/s;
- submit -> LEASED p50/p99 at a steady 50, 200 and 1,000 jobs/s offered with room for every
  job, the queue length over time and whether the scheduler keeps up;
- GetJob / ListJobs p50/p99 and the cycle's duration with 1k, 10k, 50k, 100k jobs queued;
- the server's RSS (VmRSS / VmHWM of its process) with every row.

Each group runs on a fresh database and server (benchmarks.api.phases). Writes table.txt,
results.csv, results.json, queue.csv and PNG plots under --out, and prints the tables and the
issue's targets (met, or missed by what factor). --quick: a 1-2 minute subset (no thresholds:
a benchmark, not a test). --profile: every group's server under cProfile
(benchmarks.api.profiled), the summary under --out. Every load loop is bounded by a count and a
deadline. Exit code 0; 1 if a group failed (the others' rows are still written); 2 for bad
arguments.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from benchmarks.api import phases
from benchmarks.api.load import MAX_PROCESSES
from benchmarks.api.plots import write_plots
from benchmarks.api.report import QueueSample, Results, Row, tables, verdicts, write
from benchmarks.api.server import LEASE_TIMEOUT_S, Databases
from benchmarks.arguments import positive
from benchmarks.measure import machine_info

ENV_POSTGRES = ("SUANCHOU_BENCH_POSTGRES_URL", "SUANCHOU_TEST_POSTGRES_URL")
DATABASES = ("sqlite", "postgresql")


@dataclass(frozen=True)
class Sizes:
    clients: tuple[int, ...]
    unary_calls: int  # per client
    unary_s: float
    batch_clients: int
    batch_calls: int  # per client
    batch_s: float
    rates: tuple[int, ...]
    lease_s: float
    drain_s: float
    levels: tuple[int, ...]
    probe_calls: int  # per client thread (4 threads per method)
    deadline_s: float  # any one load step


FULL = Sizes(
    clients=(1, 2, 4, 8, 16),
    unary_calls=5000,
    unary_s=15.0,
    batch_clients=2,
    batch_calls=15,
    batch_s=60.0,
    rates=(50, 200, 1000),
    lease_s=30.0,
    drain_s=60.0,
    levels=(1_000, 10_000, 50_000, 100_000),
    probe_calls=250,
    deadline_s=300.0,
)
QUICK = Sizes(
    clients=(1, 4, 16),
    unary_calls=500,
    unary_s=3.0,
    batch_clients=2,
    batch_calls=3,
    batch_s=20.0,
    rates=(50, 200),
    lease_s=5.0,
    drain_s=20.0,
    levels=(1_000, 10_000),
    probe_calls=50,
    deadline_s=60.0,
)


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma list of integers: {text[:40]!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"give positive integers, got {text[:40]!r}")
    return values


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.api",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="the 1-2 minute subset")
    p.add_argument(
        "--databases",
        default=",".join(DATABASES),
        help="comma list of sqlite, postgresql (default both; postgresql needs a URL)",
    )
    p.add_argument("--postgres-url", help=f"a PostgreSQL server to create databases on "
                   f"(default ${ENV_POSTGRES[0]}, else ${ENV_POSTGRES[1]})")  # fmt: skip
    p.add_argument(
        "--phases",
        default="unary,batch,lease,queue",
        help="comma list of unary, batch, lease, queue (default all)",
    )
    p.add_argument("--clients", type=_ints, help="unary: concurrent clients, e.g. 1,2,4,8,16")
    p.add_argument("--unary-seconds", type=positive(float), help="unary: window per level")
    p.add_argument("--rates", type=_ints, help="lease: offered jobs/s, e.g. 50,200,1000")
    p.add_argument("--lease-seconds", type=positive(float), help="lease: offered window per rate")
    p.add_argument("--levels", type=_ints, help="queue: jobs queued, e.g. 1000,10000")
    p.add_argument("--batch-calls", type=int, help="batch: 1,000-job calls per client")
    p.add_argument("--probe-calls", type=int, help="queue: GetJob/ListJobs calls per thread")
    p.add_argument("--profile", action="store_true", help="every group's server under cProfile")
    p.add_argument("--out", type=Path, default=Path("bench-results/api"), help="output folder")
    return p


def _sizes(args: argparse.Namespace) -> Sizes:
    base = QUICK if args.quick else FULL
    return Sizes(
        clients=args.clients or base.clients,
        unary_calls=base.unary_calls,
        unary_s=args.unary_seconds or base.unary_s,
        batch_clients=base.batch_clients,
        batch_calls=args.batch_calls or base.batch_calls,
        batch_s=base.batch_s,
        rates=args.rates or base.rates,
        lease_s=args.lease_seconds or base.lease_s,
        drain_s=base.drain_s,
        levels=args.levels or base.levels,
        probe_calls=args.probe_calls or base.probe_calls,
        deadline_s=base.deadline_s,
    )


def _choose(text: str, allowed: Sequence[str], flag: str, p: argparse.ArgumentParser) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names or any(n not in allowed for n in names):
        p.error(f"{flag}: a comma list of {', '.join(allowed)}, got {text[:60]!r}")
    return names


def run_database(setup: phases.Setup, sizes: Sizes, chosen: list[str], results: Results) -> None:
    """Every chosen group on one database; rows are appended (and reported) as they come."""

    def add(rows: list[Row], samples: Sequence[QueueSample] = ()) -> None:
        results.rows += rows
        results.samples += samples
        for r in rows:
            print(f"  {r.database} {r.phase} {r.level}: {r.rate} jobs/s, p99 {r.p99_ms} ms, "
                  f"load {r.load1}", file=sys.stderr)  # fmt: skip

    def unary(n: int) -> None:
        add([phases.unary(setup, n, sizes.unary_calls, sizes.unary_s)])

    def batch() -> None:
        add([phases.batch(setup, sizes.batch_clients, 1000, sizes.batch_calls, sizes.batch_s)])

    def lease(rate: int) -> None:
        row, samples = phases.lease(setup, rate, sizes.lease_s, sizes.drain_s)
        add([row], samples)

    def queue() -> None:
        add(phases.queue(setup, list(sizes.levels), sizes.probe_calls, sizes.deadline_s))

    steps: list[tuple[str, Callable[[], None]]] = []
    if "unary" in chosen:
        steps += [(f"unary, {n} clients", partial(unary, n)) for n in sizes.clients]
    if "batch" in chosen:
        steps.append(("batches of 1,000", batch))
    if "lease" in chosen:
        steps += [(f"submit -> LEASED at {r} jobs/s", partial(lease, r)) for r in sizes.rates]
    if "queue" in chosen:
        steps.append((f"queue depth {', '.join(map(str, sizes.levels))}", queue))
    for name, run in steps:
        print(f"{setup.databases.kind}: {name} ...", file=sys.stderr)
        try:
            run()
        except Exception as exc:  # one group's failure must not lose the others' rows
            failure = f"{setup.databases.kind}: {name}: {type(exc).__name__}: {exc}"[:300]
            print(f"  FAILED {failure}", file=sys.stderr)
            results.failures.append(failure)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    databases = _choose(args.databases, DATABASES, "--databases", parser)
    chosen = _choose(args.phases, ("unary", "batch", "lease", "queue"), "--phases", parser)
    postgres = args.postgres_url or next(
        (os.environ[k] for k in ENV_POSTGRES if os.environ.get(k)), None
    )
    if "postgresql" in databases and not postgres:
        if args.databases != ",".join(DATABASES):
            parser.error("postgresql: give --postgres-url or set " + ENV_POSTGRES[0])
        print("no PostgreSQL URL: SQLite only", file=sys.stderr)
        databases = [d for d in databases if d != "postgresql"]
    sizes = _sizes(args)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    machine = machine_info()  # before the run: its load average is the others' load
    results = Results(header={})
    # A stopping server may still remove its SQLite -wal/-shm files while the folder goes.
    with tempfile.TemporaryDirectory(
        prefix="suanchou-apibench-", ignore_cleanup_errors=True
    ) as tmp:
        for kind in databases:
            dbs = Databases(Path(tmp), postgres if kind == "postgresql" else None)
            profile = out / f"profile-{kind}" if args.profile else None
            try:
                run_database(phases.Setup(Path(tmp), dbs, profile), sizes, chosen, results)
            finally:
                dbs.drop_all()
    given = sys.argv[1:] if argv is None else list(argv)
    results.header = {
        "command": shlex.join(["python", "-m", "benchmarks.api", *given]),
        "started_at": started,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "load_avg_end": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "parameters": {
            **sizes.__dict__,
            "databases": databases,
            "phases": chosen,
            "client_processes_max": MAX_PROCESSES,
            "server": "suanchou server subprocess on 127.0.0.1:0, log level info, "
            f"lease timeout {LEASE_TIMEOUT_S:g} s" + (", under cProfile" if args.profile else ""),
        },
    }
    print(tables(results.rows))
    print("targets (issue 11, this 2-core machine):")
    print("\n".join(verdicts(results.rows)))
    paths = write(results, out) + write_plots(results.rows, results.samples, out)
    print(f"wrote {', '.join(str(p) for p in paths)}", file=sys.stderr)
    for failure in results.failures:
        print(f"FAILED {failure}")
    return 1 if results.failures else 0


if __name__ == "__main__":
    sys.exit(main())
