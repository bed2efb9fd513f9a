"""The neighbourhood stages from the best answer so far: the reassignment local search (where
running work may move) and LNS."""

from __future__ import annotations

import time
from collections.abc import Mapping

from scheduler.placement.cpsat.lns import LnsLimits, improve
from scheduler.placement.judges.verify import check
from scheduler.placement.model.problem import Solution
from scheduler.placement.search.reassign import reassign
from scheduler.placement.stages.polish import Polish

# Problems with migratable running work (rebalancing; ROADEF 2012): the search budget's share for
# the first walk of the reassignment local search before the rounds (_alternate), and its
# late-acceptance steps per second, for the deterministic mode's step budget (1,000-1,800
# measured on ROADEF a2_5 on the loaded 2-core machine).
_REASSIGN_SHARE = 0.5
# Where the migration polish may run after it (stages/polish.py): the walk's share is smaller, so
# that LNS and the polish have time for the moves it leaves (ROADEF a1_5: the walk reaches the
# load and balance floors within seconds and then spends its time taking back moves, to ~150 of
# move cost at the end of its 171 s; the polish needed 57-197 s to reach 19 from 20-120). At
# 0.2 the walk ended a1_5 at the cost it reached at 0.4 (within 4 of 54.6 M saved), and the
# longer LNS after it reached move cost 19 before the polish in both of two runs; at 0.4 LNS
# left 20 in three of three.
_REASSIGN_SHARE_BEFORE_POLISH = 0.2
_REASSIGN_STEPS_PER_S = 1_000
# The same on the compiled kernel (EngineParams.move_kernel): 10,900-15,900 measured on a2_5 and
# a B_1-size stand-in (benchmarks.moves), 14,500 on a2_5 under a load of 3.4.
_KERNEL_STEPS_PER_S = 10_000
# After the first walk, the rest of the search goes in rounds of this share of the search
# budget to LNS or another walk (_alternate).
_ROUND_SHARE = 0.15


def next_round(rates: Mapping[str, float]) -> str:
    """The next round of `Neighbourhoods._alternate`: "lns" or "walk", whichever gained more
    per second in its last round (`rates`), LNS on a tie; each is tried once first, LNS
    first."""
    for kind in ("lns", "walk"):
        if kind not in rates:
            return kind
    return "walk" if rates["walk"] > rates["lns"] else "lns"


class Neighbourhoods(Polish):
    """Reassignment and LNS (and, between them, the migration polish)."""

    def _reassign(self, budget: float | None = None, round_: int = 0) -> None:
        """Late acceptance over shifts and swaps of the movable jobs (reassign.py), from the
        best answer so far, for `budget` seconds (None: its share of the search budget, the
        first walk); round_ > 0 is a later walk of `_alternate`, on a seed of its own."""
        assert self.pool.best is not None
        params = self.params
        t = time.perf_counter()
        if budget is None:
            share = _REASSIGN_SHARE_BEFORE_POLISH if self._polish_may_run() else _REASSIGN_SHARE
            budget = self._search_budget() * share
        if params.deterministic:
            self.charged_s += budget
        rate = _KERNEL_STEPS_PER_S if params.move_kernel else _REASSIGN_STEPS_PER_S
        steps = int(budget * rate) if params.deterministic else None
        cap = budget * (params.wall_factor if params.deterministic else 1.0)
        result = reassign(
            self.p,
            self.pool.best.solution,
            params.weights,
            deadline=time.monotonic() + cap,
            seed=params.seed + round_,
            steps=steps,
            should_stop=self.should_stop,
            kernel=params.move_kernel,
        )
        self.clock.add("lns", t)
        self.pool.offer("reassign", result.solution)
        self.emit(
            "reassign_done",
            {"moves": result.moves, "saved": result.saved, "value": self.pool.value},
        )

    def _alternate(self, whole: float) -> None:
        """After the first walk: rounds of LNS or of another walk (from the best answer, on a
        new seed) until the search budget is spent, each round going to the one that gained
        more per second in its last round (LNS first, then a walk, so each is measured once).

        Why: which of the two keeps paying depends on the problem and cannot be read from it
        beforehand. On ROADEF a2_4 LNS gained ~10 K in the 114 s after a 171-s walk, while a
        second 100-s walk from that answer gained 174-372 K (the 372 K to 1,680,570,538, below
        the best known cost); on a2_1 a walk given 95% of the time ended at 458, LNS after a
        60% walk at 240-261. A round's rate is measured once, so the one not chosen keeps its
        older, usually higher, rate and is chosen again once the other falls below it."""
        assert self.pool.value is not None
        walks = 0
        rates: dict[str, float] = {}
        slice_s = whole * _ROUND_SHARE
        # Bounded: every round but the last spends a slice of the budget.
        for _ in range(int(1 / _ROUND_SHARE) + 2):
            if self.stop_requested or self._reached():
                return
            left = self._budget_left()
            if left <= 0.05 or self._out_of_time():
                return
            last = left < 1.5 * slice_s
            budget = left if last else slice_s
            kind = next_round(rates)
            before = self.pool.value
            if kind == "lns":
                self._lns(share=1.0 if last else budget / left)
            else:
                walks += 1
                self._reassign(budget, round_=walks)
            rates[kind] = (self.pool.value - before) / budget
            self.emit("round_done", {"kind": kind, "budget_s": budget, "value": self.pool.value})
            if last:
                return

    def _lns(self, share: float = 1.0) -> None:
        """LNS from the best answer on `share` of what is left of the search budget."""
        params = self.params
        assert self.pool.best is not None
        t = time.perf_counter()
        # In deterministic mode, less what the walks, the focused search and the polish charged.
        budget = self._budget_left()
        if params.deterministic and budget <= 0:
            return
        budget *= share
        if params.deterministic and share < 1:
            self.charged_s += budget
        steps = [0]

        def progress(event: str, fields: Mapping[str, object]) -> None:
            steps[0] += event == "lns_step"
            self.emit(event, fields)

        def score(s: Solution) -> int:
            return self.pool.evaluate(s).value

        def feasible(s: Solution) -> bool:
            return not check(self.p, s)

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
        # The gap target, or with target 0 the bound itself (an answer there is optimal).
        result = improve(
            self.facts,
            self.terms,
            self.work,
            start,
            score,
            feasible,
            limits,
            progress,
            stop_at=self._stop_at(),
            should_stop=self.should_stop,
        )
        self.clock.add("lns", t)
        if result.stopped:
            self.pool.offer("lns", result.solution)
            self.emit("lns_done", {"steps": steps[0], "value": self.pool.value, "stopped": True})
            self._early_stop(after="lns")
            return
        if result.hit_wall_cap:
            self.pool.notes.append(
                "deterministic LNS stopped at its wall-clock cap; the answer may not repeat"
            )
        self.emit(
            "lns_done",
            {
                "steps": result.steps,
                "improvements": result.improvements,
                "wins": result.wins,
                "value": result.value,
            },
        )
        self.pool.offer("lns", result.solution)
