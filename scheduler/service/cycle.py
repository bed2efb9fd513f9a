"""The scheduling cycle: snapshot -> problem -> solve -> check -> one transaction.

RPC handlers never call the solver; they and the cycle meet only in storage. A cycle first
reaps (lost clusters, drained clusters), then places, and lands every lease of the cycle in a
single transaction so agents never see half a cycle.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import structlog

from scheduler.domain import reasons
from scheduler.domain.models import ClusterVerdict, Explanation, Job, Run
from scheduler.domain.states import JobState, RunState
from scheduler.placement import EngineParams, Outcome, check
from scheduler.service import preemption, reclaim
from scheduler.service.clock import Clock
from scheduler.service.cycle_devices import DeviceBook
from scheduler.service.cycle_solve import solve_cycle
from scheduler.service.evictions import Evictions, carry_out, find_evictions
from scheduler.service.explain import (
    SOLVER_REASONS,
    placed_message,
    preference_notes,
    stuck,
    unplaced_message,
    verdicts,
)
from scheduler.service.fair_share import IDLE_USAGE_SAVE_S
from scheduler.service.leadership import CycleTerm, Leadership
from scheduler.service.liveness import Liveness
from scheduler.service.policy import Policy, plan, quota_hold
from scheduler.service.problem_builder import BuiltProblem, build_problem
from scheduler.service.reaper import reap
from scheduler.service.settings import SchedulerSettings
from scheduler.service.snapshot import Snapshot, take_snapshot
from scheduler.service.solver_log import solver_ms, solver_progress
from scheduler.service.spread import Holds
from scheduler.state import Store, Tx
from scheduler.state.job_values import Move

log = structlog.get_logger("suanchou.cycle")


@dataclass(frozen=True)
class CycleReport:
    jobs: int
    placed: int
    requeued: int
    preempted: int
    objective: int
    bound: int
    status: str
    solve_ms: float
    total_ms: float
    # Wall milliseconds per phase (PHASES), for the cycle-cost benchmark and the log line.
    phases_ms: dict[str, float] = field(default_factory=dict)
    # The solver's own Timings (placement.outcome), every field, without the `_ms` suffix.
    solver_ms: dict[str, float] = field(default_factory=dict)

    @property
    def gap_pct(self) -> float:
        return 0.0 if self.bound <= 0 else 100.0 * (self.bound - self.objective) / self.bound


# The phases of one cycle, in order (CycleReport.phases_ms).
PHASES = ("reap", "snapshot", "build", "solve", "check", "persist")


class _Laps:
    """Wall time per phase: each `lap(name)` charges the time since the previous lap."""

    def __init__(self) -> None:
        self.start = self._last = time.perf_counter()
        self.ms: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.ms[name] = self.ms.get(name, 0.0) + (now - self._last) * 1000
        self._last = now

    def total_ms(self) -> float:
        return (time.perf_counter() - self.start) * 1000


class SchedulingCycle:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        settings: SchedulerSettings,
        started_at: datetime,
        liveness: Liveness | None = None,
        on_plan: Callable[[Snapshot, Policy], None] | None = None,
        fence: Leadership | None = None,
    ) -> None:
        self._store = store
        # Told each cycle's snapshot and policy (the metrics' pool gauges read them: capacity,
        # allocation and quota use at no extra database read).
        self._on_plan = on_plan
        self._clock = clock
        self._settings = settings
        self._started_at = started_at
        self._liveness = liveness or Liveness()
        # What ran or was queued at the last snapshot: the next one refreshes these jobs'
        # states alone.
        self._known: dict[str, Job] = {}
        # Jobs placed by preempting (AWAITING_PREEMPTION) -> their (cluster, node) per replica:
        # the next cycles keep them to that room (problem_builder, `nominated`). In memory: a
        # restarted scheduler lets them compete afresh, which is correct, only less sticky.
        self._nominated: dict[str, tuple[tuple[str, str], ...]] = {}
        # Several replicas (service.leadership): the term this process leads, noted when a
        # cycle begins; every write transaction of the cycle is checked against it.
        self._term = CycleTerm(fence)

    def run_once(self) -> CycleReport:
        laps = _Laps()
        self._begin_term()
        requeued = reap(
            self._store,
            self._clock,
            self._settings,
            self._started_at,
            self._liveness,
            self._term,
        )
        laps.lap("reap")
        with self._store.unit(write=False) as tx:
            snap = take_snapshot(
                tx,
                self._clock.now(),
                self._settings.lease_timeout_s,
                self._started_at,
                self._settings.max_jobs_per_cycle,
                self._liveness,
                self._known,
            )
        self._known = {job.job_id: job for job, _ in snap.running}
        self._known.update((job.job_id, job) for job in snap.queued)
        laps.lap("snapshot")
        policy = plan(snap, self._settings.fair_share_half_life_s, self._settings.gpu_value_weight)
        if self._on_plan is not None:
            self._on_plan(snap, policy)
        rules = preemption.rules_for(
            self._settings, snap.preempted_last_minute, snap.queued, bool(snap.stopping)
        )
        # With nothing queued there is nothing to place, but a lowered quota may still have to
        # be reclaimed.
        if not snap.queued and not reclaim.for_cycle(snap, policy, rules, snap.running):
            self._advance_usage(snap, policy)
            report = CycleReport(0, 0, requeued, 0, 0, 0, "EMPTY", 0.0, laps.total_ms(), laps.ms)
            if requeued:
                self._log(report)
            return report
        built = build_problem(
            snap,
            self._settings.gpu_value_weight,
            rules,
            policy,
            self._nominated,
            self._settings.gpu_packing,
        )
        laps.lap("build")
        outcome = self._solve(built, laps)
        with self._store.unit() as tx:
            self._term.check(tx)  # the fence: rolls back if deposed
            placed, preempted = self._persist(tx, snap, built, outcome, rules, policy)
        laps.lap("persist")
        report = CycleReport(
            jobs=len(built.jobs),
            placed=placed,
            requeued=requeued,
            preempted=preempted,
            objective=(outcome.value or 0) if outcome else 0,
            bound=outcome.upper_bound if outcome else 0,
            status=str(outcome.status) if outcome else "NO_NODES",
            solve_ms=outcome.timings.total_ms if outcome else 0.0,
            total_ms=laps.total_ms(),
            phases_ms=laps.ms,
            solver_ms=solver_ms(outcome.timings) if outcome else {},
        )
        self._log(report)
        return report

    def _begin_term(self) -> None:
        """A new term forgets what an earlier one remembered and gives every cluster a full
        lease timeout from now: its agent may have been talking to the previous leader."""
        if self._term.begin():
            self._known, self._nominated = {}, {}
            self._started_at = max(self._started_at, self._clock.now())

    def _solve(self, built: BuiltProblem, laps: _Laps) -> Outcome | None:
        """The engine's answer, or None when there is nothing to place on (no node at all)."""
        if built.problem is None:
            return None
        # Wall-clock bounded unless the settings ask for replayable decisions: a cycle must end
        # on time on a loaded machine. One worker leaves the other core to the RPC threads of
        # this process.
        # Stopping within 0.1% of the bound saves most of the budget on quiet cycles, where the
        # warm start (what already runs) plus a few placements is already that good.
        outcome = solve_cycle(
            built.problem,
            params=EngineParams(
                time_limit_s=self._settings.solver_time_limit_s,
                deterministic=self._settings.solver_deterministic,
                workers=1,
                gap_target=0.001,
                compact_gangs=self._settings.compact_gangs,
            ),
            warm_start=built.warm_start,
            progress=solver_progress,
            should_stop=self._term.lost,
        )
        laps.lap("solve")
        if outcome.notes:
            log.warning("solver_notes", notes=list(outcome.notes))
        if outcome.solution is not None:
            violations = check(built.problem, outcome.solution)
            laps.lap("check")
            if violations:
                # Never lease an answer the independent checker rejects; the jobs stay queued
                # and the next cycle tries again.
                log.error(
                    "cycle_rejected_solution", violations=violations[:20], count=len(violations)
                )
                return replace(outcome, solution=None)
        return outcome

    def _log(self, r: CycleReport) -> None:
        log.info(
            "cycle_completed",
            jobs=r.jobs,
            placed=r.placed,
            requeued=r.requeued,
            preempted=r.preempted,
            status=r.status,
            objective=r.objective,
            bound=r.bound,
            gap_pct=round(r.gap_pct, 3),
            solve_ms=round(r.solve_ms, 1),
            total_ms=round(r.total_ms, 1),
            phases_ms={k: round(v, 1) for k, v in r.phases_ms.items()},
            solver_ms={k: round(v, 1) for k, v in r.solver_ms.items()},
        )

    def _advance_usage(self, snap: Snapshot, policy: Policy) -> None:
        """With nothing queued the cycle writes nothing else: it stores decayed usage only when
        the oldest is IDLE_USAGE_SAVE_S old (well inside the accrual window, so nothing is
        lost), so most idle cycles stay read-only."""
        stored = snap.governance.usage
        stale = snap.now - timedelta(seconds=IDLE_USAGE_SAVE_S)
        if policy.usage and (
            set(policy.usage) - set(stored) or min(t for _, t in stored.values()) < stale
        ):
            with self._store.unit() as tx:
                self._term.check(tx)  # the fence: rolls back if deposed
                tx.fair_share.save(policy.usage, snap.now)

    def _persist(
        self,
        tx: Tx,
        snap: Snapshot,
        built: BuiltProblem,
        outcome: Outcome | None,
        rules: preemption.PreemptionRules,
        policy: Policy,
    ) -> tuple[int, int]:
        """Writes the cycle's answer; returns (jobs leased, jobs preempted)."""
        now = self._clock.now()
        placed = 0
        tx.fair_share.save(policy.usage, snap.now)
        tx.queue.set_effective(
            {
                j.seq: policy.priority[j.job_id]
                for j in built.jobs
                if policy.priority.get(j.job_id, j.effective_priority) != j.effective_priority
            }
        )
        held: list[tuple[Job, str, str, tuple[ClusterVerdict, ...]]] = []
        moved: list[Job] = []
        unplaced = {u.job: u for u in outcome.unplaced} if outcome else {}
        solution = outcome.solution if outcome else None
        evictions = find_evictions(built, solution) if solution else Evictions((), {})
        preempted = carry_out(tx, evictions.evicted, dict(snap.started), now)
        # Written together after the loop: thousands of queued jobs change reason per cycle.
        reasons_changed: list[tuple[Job, str, str]] = []
        explained: list[Explanation] = []
        nominated: dict[str, tuple[tuple[str, str], ...]] = {}
        book = DeviceBook(snap)
        # (job, message, cluster, node names, device ids per replica, verdicts) to lease.
        leases: list[
            tuple[Job, str, str, list[str], tuple[tuple[int, ...], ...], tuple[ClusterVerdict, ...]]
        ] = []
        for j, job in enumerate(built.jobs):
            nodes = solution.assignment[j] if solution else None
            if nodes is not None and j in evictions.held:
                # Placed on room preempted replicas still hold during their grace period.
                nominated[job.job_id] = tuple(
                    (built.nodes[n].cluster, built.nodes[n].name) for n in nodes
                )
                names = [f"{built.nodes[n].cluster}/{built.nodes[n].name}" for n in nodes]
                code = reasons.AWAITING_PREEMPTION
                message = preemption.awaiting_message(evictions.held[j], names)
                vs = verdicts(snap, job)
                reasons_changed.append((job, code, message))
                explained.append(Explanation(job.job_id, job.state, code, message, vs, now))
                continue
            if nodes is None and job.job_id in rules.waiting:
                if job.job_id in self._nominated:
                    nominated[job.job_id] = self._nominated[job.job_id]
                continue  # keeps AWAITING_PREEMPTION until the replicas it preempted stopped
            if nodes is None:
                u = unplaced.get(j)
                code = SOLVER_REASONS.get(u.reason, u.reason) if u else _default_reason(outcome)
                detail = u.detail if u else _default_detail(outcome)
                held.append((job, code, detail, verdicts(snap, job)))
                continue
            proposed = solution.devices[j] if solution and solution.devices else None
            ids, why = book.assign(job, [built.nodes[n] for n in nodes], proposed)
            if why:
                held.append((job, reasons.INSUFFICIENT_CAPACITY, why, verdicts(snap, job)))
                continue
            cluster = built.nodes[nodes[0]].cluster
            node_names = [built.nodes[n].name for n in nodes]
            vs = verdicts(snap, job, chosen=cluster)
            message = placed_message(job, cluster, node_names, vs)
            if note := preference_notes(job, cluster, snap, vs):
                message = f"{message}; {note}"
            leases.append((job, message, cluster, node_names, ids, vs))
        # Every lease of the cycle in a few statements (Jobs.move_many); a job cancelled since
        # the snapshot is left out.
        outcomes = tx.jobs.move_many(
            [
                Move(job, JobState.LEASED, reasons.PLACED, message, cluster, job.attempt + 1)
                for job, message, cluster, *_ in leases
            ],
            now,
        )
        runs: list[Run] = []
        for (job, message, cluster, node_names, ids, vs), lease in zip(
            leases, outcomes, strict=True
        ):
            if lease is None:
                continue  # cancelled since the snapshot
            moved.append(lease)
            runs.extend(
                Run(
                    run_id=str(uuid.uuid4()),
                    job_id=job.job_id,
                    attempt=lease.attempt,
                    replica=i,
                    cluster=cluster,
                    node=node,
                    state=RunState.LEASED,
                    created_at=now,
                    devices=ids[i],
                )
                for i, node in enumerate(node_names)
            )
            explained.append(
                Explanation(job.job_id, JobState.LEASED, reasons.PLACED, message, vs, now)
            )
            placed += 1
        tx.runs.insert(runs)
        holds = Holds(snap)
        for job, code, detail, vs in held:
            message = unplaced_message(detail, vs)
            if code in _QUOTA_MAY_HOLD:
                eligible = frozenset(v.cluster for v in vs if v.eligible)
                quota = quota_hold(job, eligible, policy.quotas, moved)
                if quota is not None:
                    code, message = reasons.QUOTA_EXHAUSTED, quota
            if (topology := holds.why(job, code)) is not None:
                code, message = topology
            blocked = stuck(vs)
            if blocked is not None:
                code, message = blocked
            if (code, message) != (job.reason, job.message):
                reasons_changed.append((job, code, message))
                explained.append(Explanation(job.job_id, job.state, code, message, vs, now))
        tx.jobs.set_reasons(reasons_changed, now)
        tx.explanations.put_many(explained)
        # Kept for one more cycle: the one after its victims stopped places it in their room.
        self._nominated = nominated
        return placed, preempted


# Solver answers a quota can be the real cause of (the solver's own quota reasons do not know
# cluster groups or department names; structural ones stand).
_QUOTA_MAY_HOLD = frozenset(
    {reasons.INSUFFICIENT_CAPACITY, reasons.QUOTA_EXHAUSTED, reasons.OUTRANKED}
)


def _default_reason(outcome: Outcome | None) -> str:
    return reasons.NO_ELIGIBLE_CLUSTER if outcome is None else reasons.INSUFFICIENT_CAPACITY


def _default_detail(outcome: Outcome | None) -> str:
    if outcome is None:
        return "no schedulable cluster has reported nodes"
    return "not placed this cycle"
