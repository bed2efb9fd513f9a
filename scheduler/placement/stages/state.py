"""One solve's state -- problem index, pool, bound -- and the budgets and gap target every
stage reads."""

from __future__ import annotations

import math
import time

from scheduler.placement.cpsat.objective import TermWeights
from scheduler.placement.cpsat.scope import job_classes
from scheduler.placement.cpsat.solver import SearchLimits
from scheduler.placement.index.facts import Facts
from scheduler.placement.judges.scale import job_work
from scheduler.placement.lp.bound import LpBound
from scheduler.placement.model.params import WALL_PER_DET, EngineParams, Progress, ShouldStop
from scheduler.placement.model.problem import Problem, Solution
from scheduler.placement.stages.pool import Clock, Pool

# Non-deterministic mode: the time kept for explanations at the end (measured: 2 s for the
# 63,000 unplaced jobs of the synthetic L city, 0.3 s at M), at most a share of the limit.
_EXPLAIN_S_PER_JOB = 4e-5
_EXPLAIN_SHARE = 0.15
# Job moves the rounding's local search tries per second (synthetic M city: 10,000 moves in
# about 2 s), to turn a deterministic share of time_limit_s into a move budget.
MOVES_PER_S = 4_000
# Non-deterministic mode: the share of time_limit_s kept back from the search, so that the
# overshoot of its last step (a CP-SAT piece's build and presolve, its stop, the final check)
# stays inside the limit. Measured before it: 1.01-1.02 s at 1 s (GAP gap8), up to 10.2 s at
# 10 s (GAP c20200) on the loaded 2-core machine; with it 0.95-0.96 s and 9.44-9.74 s (one
# exact CP-SAT run 10.00 s) under load averages of 3.5-5.5. The overshoot is a last step's,
# so it grows with the problem, not with the limit: the margin is at most _WALL_MARGIN_S plus
# _WALL_MARGIN_S_PER_JOB per job (an early version overran a 300-s limit by 0.2 s at 50,000
# jobs x 5,000 nodes, ROADEF B/X size, with 15 s kept: 3e-4 s a job; 0.5 s at most at 10 s
# above). A 300-s run of ROADEF set A's 1,000 processes keeps 2.3 s, not 15.
_WALL_MARGIN_SHARE = 0.05
_WALL_MARGIN_S = 2.0
_WALL_MARGIN_S_PER_JOB = 3e-4


def wall_margin(limit_s: float, jobs: int) -> float:
    """Seconds of a wall-clock limit kept for the last step's overshoot: a share of the
    limit, at most what a problem of `jobs` jobs needs (_WALL_MARGIN_S_PER_JOB)."""
    return min(limit_s * _WALL_MARGIN_SHARE, _WALL_MARGIN_S + jobs * _WALL_MARGIN_S_PER_JOB)


class RunState:
    """One solve's state: the pool, the bound, the budgets; the stages are its subclasses'."""

    def __init__(
        self,
        p: Problem,
        params: EngineParams,
        emit: Progress,
        clock: Clock,
        should_stop: ShouldStop | None = None,
    ) -> None:
        self.p = p
        self.params = params
        self.emit = emit
        self.clock = clock
        self._caller_stop = should_stop
        # What the searches ask between steps and at CP-SAT solutions: None without a caller's
        # hook, so that a solve without one runs exactly as before (no callback in CP-SAT).
        self.should_stop: ShouldStop | None = None if should_stop is None else self._asked_to_stop
        self.stop_requested = False  # the caller's should_stop said True
        t = time.perf_counter()
        self.facts = Facts(p)
        self.terms = TermWeights.of(p, params.weights)
        self.work = job_work(p)
        clock.add("build", t)
        self.pool = Pool(p, params, emit)
        self.upper: int | None = None
        self.proven_infeasible = False
        self.priced = False  # the regret start gave a bound (regret.py)
        self.greedy: tuple[str, int] | None = None
        self.lp: LpBound | None = None
        # The all-placed bound (lp/all_placed.py) was tried once the best answer placed every
        # job; `floor_bounded`: it held, so the upper bound's cost part is at least its floor
        # (any bound <= it whose work is all the work), a real cost bound.
        self.all_placed_tried = False
        self.floor_bounded = False
        self.queue_filled = False  # the queue stage's best fit ran (construct.py)
        # The repaired warm start when it is good (_GOOD_WARM_KEPT): the focused search starts
        # from what it leaves open.
        self.warm: Solution | None = None
        # Deterministic seconds charged to the search budget by the stages so far: the focused
        # search, the walks and the rounds after the first, LNS's share before the migration
        # polish and the polish (_budget_left is what the next one gets).
        self.charged_s = 0.0
        self._pairs: int | None = None

    def _all_placed(self) -> bool:
        best = self.pool.best
        return best is not None and all(a is not None for a in best.solution.assignment)

    def _remaining(self) -> float:
        """Wall seconds left of time_limit_s (non-deterministic mode's budget), less the
        margin for the last step's overshoot (wall_margin)."""
        limit = self.params.time_limit_s - wall_margin(self.params.time_limit_s, self.p.num_jobs)
        return max(0.0, limit - self.clock.elapsed_s())

    def _search_budget(self) -> float:
        """Seconds for CP-SAT / LNS: all of time_limit_s in deterministic mode (elapsed wall
        time would make the answer depend on the machine's load), else what is left after a
        reserve for the explanations."""
        params = self.params
        if params.deterministic:
            return params.time_limit_s
        return max(0.05, self._remaining() - self._explain_reserve())

    def _budget_left(self) -> float:
        """The search budget less what the stages before charged to it in deterministic mode
        (charged_s); non-deterministic mode's budget is the wall time left, so already net."""
        budget = self._search_budget()
        return budget - self.charged_s if self.params.deterministic else budget

    def _explain_reserve(self) -> float:
        """Wall seconds kept at the end for the explanations."""
        return min(self.params.time_limit_s * _EXPLAIN_SHARE, self.p.num_jobs * _EXPLAIN_S_PER_JOB)

    def _out_of_time(self) -> bool:
        """Non-deterministic mode: the limit is spent but for the explanations' reserve.
        Every stage has a floor of its own (the LP's build, a minimum solve time, a first
        search step), so without this check a run whose first stage used up a 0.2-s limit
        went on through all the others: 1.36 s per solve with ~1,750 running jobs (the city
        simulator's month, benchmarks/README "The limit is a limit"). Deterministic mode never
        reads it (the answer would depend on the machine's load); its wall-clock cap is per
        stage."""
        return not self.params.deterministic and self._remaining() <= self._explain_reserve()

    def _whole_limits(self, budget: float, *, keep_hint: bool = True) -> SearchLimits:
        """Limits of one CP-SAT solve of the whole problem for `budget` seconds (converted to
        CP-SAT's deterministic units in deterministic mode)."""
        params = self.params
        return SearchLimits(
            time_limit_s=budget / WALL_PER_DET if params.deterministic else budget,
            deterministic=params.deterministic,
            seed=params.seed,
            workers=params.workers,
            wall_cap_s=budget * params.wall_factor,
            keep_hint=keep_hint,
        )

    def _pair_count(self) -> int:
        if self._pairs is None:
            self._pairs = estimate_pairs(self.facts)
        return self._pairs

    def _rebalancing(self) -> bool:
        """Whether running work may move (then reassign.py's shift and swap search runs)."""
        p = self.p
        return any(
            cur is not None and cost >= 0
            for cur, cost in zip(p.job_current, p.job_move_cost, strict=False)
        )

    def _whole_fits(self) -> bool:
        """Whether the search is exact CP-SAT on the whole problem (small enough for it)."""
        params = self.params
        return params.use_cpsat and self._pair_count() <= params.exact_max_pairs

    def _only_moves(self) -> bool:
        """Whether every job runs and may move (nothing queued): pure rebalancing."""
        p = self.p
        return len(p.job_move_cost) == p.num_jobs and all(
            cur is not None and cost >= 0
            for cur, cost in zip(p.job_current, p.job_move_cost, strict=True)
        )

    def _stop_at(self) -> int | None:
        """The least value within gap_target of the upper bound (the bound itself when the
        target is 0: proven optimal); None while there is no bound.

        Lexicographic weights, once the best answer places all the work the bound allows and
        the bound has a real cost part (the LP's with `LpBound.cost_bounded`, or the
        all-placed bound's floor): the least value whose cost is
        within gap_target of that bound's cost. Relative to the whole value, which work
        dominates, any cost passed: the first answer that placed everything stopped the engine
        and left a job that prefers its own or a cheaper cluster on a dear one (the demo)."""
        if self.upper is None:
            return None
        upper = self.upper
        stop_at = upper - math.floor(self.params.gap_target * max(1, abs(upper)))
        value = self.pool.value
        if (
            value is None
            or self.params.weights.work is not None
            or not (self.floor_bounded or (self.lp is not None and self.lp.cost_bounded))
        ):
            return stop_at
        big = self.pool.evaluate.scale.work_weight
        work_bound = -(-upper // big)
        if -(-value // big) < work_bound:
            return stop_at
        cost_bound = big * work_bound - upper
        return max(stop_at, upper - math.floor(self.params.gap_target * max(1, cost_bound)))

    def _reached(self) -> bool:
        stop_at, value = self._stop_at(), self.pool.value
        return stop_at is not None and value is not None and value >= stop_at

    def _asked_to_stop(self) -> bool:
        """The caller's should_stop, remembered once it says True (model/params.py)."""
        if not self.stop_requested:
            assert self._caller_stop is not None
            self.stop_requested = bool(self._caller_stop())
        return self.stop_requested

    def _early_stop(self, after: str, *, out_of_time: bool = False) -> None:
        """Reports a run that ends before its last stage: at the gap target, because the
        caller's should_stop said so (then with a note on the outcome as well), or because its
        wall-clock limit is spent (`out_of_time`)."""
        value, upper = self.pool.value, self.upper
        gap = None
        if value is not None and upper is not None:
            gap = max(0, upper - value) / max(1, abs(upper))
        reason = "should_stop" if self.stop_requested else "gap_target"
        if out_of_time:
            reason = "time_limit"
        if self.stop_requested:
            self.pool.notes.append(f"stopped at the caller's request (should_stop) after {after}")
        self.emit(
            "early_stop",
            {"after": after, "reason": reason, "value": value, "bound": upper, "gap": gap},
        )

    def _tighten(self, bound: int) -> None:
        self.upper = bound if self.upper is None else min(self.upper, bound)


def estimate_pairs(facts: Facts) -> int:
    """(job class, eligible node) pairs of the exact model, without building it."""
    return sum(len(facts.eligible[cls.rep]) for cls in job_classes(facts, range(facts.p.num_jobs)))
