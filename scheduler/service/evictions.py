"""Carrying out the evictions of one cycle's answer, in the cycle's transaction.

An evicted job goes back to the queue (LEASED/RUNNING -> QUEUED, reason PREEMPTED, naming who
needed the room) without spending an attempt (outcomes.failed_attempts), and its runs become
STOPPING: the agent is told to stop them (Sync `cancel`: SIGTERM, SIGKILL after its grace
period) and they keep their nodes' capacity until it reports them ended. Jobs the answer put on
an evicted job's nodes are not leased yet: they stay queued (AWAITING_PREEMPTION) and a later
cycle places them once the room is really free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from scheduler.domain import reasons
from scheduler.domain.models import Explanation, Job
from scheduler.domain.states import PREEMPTABLE_RUNS, JobState, RunState
from scheduler.placement import Solution
from scheduler.service.preemption import Eviction, eviction_message
from scheduler.service.problem_builder import BuiltProblem
from scheduler.state import Tx

log = structlog.get_logger("suanchou.cycle")
# A stopping run's message starts with this; what follows is its job's PREEMPTED message.
STOPPING_PREFIX = "stopping: "


@dataclass(frozen=True)
class Evictions:
    evicted: tuple[Eviction, ...]
    # queued job index -> preempted replicas on the nodes it was placed on
    held: dict[int, int]


def find_evictions(built: BuiltProblem, solution: Solution) -> Evictions:
    """The running jobs `solution` leaves out, and the queued jobs placed on their nodes."""
    p = built.problem
    if p is None or not built.running:
        return Evictions((), {})
    first = len(built.jobs)
    freed: dict[int, list[int]] = {}  # node -> evicted running indices
    for k in range(len(built.running)):
        current = p.job_current[first + k]
        if current is not None and solution.assignment[first + k] is None:
            for n in current:
                freed.setdefault(n, []).append(k)
    if not freed:
        return Evictions((), {})
    takers: dict[int, list[Job]] = {}
    held: dict[int, int] = {}
    for j, job in enumerate(built.jobs):
        nodes = solution.assignment[j]
        if nodes is None:
            continue
        victims = {k for n in set(nodes) for k in freed.get(n, ())}
        if victims:
            held[j] = sum(1 for n in set(nodes) for _ in freed.get(n, ()))
            for k in victims:
                takers.setdefault(k, []).append(job)
    evicted = []
    for k in sorted({k for ks in freed.values() for k in ks}):
        job = built.running[k]
        where = tuple(
            (built.nodes[n].cluster, built.nodes[n].name) for n in p.job_current[first + k] or ()
        )
        # A job of a reclaimed quota left out was left out for it, whichever the engine took.
        lowered = next((r.note() for r in built.reclaims if r.covers(job, where[0][0])), "")
        evicted.append(Eviction(job, where, tuple(takers.get(k, ())), lowered))
    return Evictions(tuple(evicted), held)


def carry_out(
    tx: Tx, evicted: Sequence[Eviction], started: dict[str, datetime], now: datetime
) -> int:
    """Requeues each evicted job and sets its runs STOPPING; returns the jobs preempted (one
    that finished or was cancelled since the snapshot is left alone)."""
    if not evicted:
        return 0
    tx.jobs.lock(e.job.job_id for e in evicted)  # job rows before run rows (Jobs.lock)
    count = 0
    for e in evicted:
        message = eviction_message(e, now, started.get(e.job.job_id))
        moved = tx.jobs.move(
            e.job,
            JobState.QUEUED,
            reason=reasons.PREEMPTED,
            message=message,
            now=now,
            node=e.nodes[0][1] if e.nodes else "",
        )
        if moved is None:
            continue
        count += 1
        for run in tx.runs.for_job(e.job.job_id, e.job.attempt):
            if run.state in PREEMPTABLE_RUNS:
                tx.runs.transition(
                    run.run_id,
                    RunState.STOPPING,
                    expected=[run.state],
                    message=STOPPING_PREFIX + message,
                )
        tx.explanations.put(
            Explanation(e.job.job_id, JobState.QUEUED, reasons.PREEMPTED, message, (), now)
        )
        log.info(
            "job_preempted",
            job_id=e.job.job_id,
            department=e.job.department,
            attempt=e.job.attempt,
            by=[t.job_id for t in e.takers],
            lowered_quota=bool(e.lowered),
        )
    return count
