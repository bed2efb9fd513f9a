"""solve(): the v2 engine. Baselines, LP bound and rounding, then CP-SAT or LNS; best one wins.

    stay / warm start -> greedy baselines -> LP bound + LP rounding
        -> exact CP-SAT (model of at most `exact_max_pairs` pairs), hinted with the best so far
        -> else [focused LNS on what changed since a good warm start] + LNS from the best so far
    -> the best by the independent evaluator, accepted by the independent checker

Where every job is required (regret.py's scope: GAP-like problems) a feasibility-first start
runs before everything: regret construction at Lagrangian prices, repair, descent. When it
places every job the greedy rules are skipped (they give up on jobs, so their answers fail the
checker there), and on problems LNS cuts into pieces its Lagrangian bound stands in for the LP
bound (within 0.01% of it on GAP types C-E, at a fraction of its time).

A good warm start (the previous cycle's placement, most of which still holds) replaces greedy
as the start: LP bound, LP rounding, then a focused search -- pieces of CP-SAT over the nodes
the warm start leaves room on (freed by finished jobs) and the jobs it leaves out (new or still
queued) -- and only then the baselines (when the wall-clock budget has room) and LNS anywhere.
With `EngineParams.gap_target` > 0 the engine stops as soon as the best answer is within the
target of the bound: after any stage, between pieces and LNS steps, at a CP-SAT solution. So a
cycle whose warm start is already close costs little more than the LP bound.

Every candidate passes through one gate (`_Pool.offer`): the checker must accept it, and the
evaluator's value decides. So the answer is never below the best baseline (when the baselines
ran: an early stop or a warm start's out-of-time may skip them), and never a solution the
checker rejects (a rejected candidate is dropped with a note). The upper bound is the
tighter of the LP's (exact by weak duality) and CP-SAT's proven one.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ortools.sat.python import cp_model

from scheduler.placement.cpsat.lns import PAIR_S, STEP_S, LnsLimits, improve
from scheduler.placement.cpsat.objective import TermWeights
from scheduler.placement.cpsat.scope import Incumbent, Scope, job_classes
from scheduler.placement.cpsat.solver import CpSatModel, CpSatResult, SearchLimits, new_solver
from scheduler.placement.greedy.baselines import best_baseline, best_fit
from scheduler.placement.greedy.node_fill import applies as node_fill_applies
from scheduler.placement.greedy.node_fill import node_fill
from scheduler.placement.greedy.regret import applies as regret_applies
from scheduler.placement.greedy.regret import regret_start
from scheduler.placement.greedy.warm_start import repair, stay
from scheduler.placement.index.aggregate import View, classify
from scheduler.placement.index.facts import Facts
from scheduler.placement.judges.evaluator import Evaluation, Evaluator, job_work
from scheduler.placement.judges.explain import explain
from scheduler.placement.judges.verify import check
from scheduler.placement.lp.bound import LpBound, lp_bound, lp_pairs
from scheduler.placement.lp.rounding import lp_round
from scheduler.placement.model.outcome import Outcome, Status, Timings
from scheduler.placement.model.params import WALL_PER_DET, EngineParams, Progress
from scheduler.placement.model.problem import Problem, Solution
from scheduler.placement.search.reassign import reassign

_MAX_NOTED_VIOLATIONS = 3
# Non-deterministic mode: shares of the remaining wall time for the LP solve and the rounding's
# local search, and the time kept for explanations at the end (measured: 2 s for the 63,000
# unplaced jobs of the synthetic L city, 0.3 s at M), at most a share of the limit.
_LP_SHARE = 0.5
_ROUNDING_SHARE = 0.2
_EXPLAIN_S_PER_JOB = 4e-5
_EXPLAIN_SHARE = 0.15
# Job moves the rounding's local search tries per second (synthetic M city: 10,000 moves in
# about 2 s), to turn a deterministic share of time_limit_s into a move budget.
_MOVES_PER_S = 4_000
# A warm start counts as good -- the previous cycle's answer, a little out of date -- when its
# repair keeps at least this share of the jobs it places; then the search starts on what changed.
_GOOD_WARM_KEPT = 0.9
# First focused piece: nodes, and unplaced jobs per node set; both adapt as LNS's do. (16, 32
# and 64 jobs did equally well on the synthetic M city after 1% churn.)
_FOCUS_NODES = 8
_FOCUS_UNPLACED = 32
_GROW, _SHRINK = 1.3, 0.7
# Seconds per job of one greedy rule: the four took 1.0-1.5 s on the synthetic M city (10,000
# jobs) on the loaded 2-core machine.
_BASELINE_S_PER_JOB = 4e-5
# Problems with migratable running work (rebalancing; ROADEF 2012): the LP bound's share of the
# remaining time (its relaxation is weak there and took 30 s of a 30 s budget on ROADEF a2_2
# at _LP_SHARE), and the search budget's share for the reassignment local search before LNS.
# Its late-acceptance steps per second, for the deterministic mode's step budget (1,000-1,800
# measured on ROADEF a2_5 on the loaded 2-core machine).
_REBALANCE_LP_SHARE = 0.05
# The LP bound is skipped above this many (job class, node class) pairs (lp_pairs): its build has
# no time limit and holds every pair in Python lists. Synthetic L has 275,000; ROADEF B/X
# instances (every process a class of one) up to 97M, which took 1.9 GB in 90 s of building.
_LP_MAX_PAIRS = 2_000_000
_REASSIGN_SHARE = 0.6
_REASSIGN_STEPS_PER_S = 1_000
# Non-deterministic mode: the share of time_limit_s kept back from the search, so that the
# overshoot of its last step (a CP-SAT piece's build and presolve, its stop, the final check)
# stays inside the limit. Measured before it: 1.01-1.02 s at 1 s (GAP gap8), up to 10.2 s at
# 10 s (GAP c20200) on the loaded 2-core machine; with it 0.95-0.96 s and 9.44-9.74 s (one
# exact CP-SAT run 10.00 s) under load averages of 3.5-5.5.
_WALL_MARGIN_SHARE = 0.05
# At most this share of the remaining time (deterministic: of time_limit_s, in moves at
# _MOVES_PER_S) for the regret start's descent and restarts, where every job is required. At
# 80 x 1,600 its restarts gain more than LNS pieces (0.1-0.5 s each there, few improving).
_REGRET_SHARE = 0.5
# Non-deterministic mode: at most this share of the remaining time for the node-centric fill.
_NODE_FILL_SHARE = 0.3
Stage = tuple[str, Callable[[], None]]


# Stages that only bound the answer; every other stage tries to place jobs.
_NOT_PLACING = frozenset({"lp_bound"})


@dataclass
class _Candidate:
    source: str
    solution: Solution
    evaluation: Evaluation


class _Pool:
    """The best checked answer so far; every engine's answer passes through `offer`."""

    def __init__(self, p: Problem, params: EngineParams, emit: Progress) -> None:
        self.p = p
        self.params = params
        self.emit = emit
        self.evaluate = Evaluator(p, params.weights)
        self.best: _Candidate | None = None
        self.notes: list[str] = []

    def offer(self, source: str, solution: Solution | None, *, quiet: bool = False) -> bool:
        """Keeps `solution` if the checker accepts it and it beats the best; True if kept.
        `quiet` candidates (trivial starts) are dropped without a note when rejected."""
        candidate = self.admit(source, solution, quiet=quiet)
        return candidate is not None and self.keep(candidate)

    def admit(
        self, source: str, solution: Solution | None, *, quiet: bool = False
    ) -> _Candidate | None:
        """`solution` checked and evaluated, or None if the checker rejects it (with a note
        unless `quiet`)."""
        if solution is None:
            return None
        best = self.best
        if best is not None and solution == best.solution:
            # Already checked and evaluated (both depend on the solution alone): a stage that
            # improved nothing hands back the best as it was, 0.1 s of checking at city scale.
            return _Candidate(source, solution, best.evaluation)
        violations = check(self.p, solution)
        if violations:
            if not quiet:
                self.notes.append(_rejection_note(source, violations))
                self.emit("checker_rejected", {"source": source, "violations": len(violations)})
            return None
        return _Candidate(source, solution, self.evaluate(solution))

    def keep(self, candidate: _Candidate) -> bool:
        """Makes an admitted candidate the best if it beats it; True if kept."""
        if self.best is None or candidate.evaluation.value > self.best.evaluation.value:
            self.best = candidate
            return True
        return False

    @property
    def value(self) -> int | None:
        return None if self.best is None else self.best.evaluation.value


class _Clock:
    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.ms: dict[str, float] = {}

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    def add(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.ms[stage] = self.ms.get(stage, 0.0) + (now - since) * 1000
        return now


def solve(
    p: Problem,
    params: EngineParams | None = None,
    progress: Progress | None = None,
    warm_start: Solution | None = None,
) -> Outcome:
    """Places as much priority-weighted work as possible, then at the least cost (evaluator.py).

    `p` was validated when it was constructed (model.py runs validate.py). `warm_start` (the
    previous cycle's placement, indexed like `p`) is repaired and then competes like any other
    candidate and seeds the search.
    """
    params = params or EngineParams()
    clock = _Clock()

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
    return _Run(p, params, emit, clock).run(warm_start)


class _Run:
    """One solve's state: the pool, the bound, and the stages in order."""

    def __init__(self, p: Problem, params: EngineParams, emit: Progress, clock: _Clock) -> None:
        self.p = p
        self.params = params
        self.emit = emit
        self.clock = clock
        t = time.perf_counter()
        self.facts = Facts(p)
        self.terms = TermWeights.of(p, params.weights)
        self.work = job_work(p)
        clock.add("build", t)
        self.pool = _Pool(p, params, emit)
        self.upper: int | None = None
        self.proven_infeasible = False
        self.priced = False  # the regret start gave a bound (regret.py)
        self.greedy: tuple[str, int] | None = None
        self.lp: LpBound | None = None
        # The repaired warm start when it is good (_GOOD_WARM_KEPT): the focused search starts
        # from what it leaves open.
        self.warm: Solution | None = None
        # Deterministic seconds the focused search charged to the search budget.
        self.focus_spent = 0.0
        self._pairs: int | None = None

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
            if (tried or self._all_placed()) and self._reached():
                self._early_stop(after=done)
                break
            stage()
            done = name
            tried = tried or name not in _NOT_PLACING
        return self._outcome()

    def _all_placed(self) -> bool:
        best = self.pool.best
        return best is not None and all(a is not None for a in best.solution.assignment)

    def _plan(self) -> list[Stage]:
        """The stages after the starts, in order; the run stops between any two of them once
        the gap target is met (or the answer is proven optimal)."""
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
            return [*lp, *focus, ("baselines", self._late_baselines), *fill, search]
        if regret_applies(self.p):
            # Every job required: a feasible start first (regret.py), or nothing after the
            # greedy rules (which give up on jobs) may be feasible at all; they run only if
            # it fails (measured: they never beat it, and cost 1.8-6 s at 80 x 1,600).
            greedy: Stage = ("baselines", self._baselines_unless_regret)
            if lp:
                lp = [("lp_bound", self._lp_bound_unless_priced), ("lp_round", self._lp_round)]
            return [("regret", self._regret), greedy, *fill, *lp, *focus, search]
        return [("baselines", self._baselines), *fill, *lp, *focus, search]

    # -- stages ----------------------------------------------------------------------------------

    def _starts(self, warm_start: Solution | None) -> None:
        t = time.perf_counter()
        try:
            start: Solution | None = stay(self.facts)
        except ValueError as e:  # running work that no longer fits exceeds max_evictions
            self.pool.notes.append(f"everyone stays: {e}")
            start = None
        stays = self.pool.admit("stay", start, quiet=True)
        if stays is not None:
            self.pool.keep(stays)
        if warm_start is not None:
            try:
                if stays is not None and warm_start.assignment == self.facts.current:
                    # The warm start is "everyone stays" (what runs, nothing queued placed): its
                    # repair is the one just made, which depends on the assignment alone.
                    repaired = stays.solution
                else:
                    repaired = repair(self.facts, warm_start)
            except ValueError as e:
                self.pool.notes.append(f"warm start ignored: {e}")
            else:
                # A warm start of running jobs only is "everyone stays", already checked and
                # evaluated (0.3 s at M).
                if stays is not None and repaired == stays.solution:
                    candidate: _Candidate | None = stays
                else:
                    candidate = self.pool.admit("warm_start", repaired)
                if candidate is not None:
                    self.pool.keep(candidate)
                    if _is_good(warm_start, repaired):
                        self.warm = repaired
        self.clock.add("build", t)

    def _baselines(self) -> None:
        t = time.perf_counter()
        p, weights = self.p, self.params.weights
        if p.num_jobs <= self.params.all_baselines_max_jobs:
            name, solution, evaluation = best_baseline(p, weights)
        else:
            # At city scale the four rules cost 10-20 s and LP rounding beats the best of them
            # by over ten points (synthetic M and L): one rule is the fallback, the best one
            # measured there.
            name, solution = "best_fit", best_fit(p)
            evaluation = self.pool.evaluate(solution)
        self.greedy = (name, evaluation.value)
        self.pool.offer(name, solution)
        self.clock.add("greedy", t)
        self.emit("baselines_done", {"best": name, "value": evaluation.value})

    def _regret(self) -> None:
        """Regret construction, repair and descent (regret.py): a share of the remaining
        wall time for the descent, or in deterministic mode a move budget; the repair (the
        feasibility) may take all the time left."""
        t = time.perf_counter()
        params = self.params
        if params.deterministic:
            deadline = None
            moves: int | None = max(1, int(params.time_limit_s * _REGRET_SHARE * _MOVES_PER_S))
            stop_by = self.clock.started + params.wall_budget_s  # the wall-clock safety cap
        else:
            deadline, moves = t + self._remaining() * _REGRET_SHARE, None
            stop_by = t + self._remaining()
        result = regret_start(
            self.facts, deadline=deadline, max_moves=moves, stop_by=stop_by, seed=params.seed
        )
        kept = self.pool.offer("regret", result.solution)
        if result.cost_bound is not None:
            # Every job is placed in any answer and money is the only cost term there
            # (regret.applies), so the cost bound bounds the value.
            w = self.terms
            self.priced = True
            self._tighten(w.work * sum(self.work) - w.money * result.cost_bound // w.cost_unit)
        self.clock.add("greedy", t)
        self.emit(
            "regret_done",
            {
                "rule": result.rule,
                "excess": result.excess,
                "cost": result.cost,
                "moves": result.moves,
                "starts": result.starts,
                "kept": kept,
                "bound": self.upper,
            },
        )

    def _baselines_unless_regret(self) -> None:
        if self.pool.best is not None and self.pool.best.source == "regret":
            self.emit("baselines_skipped", {"reason": "regret start"})
            return
        self._baselines()

    def _lp_bound_unless_priced(self) -> None:
        """The LP bound, unless the regret start placed everything, priced a bound and the
        search will cut the problem into pieces: its bound is then within 0.01% of the LP's
        (GAP types C-E, 10 x 200 to 80 x 1,600), while the LP took 7 of 10 s at 80 x 1,600
        and left LNS no time. Small problems keep it (it proves CP-SAT's answer optimal)."""
        params = self.params
        exact = params.use_cpsat and self._pair_count() <= params.exact_max_pairs
        solved = self.pool.best is not None and self.pool.best.source == "regret"
        if self.priced and solved and not exact:
            self.emit("lp_skipped", {"reason": "priced by the regret start", "bound": self.upper})
            return
        self._lp_bound()

    def _node_fill(self) -> None:
        """The node-centric rules (node_fill.py) where opening nodes costs: each answer
        competes in the pool. Deterministic mode runs them all (their size is capped)."""
        t = time.perf_counter()
        deadline = None
        if not self.params.deterministic:
            deadline = t + self._remaining() * _NODE_FILL_SHARE
        kept = []
        for name, solution in node_fill(self.p, self.facts, deadline):
            if self.pool.offer(name, solution):
                kept.append(name)
        self.clock.add("greedy", t)
        self.emit("node_fill_done", {"kept": kept, "best": self.pool.value})

    def _late_baselines(self) -> None:
        """The baselines after a warm start's focused search: skipped when the wall-clock
        budget has no room left for them (they have no time limit of their own)."""
        params = self.params
        rules = 4 if self.p.num_jobs <= params.all_baselines_max_jobs else 1
        cost = rules * self.p.num_jobs * _BASELINE_S_PER_JOB
        if not params.deterministic and self._search_budget() < cost:
            self.emit("baselines_skipped", {"estimate_s": round(cost, 2)})
            return
        self._baselines()

    def _lp_bound(self) -> None:
        t = time.perf_counter()
        params = self.params
        share = _REBALANCE_LP_SHARE if self._rebalancing() else _LP_SHARE
        # Deterministic: no share of the clock, but never beyond the wall-clock safety cap (an
        # LP can take minutes on an unlucky instance); a capped bound is valid, only looser.
        limit = (
            max(0.1, params.wall_budget_s)
            if params.deterministic
            else max(0.1, self._remaining() * share)
        )
        view = View(self.p)
        classes = classify(view)
        pairs = lp_pairs(view, classes)
        if pairs > _LP_MAX_PAIRS:
            self.clock.add("lp", t)
            self.emit("lp_skipped", {"pairs": pairs, "max_pairs": _LP_MAX_PAIRS})
            return
        bound = lp_bound(self.p, params.weights, time_limit_s=limit, view=view, classes=classes)
        self.clock.add("lp", t)
        if params.deterministic and bound.status == "time_limit":
            self.pool.notes.append(
                "deterministic LP bound stopped at its wall-clock cap; the answer may not repeat"
            )
        if bound.value is None:
            # The relaxation of the required jobs is infeasible, so the problem is.
            self.proven_infeasible = True
            self.emit("lp_done", {"status": bound.status})
            return
        self._tighten(bound.value)
        self.lp = bound
        self.emit(
            "lp_done", {"status": bound.status, "bound": bound.value, "best": self.pool.value}
        )

    def _lp_round(self) -> None:
        if self.lp is None:
            return
        t = time.perf_counter()
        deadline, steps = self._rounding_budget()
        rounded = lp_round(self.p, self.params.weights, self.lp, deadline=deadline, steps=steps)
        self.pool.offer("lp_round", rounded)
        self.clock.add("lp", t)
        self.emit("lp_round_done", {"found": rounded is not None, "best": self.pool.value})

    def _rounding_budget(self) -> tuple[float | None, int | None]:
        """(deadline, steps) of the rounding's local search: a share of the remaining wall
        time, or in deterministic mode the same share of time_limit_s in job moves (which do
        not depend on the machine's load)."""
        params = self.params
        if params.deterministic:
            return None, max(1, int(params.time_limit_s * _ROUNDING_SHARE * _MOVES_PER_S))
        return time.monotonic() + self._remaining() * _ROUNDING_SHARE, None

    def _remaining(self) -> float:
        """Wall seconds left of time_limit_s (non-deterministic mode's budget), less the
        margin for the last step's overshoot (_WALL_MARGIN_SHARE)."""
        limit = self.params.time_limit_s * (1 - _WALL_MARGIN_SHARE)
        return max(0.0, limit - self.clock.elapsed_s())

    def _search(self) -> None:
        params = self.params
        if params.use_cpsat and self._pair_count() <= params.exact_max_pairs:
            self._exact()
        elif params.use_lns and self.pool.best is not None:
            if self._rebalancing():
                self._reassign()
            self._lns()
        elif params.use_cpsat and self.pool.best is None:
            # Nothing feasible and too big for comfort: CP-SAT on everything is the only hope.
            self._exact()

    def _rebalancing(self) -> bool:
        """Whether running work may move (then reassign.py's shift and swap search runs)."""
        p = self.p
        return any(
            cur is not None and cost >= 0
            for cur, cost in zip(p.job_current, p.job_move_cost, strict=False)
        )

    def _reassign(self) -> None:
        """Late acceptance over shifts and swaps of the movable jobs (reassign.py), from the
        best answer so far, on a share of the search budget; LNS then takes over."""
        assert self.pool.best is not None
        params = self.params
        t = time.perf_counter()
        budget = self._search_budget() * _REASSIGN_SHARE
        steps = int(budget * _REASSIGN_STEPS_PER_S) if params.deterministic else None
        cap = budget * (params.wall_factor if params.deterministic else 1.0)
        result = reassign(
            self.p,
            self.pool.best.solution,
            params.weights,
            deadline=time.monotonic() + cap,
            seed=params.seed,
            steps=steps,
        )
        self.clock.add("lns", t)
        self.pool.offer("reassign", result.solution)
        self.emit(
            "reassign_done",
            {"moves": result.moves, "saved": result.saved, "value": self.pool.value},
        )

    def _pair_count(self) -> int:
        if self._pairs is None:
            self._pairs = estimate_pairs(self.facts)
        return self._pairs

    def _focused(self) -> bool:
        """Whether a focused search runs: a good warm start, and a problem the search will
        cut into pieces anyway (a small one goes whole to exact CP-SAT, hinted)."""
        params = self.params
        if self.warm is None or not params.use_lns:
            return False
        return not (params.use_cpsat and self._pair_count() <= params.exact_max_pairs)

    def _search_budget(self) -> float:
        """Seconds for CP-SAT / LNS: all of time_limit_s in deterministic mode (elapsed wall
        time would make the answer depend on the machine's load), else what is left after a
        reserve for the explanations."""
        params = self.params
        if params.deterministic:
            return params.time_limit_s
        reserve = min(params.time_limit_s * _EXPLAIN_SHARE, self.p.num_jobs * _EXPLAIN_S_PER_JOB)
        return max(0.05, self._remaining() - reserve)

    def _exact(self) -> None:
        params = self.params
        t = time.perf_counter()
        model = CpSatModel(self.facts, self.terms, self.work)
        if self.pool.best is not None:
            model.hint(self.pool.best.solution)
        t = self.clock.add("build", t)
        self.emit("cpsat_start", {"pairs": model.pairs, "classes": len(model.parts.classes)})
        budget = self._search_budget()
        limits = SearchLimits(
            time_limit_s=budget / WALL_PER_DET if params.deterministic else budget,
            deterministic=params.deterministic,
            seed=params.seed,
            workers=params.workers,
            wall_cap_s=budget * params.wall_factor,
        )
        # With gap_target 0, stop_at is the bound itself: reaching it proves optimality even
        # when CP-SAT's own bound is weaker than the LP's (e.g. the bin-counting rows).
        stop_at = self._stop_at()
        if stop_at is not None:
            result, stopped = _solve_until(model, limits, stop_at, self.emit)
        else:
            result, stopped = model.solve(limits, self.emit), False
        self.clock.add("cpsat", t)
        self._absorb(result)
        if stopped:
            self._early_stop(after="cpsat")

    def _absorb(self, result: CpSatResult) -> None:
        self.emit(
            "cpsat_done",
            {"status": result.status, "bound": result.bound, "wall_ms": round(result.wall_ms, 1)},
        )
        if result.hit_wall_cap:
            self.pool.notes.append(
                "deterministic CP-SAT stopped at its wall-clock cap; the answer may not repeat"
            )
        if result.status == "INFEASIBLE":
            self.proven_infeasible = True
            return
        if result.status == "MODEL_INVALID":
            self.pool.notes.append("CP-SAT rejected the model (MODEL_INVALID); kept the rest")
            return
        if result.bound is not None:
            self._tighten(result.bound)
        self.pool.offer("cpsat", result.solution)

    def _lns(self) -> None:
        params = self.params
        assert self.pool.best is not None
        t = time.perf_counter()
        budget = self._search_budget()
        if params.deterministic:
            # The focused search already spent part of the deterministic budget.
            budget -= self.focus_spent
            if budget <= 0:
                return
        steps = [0]

        def progress(event: str, fields: Mapping[str, object]) -> None:
            steps[0] += event == "lns_step"
            self.emit(event, fields)

        # The gap target, or with target 0 the bound itself (an answer there is optimal).
        stop_at = self._stop_at()
        scored: list[tuple[Solution, int]] = []

        def score(s: Solution) -> int:
            value = self.pool.evaluate(s).value
            scored[:] = [(s, value)]
            return value

        def feasible(s: Solution) -> bool:
            ok = not check(self.p, s)
            # improve() asks this only of a candidate that just scored above its incumbent;
            # raising is the one way to end it early without a hook in lns.py.
            if ok and stop_at is not None and scored:
                last, value = scored[0]
                if last is s and value >= stop_at:
                    raise _TargetReached(s)
            return ok

        limits = LnsLimits(
            budget_s=budget,
            step_s=min(params.lns_step_s, budget),
            deterministic=params.deterministic,
            seed=params.seed,
            workers=params.workers,
            target_pairs=params.lns_pairs,
            wall_cap_s=params.wall_budget_s if params.deterministic else None,
        )
        start = self.pool.best.solution
        try:
            result = improve(
                self.facts, self.terms, self.work, start, score, feasible, limits, progress
            )
        except _TargetReached as reached:
            self.clock.add("lns", t)
            self.pool.offer("lns", reached.solution)
            self.emit("lns_done", {"steps": steps[0], "value": self.pool.value, "stopped": True})
            self._early_stop(after="lns")
            return
        self.clock.add("lns", t)
        if result.hit_wall_cap:
            self.pool.notes.append(
                "deterministic LNS stopped at its wall-clock cap; the answer may not repeat"
            )
        self.emit(
            "lns_done",
            {"steps": result.steps, "improvements": result.improvements, "value": result.value},
        )
        self.pool.offer("lns", result.solution)

    def _focus(self) -> None:
        """LNS on what changed since the warm start's cycle, before LNS anywhere.

        After 1% churn most of the previous answer still holds; what is open is the room the
        finished jobs left and the jobs that are new or still wait. Each piece decides a
        window of the nodes the warm start leaves room on (most room first, cluster by
        cluster, so a gang's replicas can meet in one window), the unplaced jobs that may use
        them (most work first) and the jobs on them that may move; everything else stays at
        the incumbent. It may take the whole search budget and ends sooner after a pass over
        those nodes that improved nothing (LNS anywhere gets the rest), or at the gap target.
        Measured on the synthetic M city after 1% churn, 5 s, wall-clock mode, from the LP
        rounding's 99.89% of the bound: these pieces reached 99.904% (6-10 improvements in 16
        pieces); LNS anywhere, in the cold solve of the same problem, 99.892-99.896%; these
        pieces capped at 60% of the budget, 99.894-99.896%.

        A piece is accepted on its own objective: better than at its hint, where the model's
        value is exact, and never above the evaluator's elsewhere (8 accepted pieces there:
        the evaluator's gain equalled the model's 7 times and exceeded it by 1 once). The
        pool's checker and evaluator judge the result once, at the end or when the gains reach
        the target, since they cost 0.3 s per call at M, more than a piece; should the checker
        reject it, the focused gains are lost, never the pool's answer."""
        assert self.warm is not None and self.pool.best is not None
        params, facts = self.params, self.facts
        t = time.perf_counter()
        ranked = _changed_nodes(facts, self.warm)
        if not ranked:
            return
        rng = random.Random(params.seed)
        det = params.deterministic
        budget = self._search_budget()
        stop_at = self._stop_at()
        lens = _Lens(facts, self.work)
        start = self.pool.best
        inc = Incumbent(facts, start.solution)
        lens.reset(inc)
        gain = 0  # the accepted pieces' gains in model terms (exact differences)
        nodes_per, unplaced_per = _FOCUS_NODES, _FOCUS_UNPLACED
        pos = quiet = pieces = improvements = 0
        spent = 0.0
        while quiet < len(ranked):
            if det:
                if self.clock.elapsed_s() >= params.wall_budget_s:
                    self.pool.notes.append(
                        "deterministic focused search stopped at its wall-clock cap; "
                        "the answer may not repeat"
                    )
                    break
                step_s = min(params.lns_step_s, budget - spent)
            else:
                step_s = min(params.lns_step_s, budget - (time.perf_counter() - t))
            if step_s <= 0.01:
                break
            window = ranked[pos : pos + nodes_per]
            pos = pos + nodes_per if pos + nodes_per < len(ranked) else 0
            quiet += len(window)
            scope = lens.scope(window, unplaced_per)
            if not scope.jobs:
                spent += STEP_S if det else 0.0
                continue
            built = time.perf_counter()
            model = CpSatModel(facts, self.terms, self.work, scope, inc)
            model.hint(inc.solution)
            result = model.solve(
                SearchLimits(
                    time_limit_s=step_s / WALL_PER_DET if det else step_s,
                    deterministic=det,
                    seed=rng.randrange(1 << 31),
                    workers=params.workers,
                    wall_cap_s=10 * step_s,
                )
            )
            solved_at = time.perf_counter()
            pieces += 1
            if det:
                # LNS's estimate of a step's wall time, from deterministic quantities only.
                spent += WALL_PER_DET * result.deterministic_time + STEP_S + PAIR_S * model.pairs
            solved = result.status == "OPTIMAL"
            if solved and model.pairs < params.lns_pairs:
                nodes_per = min(len(ranked), int(nodes_per * _GROW) + 1)
                unplaced_per = min(4096, int(unplaced_per * _GROW) + 1)
            elif not solved or model.pairs > 2 * params.lns_pairs:
                nodes_per = max(2, int(nodes_per * _SHRINK))
                unplaced_per = max(8, int(unplaced_per * _SHRINK))
            found, hinted = result.objective, model.hint_value
            improved = (
                result.solution is not None
                and found is not None
                and hinted is not None
                and found > hinted
            )
            self.emit(
                "focus_step",
                {
                    "nodes": len(window),
                    "jobs": len(scope.jobs),
                    "pairs": model.pairs,
                    "status": result.status,
                    "build_ms": round((solved_at - built) * 1000 - result.wall_ms, 1),
                    "solve_ms": round(result.wall_ms, 1),
                    "improved": improved,
                },
            )
            if not improved:
                continue
            assert result.solution is not None and found is not None and hinted is not None
            gain += found - hinted
            improvements += 1
            quiet = 0
            inc = Incumbent(facts, result.solution)
            lens.reset(inc)
            if stop_at is not None and start.evaluation.value + gain >= stop_at:
                break
        if improvements:
            self.pool.offer("lns", inc.solution)
        self.focus_spent = spent
        self.clock.add("lns", t)
        self.emit(
            "focus_done",
            {
                "nodes": len(ranked),
                "pieces": pieces,
                "improvements": improvements,
                "value": self.pool.value,
            },
        )

    # -- gap target ------------------------------------------------------------------------------

    def _stop_at(self) -> int | None:
        """The least value within gap_target of the upper bound (the bound itself when the
        target is 0: proven optimal); None while there is no bound.

        Lexicographic weights, once the best answer places all the work the bound allows and
        the LP gave a real cost bound (`LpBound.cost_bounded`): the least value whose cost is
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
            or self.lp is None
            or not self.lp.cost_bounded
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

    def _early_stop(self, after: str) -> None:
        value, upper = self.pool.value, self.upper
        gap = None
        if value is not None and upper is not None:
            gap = max(0, upper - value) / max(1, abs(upper))
        self.emit("early_stop", {"after": after, "value": value, "bound": upper, "gap": gap})

    # -- result ----------------------------------------------------------------------------------

    def _tighten(self, bound: int) -> None:
        self.upper = bound if self.upper is None else min(self.upper, bound)

    def _outcome(self) -> Outcome:
        best = self.pool.best
        notes = self.pool.notes
        greedy_name, greedy_value = self.greedy if self.greedy else (None, None)
        if best is not None and self.proven_infeasible:
            # A checked answer refutes the proof: trust the checker, report the contradiction.
            notes.append("an engine claimed infeasibility, but the checker accepted an answer")
            self.proven_infeasible = False
            self.upper = None
        if best is None or self.proven_infeasible:
            status = Status.INFEASIBLE if self.proven_infeasible else Status.UNKNOWN
            return Outcome(
                status=status,
                solution=None,
                evaluation=None,
                upper_bound=self.upper if self.upper is not None else self._trivial_bound(),
                greedy_value=greedy_value,
                greedy_name=greedy_name,
                source="none",
                timings=self._timings(),
                notes=tuple(notes),
            )
        value = best.evaluation.value
        upper = self.upper if self.upper is not None else self._trivial_bound()
        if upper < value:
            notes.append(f"upper bound {upper} was below the value {value}; raised to match")
            upper = value
        t = time.perf_counter()
        unplaced = explain(self.p, best.solution, self.facts)
        self.clock.add("explain", t)
        return Outcome(
            status=Status.OPTIMAL if value == upper else Status.FEASIBLE,
            solution=best.solution,
            evaluation=best.evaluation,
            upper_bound=upper,
            greedy_value=greedy_value,
            greedy_name=greedy_name,
            source=best.source,
            timings=self._timings(),
            unplaced=unplaced,
            notes=tuple(notes),
        )

    def _trivial_bound(self) -> int:
        """Every job placed at no cost: no answer can score more (costs are never negative)."""
        return self.terms.work * sum(self.work)

    def _timings(self) -> Timings:
        ms = self.clock.ms
        return Timings(
            build_ms=ms.get("build", 0.0),
            greedy_ms=ms.get("greedy", 0.0),
            lp_ms=ms.get("lp", 0.0),
            cpsat_ms=ms.get("cpsat", 0.0),
            lns_ms=ms.get("lns", 0.0),
            explain_ms=ms.get("explain", 0.0),
            total_ms=self.clock.elapsed_s() * 1000,
        )


def estimate_pairs(facts: Facts) -> int:
    """(job class, eligible node) pairs of the exact model, without building it."""
    return sum(len(facts.eligible[cls.rep]) for cls in job_classes(facts, range(facts.p.num_jobs)))


def _rejection_note(source: str, violations: list[str]) -> str:
    shown = "; ".join(violations[:_MAX_NOTED_VIOLATIONS])
    more = len(violations) - _MAX_NOTED_VIOLATIONS
    suffix = f" (+{more} more)" if more > 0 else ""
    return f"{source} answer failed the checker and was discarded: {shown}{suffix}"


# -- warm start: what changed ------------------------------------------------------------------


def _is_good(warm: Solution, repaired: Solution) -> bool:
    """Whether the repair kept most of what the warm start places (_GOOD_WARM_KEPT)."""
    placed = sum(1 for nodes in warm.assignment if nodes is not None)
    kept = sum(
        1
        for before, after in zip(warm.assignment, repaired.assignment, strict=True)
        if before is not None and after is not None
    )
    return placed > 0 and kept >= _GOOD_WARM_KEPT * placed


def _movable(facts: Facts, j: int) -> bool:
    """Whether a decision can change job j at all (a running job that may neither move nor be
    preempted stays; leaving it out of a piece keeps the piece small)."""
    return not facts.running(j) or facts.migratable(j) or facts.preemptible(j)


def _changed_nodes(facts: Facts, warm: Solution) -> list[int]:
    """Nodes on which `warm` leaves room for a job it does not place: the clusters with the
    most room first, within one the node with the most room (free share of its scarcest
    resource) first.

    "Room for a job" is tested with a few small unplaced jobs of each node set -- the smallest
    in each resource and the smallest overall: a node none of them fits takes hardly any job
    of the set, and testing every job would cost jobs x nodes at city scale."""
    p = facts.p
    nr = p.num_resources
    top = [max((c[r] for c in p.node_capacity), default=0) or 1 for r in range(nr)]
    smallest: dict[tuple[int, int], tuple[float, int]] = {}  # (set, resource | -1) -> (size, j)
    for j, nodes in enumerate(warm.assignment):
        if nodes is not None or not facts.eligible[j]:
            continue
        s, demand = p.job_nodes[j], p.job_demand[j]
        sizes = [d / t for d, t in zip(demand, top, strict=True)]
        for r, size in [(-1, sum(sizes)), *enumerate(sizes)]:
            key = (s, r)
            if key not in smallest or (size, j) < smallest[key]:
                smallest[key] = (size, j)
    probes: dict[int, set[int]] = {}
    for (s, _), (_, j) in smallest.items():
        probes.setdefault(s, set()).add(j)
    if not probes:
        return []
    inc = Incumbent(facts, warm)
    zero = [0] * nr
    room: dict[int, float] = {}
    for s in sorted(probes):
        for n in p.node_sets[s]:
            if n in room:
                continue
            used, held = inc.usage.get(n, zero), inc.transient.get(n, zero)
            free = [
                c - r - u - h
                for c, r, u, h in zip(
                    p.node_capacity[n], facts.reserved[n], used, held, strict=True
                )
            ]
            if any(
                all(d <= f for d, f in zip(facts.demand(j, n), free, strict=True))
                for j in probes[s]
            ):
                capacity = p.node_capacity[n]
                room[n] = min((f / c for f, c in zip(free, capacity, strict=True) if c), default=0)
    by_group: dict[int, float] = {}
    for n, share in room.items():
        by_group[p.node_group[n]] = by_group.get(p.node_group[n], 0.0) + share
    return sorted(room, key=lambda n: (-by_group[p.node_group[n]], p.node_group[n], -room[n], n))


class _Lens:
    """The scopes of the focused search, read from the current incumbent."""

    def __init__(self, facts: Facts, work: tuple[int, ...]) -> None:
        self.facts = facts
        self.work = work
        self.sets_of_node = facts.sets_of_node
        # Running jobs that may change, by former node: free only if those nodes are.
        self.former_on: dict[int, list[int]] = {}
        for j, counts in enumerate(facts.current_count):
            if counts and _movable(facts, j):
                for n in counts:
                    self.former_on.setdefault(n, []).append(j)
        self.inc: Incumbent | None = None
        self.unplaced_by_set: dict[int, list[int]] = {}

    def reset(self, inc: Incumbent) -> None:
        """Re-reads the unplaced jobs, most work first (after an improvement)."""
        p = self.facts.p
        self.inc = inc
        by_set: dict[int, list[int]] = {}
        for j, nodes in enumerate(inc.solution.assignment):
            if nodes is None and self.facts.eligible[j]:
                by_set.setdefault(p.job_nodes[j], []).append(j)
        for jobs in by_set.values():
            jobs.sort(key=lambda j: (-self.work[j], p.job_order[j]))
        self.unplaced_by_set = by_set

    def scope(self, window: list[int], unplaced_per_set: int) -> Scope:
        """`window`'s nodes, the movable jobs wholly on them (incumbent and former nodes) and
        the most valuable unplaced jobs that may use them."""
        inc, facts = self.inc, self.facts
        assert inc is not None
        nodes = frozenset(window)
        candidates: set[int] = set()
        for n in window:
            candidates.update(inc.on_node.get(n, ()))
            candidates.update(self.former_on.get(n, ()))
        for s in sorted({s for n in window for s in self.sets_of_node[n]}):
            candidates.update(self.unplaced_by_set.get(s, ())[:unplaced_per_set])
        assignment = inc.solution.assignment
        jobs = frozenset(
            j
            for j in candidates
            if _movable(facts, j)
            and all(n in nodes for n in assignment[j] or ())
            and all(n in nodes for n in facts.current_count[j] or {})
        )
        return Scope(jobs, nodes, inc.solution)


# -- gap target inside a search ------------------------------------------------------------------


class _TargetReached(Exception):
    """An LNS candidate met the gap target; carries it out of improve()."""

    def __init__(self, solution: Solution) -> None:
        super().__init__("gap target reached")
        self.solution = solution


class _StopAt(cp_model.CpSolverSolutionCallback):
    """Reports each CP-SAT solution (as cpsat.py's reporter does) and stops the search at the
    first one whose objective reaches `stop_at` (in CP-SAT's terms: without the constant)."""

    def __init__(self, stop_at: int, progress: Progress) -> None:
        super().__init__()
        self._stop_at = stop_at
        self._progress = progress
        self.stopped = False

    def on_solution_callback(self) -> None:
        objective = self.objective_value
        self._progress(
            "cpsat_solution",
            {
                "objective": objective,
                "bound": self.best_objective_bound,
                "wall_ms": round(self.wall_time * 1000, 1),
            },
        )
        # The model's objective never exceeds the evaluator's value of the same solution (its
        # cost auxiliaries are only bounded below), so reaching stop_at here reaches it there,
        # up to the double's rounding (1e-16 relative, far below any useful target).
        if objective >= self._stop_at:
            self.stopped = True
            self.stop_search()


def _solve_until(
    model: CpSatModel, limits: SearchLimits, stop_at: int, progress: Progress
) -> tuple[CpSatResult, bool]:
    """CpSatModel.solve with a stop at `stop_at` (an evaluator value); True if it stopped there.

    The same solver as cpsat.py's solve (new_solver), which has no hook for a stopping
    callback; a stop is deterministic in deterministic mode (one worker, solutions in a fixed
    order)."""
    solver = new_solver(limits)
    callback = _StopAt(stop_at - model.objective.constant, progress)
    started = time.perf_counter()
    status = solver.solve(model.model, callback)
    wall_ms = (time.perf_counter() - started) * 1000
    hit_cap = (
        limits.deterministic
        and not callback.stopped
        and status not in (cp_model.OPTIMAL, cp_model.INFEASIBLE)
        and solver.deterministic_time < limits.time_limit_s
    )
    name = solver.status_name(status)
    det = solver.deterministic_time
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return CpSatResult(None, name, None, None, wall_ms, det, hit_cap), callback.stopped
    result = CpSatResult(
        solution=model.decode(solver),
        status=name,
        objective=model.objective.value(solver),
        bound=model.objective.bound(solver),
        wall_ms=wall_ms,
        deterministic_time=det,
        hit_wall_cap=hit_cap,
    )
    return result, callback.stopped
