"""The exact stage: CP-SAT on the whole problem, hinted, stopped at the gap target."""

from __future__ import annotations

import time

from scheduler.placement.cpsat.solver import CpSatModel, CpSatResult
from scheduler.placement.stages.state import RunState


class Exact(RunState):
    """CP-SAT on everything."""

    def _exact(self) -> None:
        t = time.perf_counter()
        model = CpSatModel(self.facts, self.terms, self.work)
        if self.pool.best is not None:
            model.hint(self.pool.best.solution)
        t = self.clock.add("build", t)
        self.emit("cpsat_start", {"pairs": model.pairs, "classes": len(model.parts.classes)})
        budget = self._search_budget()
        limits = self._whole_limits(budget)
        # With gap_target 0, stop_at is the bound itself: reaching it proves optimality even
        # when CP-SAT's own bound is weaker than the LP's (e.g. the bin-counting rows).
        result = model.solve(
            limits, self.emit, stop_at=self._stop_at(), should_stop=self.should_stop
        )
        self.clock.add("cpsat", t)
        self._absorb(result)
        if result.stopped:
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
