"""Reassignment local search: shift and swap moves of placed jobs, costs evaluated exactly.

The packing local search (local_search.py) fills nodes and never touches running work; CP-SAT
LNS (lns.py) re-solves pieces but pays a model build per step. Rebalancing running work --
moving migratable jobs to cut load above safety, balance and move costs, ROADEF/EURO 2012's
machine reassignment -- wants many cheap moves instead: a job to another node (shift) or two
jobs of different nodes exchanged (swap), kept when the total cost falls.

Speed comes from numpy: one job's shift is scored against every node at once, and its swap
against every other movable job at once (capacity with transient holds, load, balance,
migration, money, energy, anti-affinity of its first service). That vector score only ranks
candidates; the best few are then applied for real on the incremental state, which checks
every constraint (eligibility, capacity with transient holds, anti-affinity, spread,
dependencies) and recomputes the exact cost change including the service-move maximum, and
undone unless feasible and strictly cheaper. So the search never leaves the feasible set and
never raises the cost, whatever the vector score says.

What moves: placed single-replica jobs that use no GPU devices, have no override (demand or
price per node type) and whose department no quota scoped to some groups counts (a move between
groups would change that quota's usage; quotas over every group see no change),
either queued ones (placing them was this decision's choice) or migratable running ones
(job_move_cost >= 0). Everything else -- gangs, device jobs, pinned running jobs -- stays where
the start put it and only counts in the usage. Nothing is placed or left out: work is fixed,
only the cost terms (load, balance, migration, money, energy) move. The answer is an ordinary
Solution: the engine re-checks it (verify.check) and re-scores it (evaluator.py) like any other
candidate.

Like the other engines this module reads model/problem.py through the engine's index (demands
with overrides: index/demands.py), not through the referee's accounting (judges/usage.py), so a
misreading here cannot hide behind the checker.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from scheduler.placement.model.params import ShouldStop
from scheduler.placement.model.problem import ObjectiveWeights, Problem, Solution
from scheduler.placement.search.kernel.arrays import applies as kernel_applies
from scheduler.placement.search.reassign_state import Ints, ReassignState

# Candidates of one job's vector score that get an exact trial, best first: the vector score
# misses spread, dependencies, later services of the job and the service-move maximum, which
# rarely reject more than a couple of the best candidates.
_EXACT_TRIES = 4
# Late acceptance: the first history length, how long the step rate is measured before the
# length is set, and how many history lengths a run should last. 70 came from a2_5 of ROADEF
# 2012 at 30 s: 70 lengths reached 488 M, 200 lengths 432 M, 500 and 1,500 (L at its floor
# of 100) 438 M.
_LATE_FIRST_LENGTH = 100
_LATE_PROBE_S = 0.5
_LATE_HISTORIES = 200
# Partners one late-acceptance swap scores (all of them in the descent).
_LATE_SWAP_SAMPLE = 256
# Late acceptance first spends this share of its time (or steps) with the load weight of the
# "avoidable" resources multiplied by _AVOIDABLE_BOOST (see _boosted_load_weights), then the
# rest on the true weights from the best placement of that first walk. Measured on ROADEF 2012
# at 60 s from the initial assignment, two runs side by side (`python -m
# benchmarks.tracks.roadef_walk <model> [--seed S] [--no-boost]`; benchmarks/README.md):
# a2_5 seeds 0-2 410.5 / 411.2 / 388.9 M without, 398.4 / 389.0 / 385.8 M with; a2_4 1,688.4
# -> 1,681.6 M, a2_3 1,496.5 -> 1,448.2 M, but a2_2 1,052.0 -> 1,110.5 M. 2x, 10x, and 5x
# for 30% or 70% of the time were no better on a2_5 and a2_4 (these constants edited).
_AVOIDABLE_SHARE = 0.5
_AVOIDABLE_BOOST = 5
# Late acceptance draws its job from the biggest WINDOW_FIRST of the movable jobs at first, a
# window that grows linearly to all of them at WINDOW_FULL of each walk (`window`).
WINDOW_FIRST = 0.1
WINDOW_FULL = 0.5


def window(n: int, done: float) -> int:
    """How many of the `n` movable jobs, biggest first (ReassignState.by_size), a late
    acceptance step draws from once `done` (0 to 1) of its walk has passed.

    Why: a big job fits few nodes, and once small jobs fill the room around it, it stays where
    it is. Walking the big ones first (S41, the ROADEF 2012 winner, descends over the biggest
    processes first in growing windows) places them while there is room, and the small ones
    fill in around them. On ROADEF a2_5, 140-s walks from the initial assignment (seeds 0-2)
    ended at 338-366 M with the window against 372-393 M without (benchmarks/README.md, "The
    window of big jobs")."""
    share = WINDOW_FIRST + (1 - WINDOW_FIRST) * min(1.0, max(0.0, done) / WINDOW_FULL)
    return max(1, min(n, int(n * share)))


@dataclass(frozen=True)
class ReassignResult:
    solution: Solution
    cost: int  # the weighted cost terms this search moves (start's minus what it saved)
    saved: int
    moves: int
    passes: int
    local_optimum: bool  # the last pass found nothing: the answer is shift- and swap-optimal


class Reassign(ReassignState):
    """The moves on the incremental state (reassign_state.py): shifts and swaps, scored as
    vectors and tried exactly, best first."""

    def try_moves(self, moves: Sequence[tuple[int, int]], limit: int = 0) -> bool:
        """Applies (job, node) moves; keeps them if feasible and the cost changes by less than
        `limit` (0: strictly cheaper), else undoes them. Returns whether they were kept."""
        before = [(j, int(self.where[j])) for j, _ in moves]
        touched = {n for _, n in before} | {n for _, n in moves}
        old_nodes = {n: int(self.node_cost[n]) for n in touched}
        old_open = {n: int(self.count[n]) > 0 for n in touched}
        old_svc_max = max(self.svc_moved, default=0)
        for j, b in moves:
            self._shift(j, b)
        rows = np.fromiter(touched, dtype=np.int64, count=len(touched))
        new_costs = self._costs_at(rows, self.used[rows])
        delta = int(new_costs.sum()) - sum(old_nodes.values())
        for n in touched:
            if old_open[n] != (self.count[n] > 0):
                delta += self.w_energy * int(self.open_cost[n]) * (1 if self.count[n] > 0 else -1)
        for (j, a), (_, b) in zip(before, moves, strict=True):
            delta += self.w_mig * (self.job_migration(j, b) - self.job_migration(j, a))
            delta += self.w_money * int(self.demand[j] @ (self.prices[b] - self.prices[a]))
        delta += (
            self.w_mig * self.p.service_move_weight * (max(self.svc_moved, default=0) - old_svc_max)
        )
        if delta < limit and self._feasible(rows, moves, before):
            self.node_cost[rows] = new_costs
            self.cost += delta
            return True
        for j, a in reversed(before):
            self._shift(j, a)
        return False

    def _mig_row(self, j: int) -> Ints:
        """Migration cost of job j on every node (0 at home or for a queued job)."""
        a = int(self.orig[j])
        row = np.zeros(self.p.num_nodes, dtype=np.int64)
        if a < 0:
            return row
        row += self.move_cost[j]
        if self.has_mmc:
            row += self.mmc[a] if self.mmc is not None else np.array(self.p.node_move_cost[a])
        row[a] = 0
        return row * self.w_mig

    def _arrive_rows(self, j: int) -> Ints:
        """What j adds to the capacity rows of every node ([N][R])."""
        d = self.demand[j]
        add = np.broadcast_to(d, self.cap.shape).copy()
        a = int(self.orig[j])
        if a >= 0:
            add[a] = np.where(self.transient, 0, d)
        return add

    def best_shift(self, j: int, limit: int = 0) -> bool:
        """Tries j's best shifts (vector score, then exact trials): whether one was kept."""
        a = int(self.where[j])
        d = self.demand[j]
        fits = (self.chk + self._arrive_rows(j) <= self.cap).all(axis=1)
        fits &= self.eligible[self.p.job_nodes[j]]
        row = self.first_anti[j]
        if row >= 0:
            fits &= self.on_node[row] == 0
        fits[a] = False
        candidates = np.flatnonzero(fits)
        if not len(candidates):
            return False
        gain_a = int(self.node_cost[a]) - int(self._costs_at(np.array([a]), self.used[[a]] - d)[0])
        after = self._costs_at(candidates, self.used[candidates] + d)
        delta = after - self.node_cost[candidates] - gain_a
        mig = self._mig_row(j)
        delta += mig[candidates] - mig[a]
        if self.w_money and self.prices.any():
            delta += self.w_money * (self.prices[candidates] @ d - int(self.prices[a] @ d))
        if self.w_energy and self.open_cost.any():
            delta += self.w_energy * np.where(
                self.count[candidates] == 0, self.open_cost[candidates], 0
            )
            if self.count[a] == 1:
                delta -= self.w_energy * int(self.open_cost[a])
        return self._try_best(delta, lambda i: [(j, int(candidates[i]))], limit)

    def best_swap(self, j: int, limit: int = 0, sample: int = 0) -> bool:
        """Tries j's best swaps with a movable job on another node: whether one was kept.
        `sample` > 0: only that many partners, drawn at random (late acceptance's steps)."""
        a = int(self.where[j])
        others = np.flatnonzero(self.is_movable & (self.where != a))
        if sample and len(others) > sample:
            others = np.sort(self.np_rng.choice(others, sample, replace=False))
        if not len(others):
            return False
        row = self.first_anti[j]
        if row >= 0:
            others = others[self.first_anti[others] != row]  # same service: nothing changes
        nodes = self.where[others]
        d1 = self.demand[j]
        d2 = self.demand[others]
        trans = self.transient
        # Capacity rows after the swap, at a (j leaves, the other arrives) and at each b.
        leave1 = d1 if a != self.orig[j] else np.where(trans, 0, d1)
        home2_a = (self.orig[others] == a)[:, None]
        arrive2 = np.where(home2_a & trans, 0, d2)
        chk_a = self.chk[a] - leave1 + arrive2
        home2_b = (self.orig[others] == nodes)[:, None]
        leave2 = np.where(home2_b & trans, 0, d2)
        home1_b = (nodes == self.orig[j])[:, None]
        arrive1 = np.where(home1_b & trans, 0, d1)
        chk_b = self.chk[nodes] - leave2 + arrive1
        ok = (chk_a <= self.cap[a]).all(axis=1) & (chk_b <= self.cap[nodes]).all(axis=1)
        ok &= self.eligible[self.p.job_nodes[j]][nodes]
        ok &= self.eligible_at[self.job_set[others], a]
        if row >= 0:
            ok &= self.on_node[row, nodes] == 0
        anti2 = self.first_anti[others]
        has = anti2 >= 0
        ok[has] &= self.on_node[anti2[has], a] == 0
        idx = np.flatnonzero(ok)
        if not len(idx):
            return False
        others, nodes, d2 = others[idx], nodes[idx], d2[idx]
        used_a = self.used[a] - d1 + d2
        cost_a = self._cost_rows(used_a, self.safety[a], self.cap[a])
        cost_b = self._costs_at(nodes, self.used[nodes] - d2 + d1)
        delta = cost_a - int(self.node_cost[a]) + cost_b - self.node_cost[nodes]
        mig1 = self._mig_row(j)
        delta += mig1[nodes] - mig1[a]
        delta += self.migrations(others, np.full_like(nodes, a)) - self.migrations(others, nodes)
        if self.w_money and self.prices.any():
            diff = self.prices[nodes] - self.prices[a]
            delta += self.w_money * ((diff * d1).sum(axis=1) - (diff * d2).sum(axis=1))
        return self._try_best(delta, lambda i: [(j, int(nodes[i])), (int(others[i]), a)], limit)

    def _try_best(
        self, delta: Ints, moves_of: Callable[[int], list[tuple[int, int]]], limit: int
    ) -> bool:
        if not len(delta) or delta.min() >= limit:
            return False
        order = np.argsort(delta, kind="stable")[:_EXACT_TRIES]
        for i in order.tolist():
            if delta[i] >= limit:
                break
            if self.try_moves(moves_of(i), limit):
                return True
        return False


def reassign(
    p: Problem,
    start: Solution,
    weights: ObjectiveWeights,
    deadline: float,
    seed: int = 0,
    late: bool = True,
    steps: int | None = None,
    *,
    should_stop: ShouldStop | None = None,
    kernel: bool = False,
    boost: bool = True,
    window: bool = True,
) -> ReassignResult:
    """Improves feasible `start` until `deadline` (time.monotonic()); returns the best seen.

    `late`: late acceptance hill climbing (Burke and Bykov 2017) from `start` -- a random job's
    best shift or swap is taken if it leaves the cost no higher than it was L steps ago (or
    than now), which walks through local optima a strict descent stops at -- followed, when
    time is left, by a descent to a local optimum. Without `late`: the descent only, shift and
    swap passes over the movable jobs in random order until a pass finds nothing.

    `steps`: a deterministic budget of late-acceptance steps instead of the time left (the
    deadline then only caps a badly loaded machine); the descent always runs to its end.
    `should_stop` (the caller's, model/params.py) is asked where the deadline is read, every
    32 steps; once it says True both searches end with the best seen. `boost` False: no first
    walk on boosted weights (_boosted_load_weights), `window` False: every step draws from
    all the movable jobs (no `window` of the biggest), both for measuring what they are worth.
    """
    state = Reassign(p, start, weights, seed)
    initial = state.cost
    moves = passes = 0
    over = _Over(deadline, should_stop)
    if late and state.movable:
        if steps is not None and kernel and kernel_applies(state):
            # A step budget repeats only if its steps run; the deadline is then a cap on
            # walking, for a badly loaded machine, and loading the kernel (0.5-1 s in a fresh
            # process, a compile once after an install) is not walking. Charged to the walk,
            # the first walk of a deterministic 1-s engine run kept 0, 106 or 624 moves in
            # three runs, as the load happened to take; not charged, 1,052 every time.
            from scheduler.placement.search.kernel.late import load

            over.deadline += load(state)
        boosted = _boosted_load_weights(state) if boost else None
        if boosted is not None:
            # The first walk scores with the boosted weights; the second goes on from the best
            # placement it saw, scored with the problem's own.
            now = time.monotonic()
            state.set_load_weights(boosted)
            first_steps = None if steps is None else int(steps * _AVOIDABLE_SHARE)
            mid = _Over(now + (over.deadline - now) * _AVOIDABLE_SHARE, should_stop)
            walked, moves = _late(state, mid, first_steps, seed, kernel, grow=window)
            if walked is state:  # the walk ended at its best: still on the boosted weights
                walked = Reassign(p, state.solution(), weights)
                walked.rng, walked.np_rng = state.rng, state.np_rng
            state = walked
            steps = None if steps is None else steps - int(steps * _AVOIDABLE_SHARE)
        state, more_late = _late(state, over, steps, seed, kernel, grow=window)
        moves += more_late
    more, passes, optimum = _descend(state, over)
    return ReassignResult(
        solution=state.solution(),
        cost=state.cost,
        saved=initial - state.cost,
        moves=moves + more,
        passes=passes,
        local_optimum=optimum,
    )


def _late(
    state: Reassign, over: _Over, steps: int | None, seed: int, kernel: bool, grow: bool
) -> tuple[Reassign, int]:
    """Late acceptance until `over` or `steps`, on the compiled kernel where it applies, with
    the `window` of big jobs if `grow`: the state at the best cost seen and the moves kept."""
    if kernel and kernel_applies(state):
        # Imported here: numba loads only when the kernel runs. Its compiled chunks read the
        # deadline alone (should_stop is asked again by the descent after it).
        from scheduler.placement.search.kernel.late import late_on_kernel

        return late_on_kernel(state, over.deadline, steps, seed, grow)
    return _late_acceptance(state, over, steps, grow)


def _boosted_load_weights(state: Reassign) -> Ints | None:
    """Load weights with the avoidable resources' multiplied, or None.

    A resource whose total use is at most the nodes' total safety ("avoidable": its load
    cost's aggregate lower bound is 0) pays for every unit above a node's safety, and an
    arrangement exists in principle that pays nothing; one whose use exceeds the total safety
    pays for most of its excess wherever it sits. Early in a walk the unavoidable excess
    dominates every score and the avoidable one is set aside until little room is left to
    fix it (ROADEF 2012 a2_5: most of the cost above the bound was one such resource on a
    dozen nodes). So the first part of the walk weighs the avoidable ones more, whenever
    some load-weighted resource is avoidable. Where all of them are, boosting changes no
    resource's standing against another, only load against balance and migration, and that
    pays as well: on a1_4 (three resources, all avoidable) the first walk of a 300-s run
    ended at 271.5 M with it and at 281.6 and 283.4 M without, in runs side by side
    (benchmarks/README.md, "Rounds after the first walk")."""
    weighted = state.load_w > 0
    avoidable = weighted & (state.used.sum(axis=0) <= state.safety.sum(axis=0))
    if not avoidable.any():
        return None
    boosted: Ints = np.where(avoidable, state.load_w * _AVOIDABLE_BOOST, state.load_w)
    return boosted


class _Over:
    """Whether a search must end: its deadline (time.monotonic()) passed, or the caller's
    should_stop said so (remembered: once over, always over)."""

    def __init__(self, deadline: float, should_stop: ShouldStop | None) -> None:
        self.deadline = deadline
        self._should_stop = should_stop
        self._stopped = False

    def __call__(self, now: float | None = None) -> bool:
        if self._should_stop is not None and not self._stopped:
            self._stopped = self._should_stop()
        now = time.monotonic() if now is None else now
        return self._stopped or now >= self.deadline


def _descend(state: Reassign, over: _Over) -> tuple[int, int, bool]:
    moves = passes = 0
    jobs = list(state.movable)
    while jobs and not over():
        passes += 1
        found = 0
        state.rng.shuffle(jobs)
        for kind in (state.best_shift, state.best_swap):
            for i, j in enumerate(jobs):
                if i % 32 == 0 and over():
                    break
                if kind(j):
                    found += 1
        moves += found
        if not found:
            return moves, passes, True
    return moves, passes, False


def _late_acceptance(
    state: Reassign, over: _Over, steps: int | None = None, grow: bool = True
) -> tuple[Reassign, int]:
    """Late acceptance until `over` says so; returns the state at the best cost seen.

    The history length L sets how far the walk may climb: too short and it is a descent,
    too long and it has not converged when time runs out. It is sized from the measured step
    rate so that the run lasts about _LATE_HISTORIES history lengths.
    """
    jobs = [int(j) for j in state.by_size]
    rng = state.rng
    began = time.monotonic()
    length = _LATE_FIRST_LENGTH
    if steps is not None:
        length = max(length, steps // _LATE_HISTORIES)
    past = [state.cost] * length
    best_cost, best_where = state.cost, state.where.copy()
    kept = step = 0
    sized = steps is not None
    drawn = len(jobs)
    while steps is None or step < steps:
        if step % 32 == 0:
            now = time.monotonic()
            if over(now):
                break
            if grow:
                span = max(over.deadline - began, 1e-9)
                drawn = window(len(jobs), step / steps if steps else (now - began) / span)
            if not sized and now - began >= _LATE_PROBE_S:
                rate = step / (now - began)
                wanted = int(rate * (over.deadline - began) / _LATE_HISTORIES)
                if wanted > length:
                    past = [past[i % length] for i in range(wanted)]
                    length = wanted
                sized = True
        j = jobs[rng.randrange(drawn)]
        slot = step % length
        limit = max(past[slot], state.cost) - state.cost + 1
        if rng.random() < 0.5:
            taken = state.best_shift(j, limit)
        else:
            taken = state.best_swap(j, limit, _LATE_SWAP_SAMPLE)
        if taken:
            kept += 1
            if state.cost < best_cost:
                best_cost, best_where = state.cost, state.where.copy()
        past[slot] = state.cost
        step += 1
    if best_cost < state.cost:
        back = Reassign(state.p, state.solution_with(best_where), state.weights)
        back.rng, back.np_rng = rng, state.np_rng
        state = back
    return state, kept
