"""Large-neighbourhood search: CP-SAT on small pieces of a big problem, incumbent always kept.

A 2-core machine cannot run CP-SAT's portfolio on 100,000 jobs, but it solves a piece of a few
thousand (job class, node) pairs to optimality in a fraction of a second. Each step frees a
neighbourhood -- some nodes (one cluster's, or a few clusters', or the nodes an unplaced job
could use), every job placed only on them (a moved job whose former node is elsewhere too: it
may not go back there, and its transient hold there stays a constant), and the unplaced jobs
that could go there; or, where running jobs may migrate, a sample of those jobs over many
nodes, or the nodes some of them were moved to and from (so they may go back), or a node above
its safety level with the few nodes its jobs could reach at all (so a chain that makes room
there first is one piece) -- fixes everything else at the incumbent, solves that piece hinted
with the incumbent, and keeps the result only if the independent evaluator scores the whole
solution higher. The neighbourhood size adapts: pieces solved to optimality quickly grow,
pieces that time out shrink. The pieces are pieces.py's; this module runs the steps.

Deterministic mode charges each step an estimate of its wall time computed from deterministic
quantities only (CP-SAT's deterministic time, the piece's size), so a run repeats exactly for a
seed; a wall-clock cap guards against a badly loaded machine.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from scheduler.placement.cpsat.objective import TermWeights
from scheduler.placement.cpsat.pieces import Neighbourhoods
from scheduler.placement.cpsat.scope import Incumbent
from scheduler.placement.cpsat.solver import CpSatModel, SearchLimits
from scheduler.placement.index.facts import Facts
from scheduler.placement.model.params import WALL_PER_DET, Progress, ShouldStop
from scheduler.placement.model.problem import Solution

# Estimated wall seconds of one step = WALL_PER_DET x deterministic time + STEP_S + PAIR_S x
# pairs: a least-squares fit over 43 LNS steps on the synthetic S city (presolve, hint, build
# and decode are what the deterministic clock does not see), scaled to a quiet machine.
STEP_S = 0.045
PAIR_S = 1e-5


@dataclass(frozen=True)
class LnsLimits:
    """Budget and shape of one LNS run."""

    budget_s: float  # seconds: estimated (deterministic) or wall
    step_s: float  # CP-SAT limit of one neighbourhood, seconds
    deterministic: bool = True
    seed: int = 0
    workers: int = 1
    target_pairs: int = 4000
    wall_cap_s: float | None = None  # deterministic mode's safety cap
    max_steps: int | None = None
    shapes: tuple[str, ...] | None = None  # only these piece shapes (pieces.py); None: all


@dataclass(frozen=True)
class LnsResult:
    solution: Solution
    value: int
    steps: int
    improvements: int
    wall_ms: float
    hit_wall_cap: bool
    # An answer reached `stop_at`, or the caller's should_stop said so (improve): not the
    # budget's end.
    stopped: bool = False
    # Improvements by neighbourhood shape (_SHAPES), the shapes that won at least once.
    wins: dict[str, int] = field(default_factory=dict)


def _claims_better(found: int | None, hinted: int | None) -> bool:
    """Whether the piece's own objective says it beat the incumbent (both in model terms)."""
    return found is not None and (hinted is None or found > hinted)


def improve(
    facts: Facts,
    weights: TermWeights,
    job_work: tuple[int, ...],
    start: Solution,
    score: Callable[[Solution], int],
    feasible: Callable[[Solution], bool],
    limits: LnsLimits,
    progress: Progress | None = None,
    *,
    stop_at: int | None = None,
    should_stop: ShouldStop | None = None,
) -> LnsResult:
    """Improves `start` (which must be feasible) until the budget is spent.

    `score` is the evaluator's value and `feasible` the checker's verdict: a neighbourhood's
    answer replaces the incumbent only if it scores strictly higher and passes the checker.
    With `stop_at` (an evaluator value: the engine's gap target or bound) the search ends at
    the first accepted answer that reaches it, returned at once with `stopped`. `should_stop`
    (the caller's) is asked before each step and inside each step's CP-SAT search; once it
    says True the search returns its best with `stopped`.
    """
    started = time.perf_counter()
    rng = random.Random(limits.seed)
    hoods = Neighbourhoods(facts, job_work, rng, limits.shapes)
    best, best_value = start, score(start)
    inc = Incumbent(facts, best)
    hoods.reset(inc)
    spent = 0.0
    steps = improvements = 0
    hit_cap = False
    stopped = False
    while spent < limits.budget_s and (limits.max_steps is None or steps < limits.max_steps):
        if should_stop is not None and should_stop():
            stopped = True
            break
        wall = time.perf_counter() - started
        if limits.deterministic:
            if limits.wall_cap_s is not None and wall >= limits.wall_cap_s:
                hit_cap = True
                break
            step_s = min(limits.step_s, limits.budget_s - spent)
        else:
            step_s = min(limits.step_s, limits.budget_s - wall)
            # A step costs STEP_S beyond its CP-SAT limit (build, presolve, decode): one with
            # less left than that would end past the budget.
            if step_s <= STEP_S:
                break
        scope = hoods.pick()
        steps += 1
        if not scope.jobs:
            spent += STEP_S if limits.deterministic else 0.0
            hoods.adapt(0, limits.target_pairs, True)
            continue
        built = time.perf_counter()
        model = CpSatModel(facts, weights, job_work, scope, inc)
        model.hint(best)
        built = time.perf_counter() - built
        result = model.solve(
            SearchLimits(
                time_limit_s=step_s / WALL_PER_DET if limits.deterministic else step_s,
                deterministic=limits.deterministic,
                seed=rng.randrange(1 << 31),
                workers=limits.workers,
                # Generous: only a badly loaded machine reaches it (LnsResult says so). A run
                # given no wall-clock cap at all has none per step either: purely
                # deterministic, for replays (and a test) on any machine's load.
                wall_cap_s=None if limits.wall_cap_s is None else 10 * step_s,
            ),
            should_stop=should_stop,
        )
        if limits.deterministic:
            spent += WALL_PER_DET * result.deterministic_time + STEP_S + PAIR_S * model.pairs
            hit_cap = hit_cap or result.hit_wall_cap
        else:
            spent = time.perf_counter() - started
        hoods.adapt(model.pairs, limits.target_pairs, result.status == "OPTIMAL")
        if progress is not None:
            progress(
                "lns_step",
                {
                    "pairs": model.pairs,
                    "status": result.status,
                    "build_ms": round(built * 1000, 1),
                    "solve_ms": round(result.wall_ms, 1),
                    "det": round(result.deterministic_time, 3),
                },
            )
        candidate = result.solution
        if candidate is None or not _claims_better(result.objective, model.hint_value):
            continue  # spares a full evaluation (0.14 s at 100,000 jobs)
        value = score(candidate)
        if value > best_value and feasible(candidate):
            if stop_at is not None and value >= stop_at:
                return LnsResult(
                    solution=candidate,
                    value=value,
                    steps=steps,
                    improvements=improvements + 1,
                    wall_ms=(time.perf_counter() - started) * 1000,
                    hit_wall_cap=hit_cap,
                    stopped=True,
                    wins=hoods.won(),
                )
            hoods.reward(value - best_value)
            best, best_value = candidate, value
            improvements += 1
            inc = Incumbent(facts, best)
            hoods.reset(inc)
            if progress is not None:
                progress(
                    "lns_improved",
                    {"value": value, "step": steps, "pairs": model.pairs, "jobs": len(scope.jobs)},
                )
    return LnsResult(
        solution=best,
        value=best_value,
        steps=steps,
        improvements=improvements,
        wall_ms=(time.perf_counter() - started) * 1000,
        hit_wall_cap=hit_cap,
        stopped=stopped,
        wins=hoods.won(),
    )
