"""The LP stages: the relaxation's bound and the rounding of its plan."""

from __future__ import annotations

import time

from scheduler.placement.index.aggregate import View, classify
from scheduler.placement.lp.all_placed import all_placed_bound
from scheduler.placement.lp.bound import lp_bound, lp_pairs
from scheduler.placement.lp.rounding import lp_round
from scheduler.placement.stages.state import MOVES_PER_S, RunState

# Non-deterministic mode: shares of the remaining wall time for the LP solve and the rounding's
# local search.
_LP_SHARE = 0.5
_ROUNDING_SHARE = 0.2
# Problems with migratable running work (rebalancing; ROADEF 2012): the LP bound's share of the
# remaining time (its relaxation is weak there and took 30 s of a 30 s budget on ROADEF a2_2
# at _LP_SHARE).
_REBALANCE_LP_SHARE = 0.05
# The LP bound is skipped above this many (job class, node class) pairs (lp_pairs): its build has
# no time limit and holds every pair in Python lists. Synthetic L has 275,000; ROADEF B/X
# instances (every process a class of one) up to 97M, which took 1.9 GB in 90 s of building.
_LP_MAX_PAIRS = 2_000_000


class Relaxation(RunState):
    """The LP bound and the LP rounding."""

    def _lp_bound_unless_priced(self) -> None:
        """The LP bound, unless the regret start placed everything, priced a bound and the
        search will cut the problem into pieces: its bound is then within 0.01% of the LP's
        (GAP types C-E, 10 x 200 to 80 x 1,600), while the LP took 7 of 10 s at 80 x 1,600
        and left LNS no time. Small problems keep it (it proves CP-SAT's answer optimal)."""
        exact = self._whole_fits()
        solved = self.pool.best is not None and self.pool.best.source == "regret"
        if self.priced and solved and not exact:
            self.emit("lp_skipped", {"reason": "priced by the regret start", "bound": self.upper})
            return
        self._lp_bound()

    def _lp_bound(self) -> None:
        t = time.perf_counter()
        params = self.params
        if self._only_moves() and not self._whole_fits():
            # Every job runs and may move, none waits: the LP has no queue to plan for, and its
            # bound ignores load cost. On ROADEF a2_1, a1_3 and a2_2 it was no tighter than the
            # all-placed bound and took 7, 12 and 28 s of the 300. Small problems keep it (it
            # proves CP-SAT's answer optimal).
            self.emit("lp_skipped", {"reason": "every job runs and may move"})
            return
        share = _REBALANCE_LP_SHARE if self._rebalancing() else _LP_SHARE
        # Deterministic: no share of the clock, but never beyond the wall-clock safety cap (an
        # LP can take minutes on an unlucky instance); a capped bound is valid, only looser.
        limit = (
            max(0.1, params.wall_budget_s)
            if params.deterministic
            else max(0.1, self._remaining() * share)
        )
        view = View(self.p, self.facts.demands)
        classes = classify(view)
        pairs = lp_pairs(view, classes)
        if pairs > _LP_MAX_PAIRS:
            self.clock.add("lp", t)
            self.emit("lp_skipped", {"pairs": pairs, "max_pairs": _LP_MAX_PAIRS})
            return
        bound = lp_bound(
            self.p,
            params.weights,
            time_limit_s=limit,
            view=view,
            classes=classes,
            should_stop=self.should_stop,
        )
        self.clock.add("lp", t)
        if params.deterministic and bound.status == "time_limit" and not self.stop_requested:
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
        rounded = lp_round(
            self.p,
            self.params.weights,
            self.lp,
            deadline=deadline,
            steps=steps,
            should_stop=self.should_stop,
        )
        self.pool.offer("lp_round", rounded)
        self.clock.add("lp", t)
        self.emit("lp_round_done", {"found": rounded is not None, "best": self.pool.value})

    def _rounding_budget(self) -> tuple[float | None, int | None]:
        """(deadline, steps) of the rounding's local search: a share of the remaining wall
        time, or in deterministic mode the same share of time_limit_s in job moves (which do
        not depend on the machine's load)."""
        params = self.params
        if params.deterministic:
            return None, max(1, int(params.time_limit_s * _ROUNDING_SHARE * MOVES_PER_S))
        return time.monotonic() + self._remaining() * _ROUNDING_SHARE, None

    def _all_placed_bound(self) -> None:
        """Once the best answer places every job: the all-placed bound (lp/all_placed.py), so
        that a quiet cycle whose queue one greedy pass placed on the cheapest room can stop
        before the LP (the run loop asks before every stage). Tried once."""
        if self.all_placed_tried or not self._all_placed():
            return
        self.all_placed_tried = True
        t = time.perf_counter()
        scale = self.pool.evaluate.scale
        bound = all_placed_bound(self.facts, self.params.weights, scale, self.work)
        self.clock.add("lp", t)
        if bound is None:
            return
        self._tighten(bound)
        self.floor_bounded = True
        self.emit("all_placed_bound", {"bound": bound, "best": self.pool.value})
