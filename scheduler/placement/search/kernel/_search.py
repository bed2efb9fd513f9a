"""Compiled (numba) entry points: one move's delta and trial (for the tests and the
benchmark), and chunks of late-acceptance steps, each step one job's best shift or swap under
a limit (reassign.py's `_late_acceptance`, same rules). The only functions that take the
NamedTuples (arrays.py): they unpack them once for _moves.py and _apply.py. Untyped for mypy."""

import numpy as np

from scheduler.placement.search.kernel._apply import trial
from scheduler.placement.search.kernel._moves import (
    COST,
    NONE,
    SCORED,
    jit,
    leave_delta,
    move_delta,
)

# Scored candidates that get an exact trial, best first (reassign.py's _EXACT_TRIES): the score
# is exact but for spread and dependencies, which the trial checks.
EXACT_TRIES = 4

# fmt: off


@jit
def seed(value):
    np.random.seed(value)


@jit
def evaluate(S, X, j, k, b):
    """move_delta on the NamedTuples: j to b (k = -1), or j and k trading nodes."""
    return move_delta(
        j, k, b, NONE, X.where, X.used, X.chk, X.on_nodes, X.node_cost, X.on_node, X.svc_state,
        X.hist, X.scalars, S.cap, S.safety, S.load_w, S.transient, S.bal, S.demand, S.orig,
        S.move_cost, S.mmc, S.prices, S.open_cost, S.weights, S.job_set, S.eligible, S.jsp, S.js,
        S.svc)


@jit
def try_move(S, X, j, k, b):
    """Scores j's move (as evaluate) and, if feasible so far, tries it: whether it was kept."""
    delta = evaluate(S, X, j, k, b)
    if delta == NONE:
        return False
    return trial(
        j, k, b, delta, X.where, X.used, X.chk, X.on_nodes, X.node_cost, X.on_node, X.in_domain,
        X.svc_state, X.hist, X.scalars, S.cap, S.safety, S.load_w, S.transient, S.bal, S.demand,
        S.orig, S.jsp, S.js, S.svc, S.skp, S.skeys, S.domains, S.dep_ptr, S.deps, S.rdep_ptr,
        S.rdeps)


@jit
def late_chunk(S, X, past, step0, steps, sample, deltas, targets, best_where, best, keep):
    """`steps` late-acceptance steps from step number `step0`: a random movable job's best
    shift or swap (even odds; swaps with `sample` random partners, all of them if 0) is taken
    if it leaves the cost below max(past[slot], cost) + 1. best[0] is the best cost seen;
    keep[0] == 1 while the current state is that best and best_where does not hold it yet
    (it is saved just before a move that raises the cost). Returns the moves kept."""
    where, used, chk, count, node_cost = X.where, X.used, X.chk, X.on_nodes, X.node_cost
    on_node, in_domain, svc_state, hist, scalars = (
        X.on_node, X.in_domain, X.svc_state, X.hist, X.scalars)
    cap, safety, load_w, transient, bal = S.cap, S.safety, S.load_w, S.transient, S.bal
    demand, orig, move_cost, mmc, prices = S.demand, S.orig, S.move_cost, S.mmc, S.prices
    open_cost, weights, job_set, eligible = S.open_cost, S.weights, S.job_set, S.eligible
    jsp, js, svc, skp, skeys, domains = S.jsp, S.js, S.svc, S.skp, S.skeys, S.domains
    dep_ptr, deps, rdep_ptr, rdeps = S.dep_ptr, S.deps, S.rdep_ptr, S.rdeps
    movable, first_anti = S.movable, S.first_anti
    n_nodes = cap.shape[0]
    n_movable = movable.shape[0]
    length = past.shape[0]
    kept = 0
    for step in range(step0, step0 + steps):
        j = movable[np.random.randint(n_movable)]
        slot = step % length
        cost = scalars[COST]
        limit = max(past[slot], cost) - cost + 1
        swap = np.random.random() >= 0.5
        a = where[j]
        found = 0
        total = n_nodes if not swap else (n_movable if sample <= 0 else sample)
        base = NONE if swap else leave_delta(
            j, where, used, node_cost, cap, safety, load_w, bal, demand)
        for i in range(total):
            k = -1
            b = i
            if swap:
                k = movable[i] if sample <= 0 else movable[np.random.randint(n_movable)]
                b = where[k]
                if b == a or (first_anti[j] >= 0 and first_anti[k] == first_anti[j]):
                    continue  # same node, or same service: nothing changes
            delta = move_delta(
                j, k, b, base, where, used, chk, count, node_cost, on_node, svc_state, hist,
                scalars, cap, safety, load_w, transient, bal, demand, orig, move_cost, mmc, prices,
                open_cost, weights, job_set, eligible, jsp, js, svc)
            if delta < limit:
                deltas[found] = delta
                targets[found] = i if not swap else k
                found += 1
        scalars[SCORED] += total - (0 if swap else 1)
        # The best few, best first, tried exactly.
        for _ in range(min(found, EXACT_TRIES)):
            pick = 0
            for i in range(1, found):
                if deltas[i] < deltas[pick]:
                    pick = i
            delta = deltas[pick]
            deltas[pick] = NONE
            k = targets[pick] if swap else -1
            b = where[k] if swap else targets[pick]
            if delta > 0 and keep[0] == 1:
                best_where[:] = where
                keep[0] = 0
            if trial(
                j, k, b, delta, where, used, chk, count, node_cost, on_node, in_domain,
                svc_state, hist, scalars, cap, safety, load_w, transient, bal, demand, orig,
                jsp, js, svc, skp, skeys, domains, dep_ptr, deps, rdep_ptr, rdeps,
            ):
                kept += 1
                if scalars[COST] < best[0]:
                    best[0] = scalars[COST]
                    keep[0] = 1
                break
        past[slot] = scalars[COST]
    return kept
