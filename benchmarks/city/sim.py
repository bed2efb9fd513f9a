"""The event loop every policy shares: simulated time, arrivals, the agents' timing.

Time moves in cycle ticks (every `cycle_s` simulated seconds), but only to ticks at which
something happens: a job arrives or a run's duration has elapsed. At such a tick the simulated
agents report the runs that ended (their capacity is free from this tick on), the arrivals are
submitted, and the policy decides once, if any job waits: a real scheduler runs its cycle on
such events and at most once per interval, and a cycle with an empty queue places nothing. A
tick with no event is skipped: nothing changed, so a real scheduler would decide the same (the
real cycle's solver, bounded by time, may place a little more when given another try; the loop
allows it a few idle retries before it declares the remaining jobs unplaceable). A started
replica runs for exactly its job's duration unless the policy preempts it; a preempted job
waits again (its first start still counts for its wait) and its run so far is work lost.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from benchmarks.city.trace import Trace, TraceJob

IDLE_RETRIES = 3


@dataclass(frozen=True)
class Start:
    job_id: str
    cluster: str


@dataclass(frozen=True)
class Decision:
    """What one decision did: the jobs that start, each in one cluster, and the running jobs
    it preempted (they go back to their queue)."""

    starts: list[Start] = field(default_factory=list)
    preempted: list[str] = field(default_factory=list)


class Policy(Protocol):
    name: str

    def submit(self, jobs: Sequence[TraceJob], now: float) -> None:
        """New arrivals at `now` (simulated seconds from the start of the trace)."""
        ...

    def finish(self, jobs: Sequence[TraceJob], now: float) -> None:
        """Jobs whose every replica ended by `now` (their agents report them succeeded)."""
        ...

    def schedule(self, now: float) -> Decision:
        """One decision at `now`."""
        ...

    def close(self) -> None: ...


@dataclass
class JobRecord:
    job: TraceJob
    start_s: float | None = None  # the first start
    end_s: float | None = None  # last start + duration, once it ran to the end
    freed_s: float | None = None  # the tick at which its capacity was released
    cluster: str = ""
    running_since: float | None = None
    preemptions: int = 0
    lost_s: float = 0.0  # run time thrown away by preemptions (per replica)
    # Preempted runs: (start, end, cluster).
    held: list[tuple[float, float, str]] = field(default_factory=list)

    def wait_s(self, cutoff: float) -> float:
        """Arrival to first start; a job that never started has waited until `cutoff`."""
        start = self.start_s if self.start_s is not None else cutoff
        return max(0.0, start - self.job.arrival_s)

    def spans(self, cutoff: float) -> list[tuple[float, float]]:
        """The periods in which its replicas held capacity (the last one open until cutoff)."""
        return [(start, end) for start, end, _ in self.placed_spans(cutoff)]

    def placed_spans(self, cutoff: float) -> list[tuple[float, float, str]]:
        """`spans` with the cluster each ran on."""
        out = list(self.held)
        if self.running_since is not None:
            out.append((self.running_since, cutoff, self.cluster))
        elif self.freed_s is not None and self.end_s is not None:
            out.append((self.end_s - self.job.duration_s, self.freed_s, self.cluster))
        return out


@dataclass
class Result:
    policy: str
    trace: Trace
    records: dict[str, JobRecord]
    end_s: float  # simulated time at which the loop stopped
    wall_s: float
    decisions: int
    decision_wall_s: list[float] = field(default_factory=list)
    cycle_s: float = 60.0

    @property
    def finished(self) -> int:
        return sum(1 for r in self.records.values() if r.freed_s is not None)


def run(policy: Policy, trace: Trace, cycle_s: float = 60.0, max_factor: float = 4.0) -> Result:
    """Replays `trace` under `policy` until every job has finished, no job can ever start, or
    `max_factor` x the trace's period has passed."""
    t0 = time.perf_counter()
    records = {j.job_id: JobRecord(j) for j in trace.jobs}
    arrivals = list(trace.jobs)  # sorted by arrival
    nxt = 0
    # (tick at which its capacity is free, job_id, the job's start): a preempted job's entry
    # stays in the heap and is recognised as stale by its start.
    ends: list[tuple[float, str, float]] = []
    running = 0
    queued = 0
    idle = 0
    decisions = 0
    walls: list[float] = []
    now = 0.0
    # The tick after a decision that preempted: its victims have stopped by then (within the
    # agents' grace period), and the room they held is placed, as a real scheduler cycles on.
    wake: float | None = None
    limit = trace.horizon_s * max_factor
    while nxt < len(arrivals) or running or queued:
        candidates = [] if wake is None else [wake]
        wake = None
        if nxt < len(arrivals):
            candidates.append(arrivals[nxt].arrival_s)
        if ends:
            candidates.append(ends[0][0])
        if candidates:
            now = max(now, math.ceil(min(candidates) / cycle_s) * cycle_s)
            idle = 0
        else:
            idle += 1  # jobs queued, nothing runs and nothing arrives
            if idle > IDLE_RETRIES:
                break
            now += cycle_s
        if now > limit:
            break
        done = []
        while ends and ends[0][0] <= now:
            _, job_id, started = heapq.heappop(ends)
            rec = records[job_id]
            if rec.running_since != started:
                continue  # preempted since
            rec.freed_s, rec.running_since = now, None
            running -= 1
            done.append(rec.job)
        if done:
            policy.finish(done, now)
        new = []
        while nxt < len(arrivals) and arrivals[nxt].arrival_s <= now:
            new.append(arrivals[nxt])
            nxt += 1
        if new:
            policy.submit(new, now)
            queued += len(new)
        if not queued:
            continue  # nothing waits: a cycle would place nothing
        d0 = time.perf_counter()
        decision = policy.schedule(now)
        walls.append(time.perf_counter() - d0)
        decisions += 1
        if decision.preempted:
            wake = now + cycle_s
        for job_id in decision.preempted:
            rec = records[job_id]
            if rec.running_since is None:
                raise RuntimeError(f"{policy.name} preempted {job_id}, which does not run")
            rec.held.append((rec.running_since, now, rec.cluster))
            rec.lost_s += now - rec.running_since
            rec.preemptions += 1
            rec.running_since, rec.end_s, rec.cluster = None, None, ""
            running -= 1
            queued += 1
        for s in decision.starts:
            rec = records[s.job_id]
            if rec.running_since is not None or rec.freed_s is not None:
                raise RuntimeError(f"{policy.name} started {s.job_id} twice")
            if rec.start_s is None:
                rec.start_s = now
            rec.running_since, rec.cluster = now, s.cluster
            rec.end_s = now + rec.job.duration_s
            heapq.heappush(ends, (math.ceil(rec.end_s / cycle_s) * cycle_s, s.job_id, now))
            running += 1
        queued -= len(decision.starts)
        if decision.starts:
            idle = 0
    policy.close()
    return Result(
        policy.name, trace, records, now, time.perf_counter() - t0, decisions, walls, cycle_s
    )
