"""The local search that improves a feasible placement (`Packing`, packing.py): its driver.

Every move runs as a trial (a journal of the jobs it touched) and is kept only if the objective
rises, measured exactly on the nodes it touched (work, money, energy, load, balance,
fragmentation; `Packing.delta`), so the search never lowers the evaluator's value whatever the
weights. Moves, in the order one round tries them (insert and drop here, the others in
eject.py, repack.py and cost.py):
- insert: place unplaced jobs where they fit as things are (most work first);
- eject: place an unplaced single-replica job on one of the nodes where it lacks least, by
  moving residents elsewhere or evicting residents of less work;
- gang: place an unplaced gang in a group by evicting less work from the nodes where its
  replicas lack least, re-placing what was evicted wherever it fits;
- repack: refill a node from its residents and the pool of unplaced jobs, densest first by the
  LP's dual prices (more work on the node, the dropped residents may find room elsewhere);
- perturb (only with a time or step budget, at a local optimum): ruin and recreate a few nodes,
  half the time nodes drawn by the value of the capacity they leave idle (resource_value);
- cost (money, energy): move jobs to cheaper groups; empty open nodes into others by chains of
  swaps (vector bin packing).

What the search never touches: running jobs (they stay where they run: moving and evicting them
is the CP-SAT / LNS engine's business) and jobs of services (their relations are checked only
by the greedy that placed them, so they are frozen afterwards). Required jobs may move but
are never left out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from scheduler.placement.index.aggregate import (
    View,
    classify,
)
from scheduler.placement.model.params import ShouldStop
from scheduler.placement.model.problem import ObjectiveWeights, Problem, Solution
from scheduler.placement.search.budget import Budget, Misses, evictable
from scheduler.placement.search.cost import consolidate_pass, cost_pass
from scheduler.placement.search.eject import eject_pass, gang_pass
from scheduler.placement.search.packing import Packing
from scheduler.placement.search.repack import perturb, repack_pass

Progress = Callable[[str, Mapping[str, object]], None]


def improve(
    p: Problem,
    weights: ObjectiveWeights,
    solution: Solution,
    deadline: float | None = None,
    *,
    steps: int | None = None,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> Solution:
    """`solution` after local search until `deadline` (time.monotonic()), `steps` job moves
    tried (a budget that does not depend on the machine) or the caller's `should_stop`, or
    until no move helps.

    The jobs `solution` places are kept where they are, except queued jobs outside services,
    which the moves may shift or (for more work) evict.
    """
    view = View(p)
    state = Packing(view, classify(view), solution, weights=weights)
    # Queued jobs of the given answer may be moved: unfreeze them.
    for j in range(p.num_jobs):
        if view.current[j] is None and j not in view.in_service:
            state.frozen[j] = False
    improve_packing(state, weights, Budget(deadline, steps, should_stop), progress=progress)
    return state.solution()


def improve_packing(
    state: Packing,
    weights: ObjectiveWeights,
    budget: Budget,
    *,
    progress: Progress | None = None,
) -> None:
    """Runs the moves (module docstring) on `state` in place until none helps or time is up."""
    rounds = 0
    gained = drop_pass(state, budget) if weights.work is not None else 0
    passes: list[tuple[str, Callable[[Packing, Budget], int]]] = [
        ("insert", insert_pass),
        ("eject", eject_pass),
        ("gang", gang_pass),
        ("repack", repack_pass),
        ("insert", insert_pass),
    ]
    while not budget.exhausted():
        rounds += 1
        step = 0
        for name, move in passes:
            t0 = time.monotonic()
            got = move(state, budget)
            step += got
            if progress is not None:
                progress(
                    "local_search_pass",
                    {"round": rounds, "move": name, "work": got, "s": time.monotonic() - t0},
                )
        gained += step
        if not step:
            break
    if budget.deadline is not None or budget.steps is not None:
        # Time left at a local optimum: ruin and recreate small neighbourhoods.
        gained += perturb(state, budget)
    # Work is settled; now the costs: cheaper groups, fewer open nodes.
    saved = 0
    if weights.money or weights.energy:
        while not budget.exhausted():
            step_saved = cost_pass(state, budget)
            if weights.energy and state.energy:
                step_saved += consolidate_pass(state, budget)
            saved += step_saved
            if not step_saved:
                break
    if progress is not None:
        progress(
            "local_search_done",
            {"rounds": rounds, "work_gained": gained, "cost_saved": saved, "steps": budget.used},
        )


def insert_pass(state: Packing, budget: Budget) -> int:
    """Places unplaced movable jobs that fit as they are, most work first, each if it raises
    the objective (always, unless an explicit work weight is outweighed by the job's cost);
    returns the gain."""
    view = state.view
    p = state.p
    todo = [
        j
        for j in range(p.num_jobs)
        if state.where[j] is None and not state.frozen[j] and j not in view.in_service
    ]
    todo.sort(key=lambda j: (-view.work[j], p.job_order[j], j))
    gained = 0
    misses = Misses(state)
    for j in todo:
        if budget.spent():
            break
        if misses.hopeless(j):
            continue
        state.trial()
        if state.place(j):
            gained += state.settle()
        else:
            state.rollback()
            misses.record(j)
    return gained


def drop_pass(state: Packing, budget: Budget) -> int:
    """Unplaces movable jobs whose cost outweighs their work (only possible with an explicit
    work weight); returns the gain."""
    gained = 0
    for j in range(state.p.num_jobs):
        if state.where[j] is None or not evictable(state, j):
            continue
        if budget.spent():
            break
        state.trial()
        state.remove(j)
        gained += state.settle()
    return gained
