"""Construction stages: the starts that need no search, the greedy rules, the feasibility-first
regret start and the node-centric fill."""

from __future__ import annotations

import time

from scheduler.placement.greedy.baselines import best_baseline, best_fit
from scheduler.placement.greedy.bin_elimination import applies as eliminate_applies
from scheduler.placement.greedy.bin_elimination import eliminate
from scheduler.placement.greedy.node_fill import node_fill
from scheduler.placement.greedy.regret import regret_start
from scheduler.placement.greedy.warm_start import repair, stay
from scheduler.placement.model.problem import Solution
from scheduler.placement.stages.pool import Candidate
from scheduler.placement.stages.state import MOVES_PER_S, RunState

# A warm start counts as good -- the previous cycle's answer, a little out of date -- when its
# repair keeps at least this share of the jobs it places; then the search starts on what changed.
_GOOD_WARM_KEPT = 0.9
# Seconds per job of one greedy rule: the four took 1.0-1.5 s on the synthetic M city (10,000
# jobs) on the loaded 2-core machine.
_BASELINE_S_PER_JOB = 4e-5
# At most this share of the remaining time (deterministic: of time_limit_s, in moves at
# MOVES_PER_S) for the regret start's descent and restarts, where every job is required. At
# 80 x 1,600 its restarts gain more than LNS pieces (0.1-0.5 s each there, few improving).
_REGRET_SHARE = 0.5
# Non-deterministic mode: at most this share of the remaining time for the node-centric fill.
_NODE_FILL_SHARE = 0.3
# Then bin elimination (greedy/bin_elimination.py) on bin-packing-shaped problems: this share
# of what is left, or in deterministic mode ELIMINATIONS_PER_S closings tried per second of
# time_limit_s (a closing and its repair took about 4 ms on class2_500_3_9: 123 closings in
# 0.46 s, timed with the search alone from the node fill's answer; a fifth of that rate here).
_ELIMINATION_SHARE = 0.5
ELIMINATIONS_PER_S = 60


class Construction(RunState):
    """The starts and the greedy stages."""

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
                    candidate: Candidate | None = stays
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
            name, solution, evaluation = best_baseline(
                p, weights, self.should_stop, compact=self.params.compact_gangs
            )
        else:
            # At city scale the four rules cost 10-20 s and LP rounding beats the best of them
            # by over ten points (synthetic M and L): one rule is the fallback, the best one
            # measured there.
            name, solution = "best_fit", best_fit(p, compact=self.params.compact_gangs)
            evaluation = self.pool.evaluate(solution)
        self.greedy = (name, evaluation.value)
        self.pool.offer(name, solution)
        self.clock.add("greedy", t)
        self.emit("baselines_done", {"best": name, "value": evaluation.value})

    def _queue_fill(self) -> None:
        """After a warm start that leaves jobs queued: best fit, which keeps what runs and
        places the queue by priority on the cheapest groups with room (greedy/placer.py). At
        city scale it costs ~30 ms where the LP bound and rounding cost ~210 (a month's pool,
        1,100 jobs), and the run loop's all-placed bound then often stops the run."""
        if self._all_placed():
            return
        t = time.perf_counter()
        solution = best_fit(self.p, compact=self.params.compact_gangs)
        kept = self.pool.offer("best_fit", solution)
        self.queue_filled = True
        self.clock.add("greedy", t)
        self.emit("queue_fill_done", {"kept": kept, "best": self.pool.value})

    def _regret(self) -> None:
        """Regret construction, repair and descent (regret.py): a share of the remaining
        wall time for the descent, or in deterministic mode a move budget; the repair (the
        feasibility) may take all the time left."""
        t = time.perf_counter()
        params = self.params
        if params.deterministic:
            deadline = None
            moves: int | None = max(1, int(params.time_limit_s * _REGRET_SHARE * MOVES_PER_S))
            stop_by = self.clock.started + params.wall_budget_s  # the wall-clock safety cap
        else:
            deadline, moves = t + self._remaining() * _REGRET_SHARE, None
            stop_by = t + self._remaining()
        result = regret_start(
            self.facts,
            deadline=deadline,
            max_moves=moves,
            stop_by=stop_by,
            seed=params.seed,
            should_stop=self.should_stop,
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

    def _node_fill(self) -> None:
        """The node-centric rules (node_fill.py) where opening nodes costs: each answer
        competes in the pool. Deterministic mode runs them all (their size is capped)."""
        t = time.perf_counter()
        deadline = None
        if not self.params.deterministic:
            deadline = t + self._remaining() * _NODE_FILL_SHARE
        kept = []
        for name, solution in node_fill(self.p, self.facts, deadline, self.should_stop):
            if self.pool.offer(name, solution):
                kept.append(name)
        self.clock.add("greedy", t)
        self.emit("node_fill_done", {"kept": kept, "best": self.pool.value})

    def _eliminates(self) -> bool:
        """Whether the plan has the bin elimination stage (greedy/bin_elimination.py)."""
        return self.params.bin_elimination and eliminate_applies(
            self.p, self.facts, self.params.weights
        )

    def _eliminate(self) -> None:
        """Bin elimination from the best answer: each answer with one node fewer competes in
        the pool (it always wins: every open node costs the same). It runs after the LP bound,
        and stops once the best answer is within the gap target of it (the LP's bin count
        often proves the node fill's answer optimal on small instances)."""
        if self.pool.best is None:
            return
        start = self.pool.best.solution
        t = time.perf_counter()
        params = self.params
        if params.deterministic:
            attempts: int | None = max(1, int(params.time_limit_s * ELIMINATIONS_PER_S))
            deadline = self.clock.started + params.wall_budget_s  # the wall-clock safety cap
        else:
            attempts, deadline = None, t + self._remaining() * _ELIMINATION_SHARE
        found = 0
        for solution in eliminate(
            self.facts,
            start,
            deadline,
            attempts=attempts,
            seed=params.seed,
            should_stop=self._reached_or_asked,
        ):
            found += self.pool.offer("bin_elimination", solution)
        self.clock.add("greedy", t)
        self.emit("bin_elimination_done", {"fewer_nodes": found, "best": self.pool.value})

    def _reached_or_asked(self) -> bool:
        return self._reached() or (self.should_stop is not None and self.should_stop())

    def _late_baselines(self) -> None:
        """The baselines after a warm start's focused search: skipped when the wall-clock
        budget has no room left for them (they have no time limit of their own), or in
        deterministic mode, which reads no clock, when their estimated cost alone exceeds the
        whole time limit. That estimate depends on the problem's size alone, so the decision
        repeats; without it the four rules took ~1.1 s of a 0.2-s cycle with ~2,000 jobs
        running (the simulated month, benchmarks/README.md)."""
        params = self.params
        rules = 4 if self.p.num_jobs <= params.all_baselines_max_jobs else 1
        if rules == 1 and self.queue_filled:
            # The one rule is best fit, whose answer the queue stage already offered.
            self.emit("baselines_skipped", {"reason": "best fit ran in the queue stage"})
            return
        cost = rules * self.p.num_jobs * _BASELINE_S_PER_JOB
        room = params.time_limit_s if params.deterministic else self._search_budget()
        if room < cost:
            self.emit("baselines_skipped", {"estimate_s": round(cost, 2)})
            return
        self._baselines()


def _is_good(warm: Solution, repaired: Solution) -> bool:
    """Whether the repair kept most of what the warm start places (_GOOD_WARM_KEPT)."""
    placed = sum(1 for nodes in warm.assignment if nodes is not None)
    kept = sum(
        1
        for before, after in zip(warm.assignment, repaired.assignment, strict=True)
        if before is not None and after is not None
    )
    return placed > 0 and kept >= _GOOD_WARM_KEPT * placed
