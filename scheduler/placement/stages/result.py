"""The last stage: the outcome -- status, bound, explanations of the unplaced jobs, timings."""

from __future__ import annotations

import time

from scheduler.placement.judges.explain import explain
from scheduler.placement.model.outcome import Outcome, Status, Timings
from scheduler.placement.stages.state import RunState


class Result(RunState):
    """The outcome of the run."""

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
