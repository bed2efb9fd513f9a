"""solve(): the v2 engine. Baselines, LP bound and rounding, then CP-SAT or LNS; best one wins.

    stay / warm start -> greedy baselines -> LP bound + LP rounding
        -> exact CP-SAT (model of at most `exact_max_pairs` pairs), hinted with the best so far
        -> else large-neighbourhood search from the best so far
    -> the best by the independent evaluator, accepted by the independent checker

Every candidate passes through one gate (`_Pool.offer`): the checker must accept it, and the
evaluator's value decides. So the answer is never below the best baseline, and never a solution
the checker rejects (a rejected candidate is dropped with a note). The upper bound is the
tighter of the LP's (exact by weak duality) and CP-SAT's proven one.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from scheduler.placement.baselines import best_baseline, best_fit
from scheduler.placement.cpsat import CpSatModel, CpSatResult, SearchLimits
from scheduler.placement.cpsat_data import Facts, job_classes
from scheduler.placement.cpsat_objective import TermWeights
from scheduler.placement.evaluator import Evaluation, Evaluator, job_work
from scheduler.placement.explain import explain
from scheduler.placement.lns import LnsLimits, improve
from scheduler.placement.lp_bound import lp_bound
from scheduler.placement.lp_rounding import lp_round
from scheduler.placement.model import Problem, Solution
from scheduler.placement.outcome import Outcome, Status, Timings
from scheduler.placement.settings import WALL_PER_DET, EngineParams, Progress
from scheduler.placement.verify import check
from scheduler.placement.warm_start import repair, stay

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
        if solution is None:
            return False
        violations = check(self.p, solution)
        if violations:
            if not quiet:
                self.notes.append(_rejection_note(source, violations))
                self.emit("checker_rejected", {"source": source, "violations": len(violations)})
            return False
        evaluation = self.evaluate(solution)
        if self.best is None or evaluation.value > self.best.evaluation.value:
            self.best = _Candidate(source, solution, evaluation)
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
        self.greedy: tuple[str, int] | None = None

    def run(self, warm_start: Solution | None) -> Outcome:
        self._starts(warm_start)
        self._baselines()
        if self.params.use_lp:
            self._lp()
        if not self.proven_infeasible:
            self._search()
        return self._outcome()

    # -- stages ----------------------------------------------------------------------------------

    def _starts(self, warm_start: Solution | None) -> None:
        t = time.perf_counter()
        self.pool.offer("stay", stay(self.facts), quiet=True)
        if warm_start is not None:
            try:
                repaired = repair(self.facts, warm_start)
            except ValueError as e:
                self.pool.notes.append(f"warm start ignored: {e}")
            else:
                self.pool.offer("warm_start", repaired)
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

    def _lp(self) -> None:
        t = time.perf_counter()
        params = self.params
        limit = None if params.deterministic else max(0.1, self._remaining() * _LP_SHARE)
        bound = lp_bound(self.p, params.weights, time_limit_s=limit)
        if bound.value is None:
            # The relaxation of the required jobs is infeasible, so the problem is.
            self.proven_infeasible = True
            self.clock.add("lp", t)
            self.emit("lp_done", {"status": bound.status})
            return
        self._tighten(bound.value)
        deadline, steps = self._rounding_budget()
        rounded = lp_round(self.p, params.weights, bound, deadline=deadline, steps=steps)
        self.pool.offer("lp_round", rounded)
        self.clock.add("lp", t)
        self.emit(
            "lp_done", {"status": bound.status, "bound": bound.value, "best": self.pool.value}
        )

    def _rounding_budget(self) -> tuple[float | None, int | None]:
        """(deadline, steps) of the rounding's local search: a share of the remaining wall
        time, or in deterministic mode the same share of time_limit_s in job moves (which do
        not depend on the machine's load)."""
        params = self.params
        if params.deterministic:
            return None, max(1, int(params.time_limit_s * _ROUNDING_SHARE * _MOVES_PER_S))
        return time.monotonic() + self._remaining() * _ROUNDING_SHARE, None

    def _remaining(self) -> float:
        """Wall seconds left of time_limit_s (non-deterministic mode's budget)."""
        return max(0.0, self.params.time_limit_s - self.clock.elapsed_s())

    def _search(self) -> None:
        params = self.params
        if self.pool.value is not None and self.upper is not None and self.pool.value >= self.upper:
            return  # proven optimal already
        pairs = estimate_pairs(self.facts)
        if params.use_cpsat and pairs <= params.exact_max_pairs:
            self._exact()
        elif params.use_lns and self.pool.best is not None:
            self._lns()
        elif params.use_cpsat and self.pool.best is None:
            # Nothing feasible and too big for comfort: CP-SAT on everything is the only hope.
            self._exact()

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
        result = model.solve(
            SearchLimits(
                time_limit_s=budget / WALL_PER_DET if params.deterministic else budget,
                deterministic=params.deterministic,
                seed=params.seed,
                workers=params.workers,
                wall_cap_s=budget * params.wall_factor,
            ),
            self.emit,
        )
        self.clock.add("cpsat", t)
        self._absorb(result)

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
        result = improve(
            self.facts,
            self.terms,
            self.work,
            self.pool.best.solution,
            score=lambda s: self.pool.evaluate(s).value,
            feasible=lambda s: not check(self.p, s),
            limits=LnsLimits(
                budget_s=budget,
                step_s=min(params.lns_step_s, budget),
                deterministic=params.deterministic,
                seed=params.seed,
                workers=params.workers,
                target_pairs=params.lns_pairs,
                wall_cap_s=params.wall_budget_s if params.deterministic else None,
            ),
            progress=self.emit,
        )
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
