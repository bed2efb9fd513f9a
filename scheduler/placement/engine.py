"""solve(): the v2 engine. Baselines, LP bound and rounding, then CP-SAT or LNS; best one wins.

    stay / warm start -> greedy baselines -> LP bound + LP rounding
        -> exact CP-SAT (model of at most `exact_max_pairs` pairs), hinted with the best so far
        -> else [focused LNS on what changed since a good warm start]
                + [where running work may move: late acceptance over shifts and swaps,
                   then either the migration polish once load and balance are at their
                   floors, or rounds of LNS or another walk, each round to the one that
                   gained more per second in its last]
                + LNS from the best so far
    -> the best by the independent evaluator, accepted by the independent checker

Where every job is required (regret.py's scope: GAP-like problems) a feasibility-first start
runs before everything: regret construction at Lagrangian prices, repair, descent. When it
places every job the greedy rules are skipped (they give up on jobs, so their answers fail the
checker there), and on problems LNS cuts into pieces its Lagrangian bound stands in for the LP
bound (within 0.01% of it on GAP types C-E, at a fraction of its time).

A good warm start (the previous cycle's placement, most of which still holds) replaces greedy
as the start: best fit of the queue around what runs, LP bound, LP rounding, then a focused
search -- pieces of CP-SAT over the nodes the warm start leaves room on (freed by finished jobs)
and the jobs it leaves out (new or still queued) -- and only then the baselines (when the
wall-clock budget has room) and LNS anywhere.
With `EngineParams.gap_target` > 0 the engine stops as soon as the best answer is within the
target of the bound: after any stage, between pieces and LNS steps, at a CP-SAT solution. Once
the best answer places every job, the all-placed bound (lp/all_placed.py: every job at its least
cost, room taken by work that may not move counted) is tried before the next stage; on a quiet
cycle it proves the best fit of the queue within the target before the LP is built. The caller's
`should_stop` is asked at the same points and ends the run the same way.

Every candidate passes through one gate (`Pool.offer`, stages/pool.py): the checker must
accept it, and the evaluator's value decides. So the answer is never below the best baseline
(when the baselines ran: an early stop or a warm start's out-of-time may skip them), and never
a solution the checker rejects (a rejected candidate is dropped with a note). The upper bound
is the tightest of the LP's (exact by weak duality), the all-placed one and CP-SAT's proven one.

The stages themselves live in stages/, one family per module; `_Run` below is their order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from scheduler.placement.greedy.node_fill import applies as node_fill_applies
from scheduler.placement.greedy.regret import applies as regret_applies
from scheduler.placement.judges.evaluator import Evaluator
from scheduler.placement.model.outcome import Outcome, Status, Timings
from scheduler.placement.model.params import EngineParams, Progress, ShouldStop
from scheduler.placement.model.problem import Problem, Solution
from scheduler.placement.stages.construct import Construction
from scheduler.placement.stages.exact import Exact
from scheduler.placement.stages.focus import Focus
from scheduler.placement.stages.neighbourhoods import Neighbourhoods
from scheduler.placement.stages.pool import Clock
from scheduler.placement.stages.relax import Relaxation
from scheduler.placement.stages.result import Result
from scheduler.placement.stages.state import estimate_pairs

Stage = tuple[str, Callable[[], None]]


# Stages that only bound the answer; every other stage tries to place jobs.
_NOT_PLACING = frozenset({"lp_bound"})

__all__ = ["estimate_pairs", "solve"]

# Where the migration polish applies (stages/polish.py): LNS's share of the search time left
# after the reassignment search before the polish, which gets the rest.
_LNS_BEFORE_POLISH = 0.3


def solve(
    p: Problem,
    *,
    params: EngineParams | None = None,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    warm_start: Solution | None = None,
) -> Outcome:
    """Places as much priority-weighted work as possible, then at the least cost (evaluator.py).

    `p` was validated when it was constructed (model/problem.py runs model/validate.py); every
    other argument is keyword-only. `params`: how long and how to search (EngineParams, the
    defaults when None; `EngineParams.from_toml` reads them from a file). `progress` hears
    every stage's events and `should_stop` may end the run early with the best answer so far
    (model/params.py says when each is called and what it may do). `warm_start` (the previous
    cycle's placement, indexed like `p`) is repaired and then competes like any other
    candidate and seeds the search.
    """
    params = params or EngineParams()
    clock = Clock()

    def emit(event: str, fields: Mapping[str, object]) -> None:
        if progress is not None:
            progress(event, fields)

    if p.num_jobs == 0:
        empty = Solution(())
        return Outcome(
            status=Status.EMPTY,
            solution=empty,
            evaluation=Evaluator(p, params.weights)(empty),
            upper_bound=0,
            greedy_value=None,
            greedy_name=None,
            source="empty",
            timings=Timings(total_ms=clock.elapsed_s() * 1000),
        )
    return _Run(p, params, emit, clock, should_stop).run(warm_start)


class _Run(Construction, Relaxation, Focus, Neighbourhoods, Exact, Result):
    """One solve: the starts, then the stages of `_plan` in order, then the outcome. The state
    (pool, bound, budgets) is stages/state.py's; each stage is a method of one stages module."""

    def run(self, warm_start: Solution | None) -> Outcome:
        self._starts(warm_start)
        done = "warm_start" if warm_start is not None else "start"
        # The gap is relative to an objective that counts work already running, so a warm
        # start of running work alone can be within the target while a small queued job that
        # fits stays queued, cycle after cycle (found by the city simulator): the target may
        # stop the run only once a stage has tried to place what the start leaves unplaced.
        tried = False
        for name, stage in self._plan():
            if self.proven_infeasible:
                break
            self._all_placed_bound()
            if (tried or self._all_placed()) and self._reached():
                self._early_stop(after=done)
                break
            if self.should_stop is not None and self.should_stop():
                self._early_stop(after=done)
                break
            # The limit is a limit: once a stage has tried to place the queue, no stage starts
            # after the wall-clock time is spent (stages/state.py, _out_of_time).
            if tried and self._out_of_time():
                self._early_stop(after=done, out_of_time=True)
                break
            stage()
            done = name
            tried = tried or name not in _NOT_PLACING
        return self._outcome()

    def _plan(self) -> list[Stage]:
        """The stages after the starts, in order; the run stops between any two of them once
        the gap target is met (or the answer is proven optimal), or the caller's should_stop
        says so."""
        params = self.params
        lp: list[Stage] = []
        if params.use_lp:
            lp = [("lp_bound", self._lp_bound), ("lp_round", self._lp_round)]
        focus: list[Stage] = [("focus", self._focus)] if self._focused() else []
        search: Stage = ("search", self._search)
        fill: list[Stage] = []
        if node_fill_applies(self.p, params.weights):
            fill = [("node_fill", self._node_fill)]
        if self.warm is not None:
            # A good warm start replaces greedy as the start: it may already meet a gap
            # target, and the LP plan plus a search of what changed usually complete it. All of
            # that goes before the baselines, which cost as much as the LP bound at city scale
            # (1-1.5 s at M) and fall short of the rounding there (99.83% of the bound against
            # 99.89% after 1% churn). They still run before LNS anywhere when there is time.
            # First one greedy pass that keeps what runs and places the queue on the cheapest
            # room: on a quiet cycle it places everything, and the all-placed bound then
            # proves it within the target before the LP (a tenth of the LP's cost at city scale).
            queue: Stage = ("queue", self._queue_fill)
            return [queue, *lp, *focus, ("baselines", self._late_baselines), *fill, search]
        if regret_applies(self.p):
            # Every job required: a feasible start first (regret.py), or nothing after the
            # greedy rules (which give up on jobs) may be feasible at all; they run only if
            # it fails (measured: they never beat it, and cost 1.8-6 s at 80 x 1,600).
            greedy: Stage = ("baselines", self._baselines_unless_regret)
            if lp:
                lp = [("lp_bound", self._lp_bound_unless_priced), ("lp_round", self._lp_round)]
            return [("regret", self._regret), greedy, *fill, *self._eliminating(lp), *focus, search]
        return [("baselines", self._baselines), *fill, *self._eliminating(lp), *focus, search]

    def _eliminating(self, lp: list[Stage]) -> list[Stage]:
        """The LP stages with bin elimination after the bound where it applies: the bound
        often proves the node fill's answer optimal, and then it never runs."""
        if not self._eliminates():
            return lp
        eliminate: Stage = ("bin_elimination", self._eliminate)
        return [*lp[:1], eliminate, *lp[1:]] if lp else [eliminate]

    def _search(self) -> None:
        params = self.params
        if self._whole_fits():
            self._exact()
        elif params.use_lns and self.pool.best is not None:
            if self._rebalancing():
                whole = self._budget_left()
                self._reassign()
                if not self._polish_may_run():
                    # Where the polish cannot follow, the rest goes in rounds (_alternate):
                    # whether LNS or more walking pays is measured, not guessed.
                    self._alternate(whole)
                    return
            if self._polish_applies():
                # LNS pieces first take back the moves that need few nodes (on ROADEF a1_5 the
                # walk leaves ~150 of move cost; pieces bring it to ~20 in well under a
                # minute, and the polish started from 144 found nothing in 114 s); the polish
                # then looks for the answer that needs many nodes at once.
                self._lns(share=_LNS_BEFORE_POLISH)
                if self.stop_requested or self._reached():
                    return
                if self._polish_applies():
                    self._polish()
            self._lns()
        elif params.use_cpsat and self.pool.best is None:
            # Nothing feasible and too big for comfort: CP-SAT on everything is the only hope.
            self._exact()
