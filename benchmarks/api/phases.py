"""The measurement groups, each on a fresh database and a fresh server process.

- unary: `clients` clients each sending SubmitJobs of one job back to back;
- batch: clients sending SubmitJobs of 1,000 jobs back to back;
- lease: an open-loop submitter offering `rate` jobs/s (a SubmitJobs of rate/10 jobs every
  0.1 s: the scheduler's pace is measured, not the unary call's), agents with room for every
  job that report each run SUCCEEDED a second after its lease: submit -> LEASED (the LEASED
  event the cycle commits, against the client's send time), submit -> lease received by the
  agent, and the queue length over time;
- queue: the queue filled with 1,000-job batches to each level in turn (no room: the one small
  node is full), then GetJob and ListJobs from several clients while the cycle keeps running
  over the queue, and the cycles' durations from the server's `cycle_completed` lines.

The submit groups run with one small cluster whose simulated agent holds its runs forever,
so every job is accepted (a cluster could run it) and the queue grows, with the cycle running
as it does in production: submits wake it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.api.agent import SimAgent
from benchmarks.api.load import (
    MAX_PROCESSES,
    Outcome,
    closed_loop,
    in_processes,
    paced,
    reads,
    split,
)
from benchmarks.api.report import QueueSample, Row, keeps_up, percentile
from benchmarks.api.server import Databases, JobCounter, ServerProcess, seed

DEPARTMENTS = 4
SYNC_WAIT_S = 120.0
# The submit groups: one node of 4 cores takes 40 jobs of 0.1 core, the rest queue.
SMALL_NODE = {"cpu": 4000, "memory": 8192}
# The lease group: 4 clusters of 2 nodes of 256 cores / 1 TiB: ~20,000 jobs at once.
BIG_NODE = {"cpu": 256_000, "memory": 1_048_576}
LEASE_CLUSTERS, LEASE_NODES, LEASE_RUN_S = 4, 2, 1.0
TICK_S = 0.1
SAMPLE_EVERY_S = 0.5
CYCLES_PER_LEVEL = 3


@dataclass(frozen=True)
class Setup:
    work: Path
    databases: Databases
    # Each group's server under cProfile (benchmarks.api.profiled).
    profile: Path | None = None


@dataclass
class Group:
    database: str
    server: ServerProcess
    tokens: list[str]
    agents: list[SimAgent]
    counter: JobCounter

    def stored(self) -> int:
        return sum(self.counter.by_state().values())

    def row(self, phase: str, level: int, out: Outcome, cpu0: float, **extra: object) -> Row:
        rss, hwm = self.server.memory_mib()
        seconds = out.seconds or 1e-9
        return Row(
            database=self.database,
            phase=phase,
            level=level,
            seconds=round(out.seconds, 2),
            calls=out.calls,
            jobs_acked=out.acked,
            jobs_stored=self.stored(),
            errors=sum(out.errors.values()),
            error_codes=" ".join(f"{k}:{v}" for k, v in sorted(out.errors.items()) if v),
            rate=round(out.acked / seconds, 1),
            p50_ms=_r(percentile(out.latencies_ms, 50)),
            p99_ms=_r(percentile(out.latencies_ms, 99)),
            server_cpu_s=round(self.server.cpu_s() - cpu0, 2),
            rss_mib=round(rss, 1),
            hwm_mib=round(hwm, 1),
            load1=round(os.getloadavg()[0], 2),
            **extra,  # type: ignore[arg-type]
        )


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


@contextmanager
def group(
    setup: Setup,
    name: str,
    clusters: int,
    nodes: int,
    capacity: dict[str, int],
    run_s: float | None,
    profile: Path | None = None,
) -> Iterator[Group]:
    url = setup.databases.fresh(name)
    pool = seed(url, DEPARTMENTS, clusters)
    if profile is not None:  # one set of files per group: <profile>-<group>.*
        profile = profile.with_name(f"{profile.name}-{name}")
    server = ServerProcess(setup.work, url, name, profile)
    agents: list[SimAgent] = []
    counter = JobCounter(url)
    try:
        for cluster, token in pool.agents:
            agents.append(SimAgent(server.address, cluster, token, nodes, capacity, run_s))
            agents[-1].start()
        for agent in agents:
            if not agent.wait_synced(SYNC_WAIT_S):
                raise RuntimeError(f"agent {agent.cluster} never synced; see {server.log}")
        yield Group(setup.databases.kind, server, [t for _, t in pool.departments], agents, counter)
    finally:
        for agent in agents:
            agent.stop()
        server.stop()
        counter.close()


def unary(setup: Setup, clients: int, calls: int, seconds: float) -> Row:
    """`clients` concurrent clients, one job per SubmitJobs, `calls` each or `seconds`."""
    with group(setup, f"unary{clients}", 1, 1, SMALL_NODE, None, setup.profile) as g:
        cpu0 = g.server.cpu_s()
        per = [
            (g.server.address, g.tokens, threads, f"u{clients}p{i}", 1, calls, seconds)
            for i, threads in enumerate(split(clients, MAX_PROCESSES))
        ]
        out = in_processes(closed_loop, per, seconds + 120)
        return g.row("unary", clients, out, cpu0)


def batch(setup: Setup, clients: int, items: int, calls: int, seconds: float) -> Row:
    """`clients` clients sending `items`-job SubmitJobs back to back."""
    with group(setup, f"batch{items}", 1, 1, SMALL_NODE, None, setup.profile) as g:
        cpu0 = g.server.cpu_s()
        per = [
            (g.server.address, g.tokens, threads, f"b{i}", items, calls, seconds)
            for i, threads in enumerate(split(clients, MAX_PROCESSES))
        ]
        out = in_processes(closed_loop, per, seconds + 120)
        return g.row("batch", items, out, cpu0)


class Sampler(threading.Thread):
    """The queue length every SAMPLE_EVERY_S, read from the database."""

    def __init__(self, counter: JobCounter, database: str, rate: int) -> None:
        super().__init__(name="queue-sampler", daemon=True)
        self.counter, self.database, self.rate = counter, database, rate
        self.samples: list[QueueSample] = []
        self.begin = time.monotonic()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            states = self.counter.by_state()
            self.samples.append(
                QueueSample(
                    self.database,
                    self.rate,
                    round(time.monotonic() - self.begin, 2),
                    states.get("QUEUED", 0),
                    states.get("LEASED", 0) + states.get("RUNNING", 0),
                )
            )
            self._halt.wait(SAMPLE_EVERY_S)

    def stop(self) -> None:
        self._halt.set()
        self.join(30)


def lease(setup: Setup, rate: int, seconds: float, drain_s: float) -> tuple[Row, list[QueueSample]]:
    """`rate` jobs/s offered for `seconds`, then up to `drain_s` for the queue to empty."""
    with group(
        setup, f"lease{rate}", LEASE_CLUSTERS, LEASE_NODES, BIG_NODE, LEASE_RUN_S, setup.profile
    ) as g:
        cpu0 = g.server.cpu_s()
        offset = g.server.log_size()
        sampler = Sampler(g.counter, g.database, rate)
        sampler.start()
        args = (g.server.address, g.tokens, rate, TICK_S, seconds, f"l{rate}")
        out = in_processes(paced, [args], seconds + 120)
        ended = time.monotonic()
        backlog_end = g.counter.by_state().get("QUEUED", 0)
        drained: float | None = None
        while time.monotonic() - ended < drain_s:
            if g.counter.by_state().get("QUEUED", 0) == 0:
                drained = round(time.monotonic() - ended, 2)
                break
            time.sleep(0.2)
        # The last leases reach their agents within a sync interval.
        time.sleep(1.5)
        sampler.stop()
        cycles, phases_ms = g.server.cycles_ms(offset)
        leased_at = g.counter.leased_at()
        delivered = {j: at for a in g.agents for j, at in a.delivered.items()}
        to_lease = [(leased_at[j] - s) * 1000 for j, s in out.sent_at.items() if j in leased_at]
        to_agent = [(delivered[j] - s) * 1000 for j, s in out.sent_at.items() if j in delivered]
        samples = sampler.samples
        row = g.row(
            "lease",
            rate,
            out,
            cpu0,
            delivered_p50_ms=_r(percentile(to_agent, 50)),
            delivered_p99_ms=_r(percentile(to_agent, 99)),
            leased=len(to_lease),
            skipped=out.skipped,
            lag_s=round(out.lag_s, 2),
            backlog_max=max((s.queued for s in samples), default=0),
            backlog_end=backlog_end,
            drain_s=drained,
            kept_up=keeps_up(rate, backlog_end, drained)
            and len(to_lease) == out.acked
            and out.skipped == 0,
            cycles=len(cycles),
            cycle_p50_ms=_r(percentile(cycles, 50)),
            cycle_max_ms=_r(max(cycles, default=None)),
            cycle_phases_ms=phases_ms,
        )
        # rate: acknowledged jobs over the window until the last call returned (below the
        # offered rate when the server fell behind). The row's latency is submit -> LEASED.
        row.p50_ms, row.p99_ms = _r(percentile(to_lease, 50)), _r(percentile(to_lease, 99))
        return row, samples


def queue(setup: Setup, levels: list[int], probe_calls: int, seconds: float) -> list[Row]:
    """Fills the queue to each level in turn with 1,000-job batches; at each, GetJob and
    ListJobs latency and the cycles' durations."""
    rows = []
    with group(setup, "queue", 1, 1, SMALL_NODE, None, setup.profile) as g:
        total = Outcome()
        for level in levels:
            missing = max(1, level - total.acked)
            items = min(1000, missing)
            calls = split(-(-missing // items), MAX_PROCESSES)
            per = [
                (g.server.address, g.tokens, 1, f"q{level}p{i}", items, n, seconds)
                for i, n in enumerate(calls)
            ]
            fill = in_processes(closed_loop, per, seconds + 120)
            total.merge(fill)
            cpu0 = g.server.cpu_s()
            offset = _after_cycles(g.server, g.server.log_size(), 1, seconds)
            probes = [
                # The fill's jobs are all the first department's (one thread per process).
                (g.server.address, g.tokens[:1], 2, method, total.job_ids, probe_calls, seconds)
                for method in ("GetJob", "GetJob", "ListJobs", "ListJobs")
            ]
            got = in_processes(reads, probes[:2], seconds + 120)
            listed = in_processes(reads, probes[2:], seconds + 120)
            _after_cycles(g.server, offset, CYCLES_PER_LEVEL, seconds)
            cycles, phases_ms = g.server.cycles_ms(offset)
            window = Outcome(calls=got.calls + listed.calls, acked=total.acked)
            window.errors = got.errors + listed.errors
            window.seconds = got.seconds + listed.seconds
            row = g.row(
                "queue",
                level,
                window,
                cpu0,
                get_p50_ms=_r(percentile(got.latencies_ms, 50)),
                get_p99_ms=_r(percentile(got.latencies_ms, 99)),
                list_p50_ms=_r(percentile(listed.latencies_ms, 50)),
                list_p99_ms=_r(percentile(listed.latencies_ms, 99)),
                cycles=len(cycles),
                cycle_p50_ms=_r(percentile(cycles, 50)),
                cycle_max_ms=_r(max(cycles, default=None)),
                cycle_phases_ms=phases_ms,
            )
            # The rate of the 1,000-job batches that filled the queue to this level.
            row.rate = round(fill.acked / (fill.seconds or 1e-9), 1)
            rows.append(row)
    return rows


def _after_cycles(server: ServerProcess, offset: int, count: int, seconds: float) -> int:
    """Waits (at most `seconds`) until `count` cycles completed after log `offset`; returns the
    offset after the first of them (the cycles from then on began after `offset`)."""
    deadline = time.monotonic() + seconds
    first = None
    while time.monotonic() < deadline:
        entries, _ = server.entries(offset)
        ends = [e for e in entries if e.get("event") == "cycle_completed"]
        if ends and first is None:
            first = _offset_after(server, offset, 1)
        if len(ends) >= count:
            break
        time.sleep(0.2)
    return first if first is not None else server.log_size()


def _offset_after(server: ServerProcess, offset: int, count: int) -> int:
    """The log offset just after the `count`-th cycle_completed line from `offset`."""
    with server.log.open("rb") as f:
        f.seek(offset)
        data = f.read()
    seen, position = 0, 0
    for line in data.splitlines(keepends=True):
        position += len(line)
        if b'"cycle_completed"' in line:
            seen += 1
            if seen == count:
                return offset + position
    return offset + position
