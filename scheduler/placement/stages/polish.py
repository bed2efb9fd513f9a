"""The migration polish: once the best answer places every job, its load on every resource and
every balance are at their floors (lp/all_placed.py's `cost_floors`) and it has no other cost
but migration, migration is all that is left to gain. Exact CP-SAT on the whole problem, with
each resource's load and each balance capped at its floor, then looks for the answer that
moves least.

Why a stage of its own: late acceptance changes one or two jobs at a time and an LNS piece
leaves all but a few nodes fixed, but taking back one move needs room that other moved jobs
hold, often on many nodes at once. On ROADEF 2012 a1_5 (load and balance at their floors with
11-12 processes moved), CP-SAT on the whole problem, capped and minimising migration alone,
found an answer moving 9 in 57-127 s in each of four runs from such answers (three of a scratch
model of the same constraints, one of this one); with the engine's whole objective instead of
migration alone it found nothing better in 200 s, three times. In the engine, from the 10-11
moved that LNS leaves, it reached 9 within its 119 s in both of two 300-s runs
(benchmarks/README.md, "The migration polish"), but in later set runs it often did not. With
the caps also stated node by node (cpsat/floors.py) it finds the answer moving 9 and proves
it the fewest in 5-7 s from every answer tried ("The floors node by node").

The caps cut answers that trade a little load for fewer moves: this is a neighbourhood of the
best answer, not a bound, so its CP-SAT bound never tightens the engine's.
"""

from __future__ import annotations

import time

from scheduler.placement.cpsat.solver import CpSatModel
from scheduler.placement.judges.evaluator import balance_shortfall, load_excess
from scheduler.placement.judges.usage import node_usage
from scheduler.placement.lp.all_placed import CostFloors, cost_floors
from scheduler.placement.model.params import WALL_PER_DET
from scheduler.placement.stages.state import RunState

# The largest whole model the polish builds, in (job class, node) pairs: a1_5's 12,000 built in
# 0.6 s; the 100,000 of ROADEF's 100-machine instances would leave CP-SAT little time to search.
_POLISH_MAX_PAIRS = 20_000


class Polish(RunState):
    """Whole-problem CP-SAT for fewer moves at the floors of load and balance."""

    _cost_floors: CostFloors | None = None

    def _only_load_and_moves(self) -> bool:
        """Whether load or balance is weighted and nothing but they and migration can cost
        (ROADEF 2012's objective): once load and balance are at their floors
        (_floors) and every job is placed, only migration is left."""
        p, w = self.p, self.params.weights
        if not (
            (w.load and any(p.load_weight)) or (w.balance and any(b.weight for b in p.balances))
        ):
            return False
        priced = any(any(row) for row in p.group_cost) or any(o.cost for o in p.overrides)
        return not (
            (w.money and priced)
            or (w.energy and any(p.node_open_cost))
            or (w.fragmentation and self.facts.gpu >= 0)
        )

    def _floors(self) -> CostFloors:
        """lp/all_placed.py's cost floors of this problem, computed once per run."""
        if self._cost_floors is None:
            self._cost_floors = cost_floors(self.facts)
        return self._cost_floors

    def _polish_may_run(self) -> bool:
        """Whether the polish can apply to this problem at all (before any answer)."""
        return (
            self.params.use_cpsat
            and self._only_load_and_moves()
            and self._pair_count() <= _POLISH_MAX_PAIRS
        )

    def _polish_applies(self) -> bool:
        """Whether it applies to the best answer: every job placed, load and balance at their
        floors, some migration to take back."""
        best = self.pool.best
        if not (best is not None and self._polish_may_run() and self._all_placed()):
            return False
        p = self.p
        if self.pool.evaluate(best.solution).migration == 0:
            return False
        floors = self._floors()
        used = node_usage(p, self.pool.evaluate.demands, best.solution.assignment)
        loads = load_excess(p, used)
        return all(loads[r] == floors.load[r] for r, w in enumerate(p.load_weight) if w) and all(
            s == f or not b.weight
            for b, s, f in zip(p.balances, balance_shortfall(p, used), floors.balance, strict=True)
        )

    def _polish(self) -> None:
        """The capped model from the best answer, for what is left of the search budget (in
        deterministic mode the share LNS would have had, charged to it)."""
        assert self.pool.best is not None
        params = self.params
        t = time.perf_counter()
        model = CpSatModel(self.facts, self.terms, self.work)
        model.hint(self.pool.best.solution)
        floors = self._floors()
        model.polish_migration(floors.load, floors.balance)
        self.clock.add("build", t)
        self.emit("polish_start", {"pairs": model.pairs, "migration": self._migration()})
        budget = self._polish_budget()
        # Measured on a1_5 from an answer moving 11: keeping every hinted solution through
        # presolve, the capped model found nothing in 200 s; without, the one with 9 moves in
        # 127 s. The pool takes only a better answer, so a lost hint costs nothing.
        limits = self._whole_limits(budget, keep_hint=False)
        result = model.solve(limits, should_stop=self.should_stop)
        if params.deterministic:
            self.charged_s += result.deterministic_time * WALL_PER_DET
        self.clock.add("cpsat", t)
        self.pool.offer("polish", result.solution)
        self.emit(
            "polish_done",
            {
                "status": result.status,
                "migration": self._migration(),
                "value": self.pool.value,
                "wall_ms": round(result.wall_ms, 1),
            },
        )
        if result.hit_wall_cap:
            self.pool.notes.append(
                "deterministic CP-SAT stopped at its wall-clock cap; the answer may not repeat"
            )

    def _polish_budget(self) -> float:
        """What LNS would have had: the search budget left (deterministic: less what the
        stages before it charged, LNS's first share among them)."""
        return max(0.05, self._budget_left())

    def _migration(self) -> int:
        assert self.pool.best is not None
        return self.pool.evaluate(self.pool.best.solution).migration
