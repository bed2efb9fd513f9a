"""The compiled (numba) kernel on the flat state (arrays.py): the delta evaluation of shift and
swap moves -- the same feasibility and cost change as reassign.py's `try_moves`, one scalar
loop per candidate instead of numpy temporaries -- their application (reassign_state.py's
_leave / _arrive / _count_services / _feasible), and chunks of late-acceptance steps, each one
job's best shift or swap under a limit (reassign.py's `_late_acceptance`, same rules).
Untyped for mypy (numba's decorators have no types): compiled.py is the typed way in.

One module on purpose: numba's cache (cache=True) is keyed by the stamp of the file that
defines a function, not of the files its callees live in, so a kernel split over modules
could run machine code compiled from an older version of a callee after an edit.

Functions take plain arrays, not the NamedTuples: compiling a function that takes them cost
1.6 s more each (a first version took a minute to compile and ran slower). Only the entry
points (seed, evaluate, try_move, late_chunk) take the NamedTuples and unpack them once. A job
index of -1 means "no job". Costs are weighted integers like reassign_state.py's, so the
deltas equal Python's exactly.
"""

import numba
import numpy as np

COST, SVC_MAX, SCORED = 0, 1, 2  # Dynamic.scalars
SPREAD, MEMBERS, MOVED = 0, 1, 2  # Dynamic.svc_state columns
ANTI, SPREAD_KEY, SPREAD_MIN = 0, 1, 2  # Static.svc columns
NONE = np.iinfo(np.int64).max  # "infeasible" as a delta
jit = numba.njit(cache=True)
# The two per-candidate deltas are inlined into the scan (numba IR inlining): an outlined call
# per candidate cost a quarter of the scan at 5,000 nodes (2.2 M against 3.0 M moves/s).
inline = numba.njit(cache=True, inline="always")

# fmt: off


@jit
def node_cost_with(n, plus, minus, used, cap, safety, load_w, bal, demand):
    """Load plus balance cost of node n with job `plus` added and job `minus` taken away."""
    # Branch-free in the resource loop (a job of -1 adds 0 via the 0/1 factors): these two
    # loops are most of the time of a move's evaluation.
    fp = 1 if plus >= 0 else 0
    fm = 1 if minus >= 0 else 0
    p = max(plus, 0)
    m = max(minus, 0)
    cost = 0
    for r in range(cap.shape[1]):
        u = used[n, r] + fp * demand[p, r] - fm * demand[m, r]
        cost += max(u - safety[n, r], 0) * load_w[r]
    for i in range(bal.shape[0]):
        r1 = bal[i, 0]
        r2 = bal[i, 1]
        u1 = used[n, r1] + fp * demand[p, r1] - fm * demand[m, r1]
        u2 = used[n, r2] + fp * demand[p, r2] - fm * demand[m, r2]
        over = bal[i, 2] * (cap[n, r1] - u1) - (cap[n, r2] - u2)
        cost += max(over, 0) * bal[i, 3]
    return cost


@jit
def fits(j, n, minus, chk, cap, transient, demand, orig):
    """Whether job j fits on node n once job `minus` (on n, or -1) left it: the capacity rows
    with transient holds (a job leaving its home keeps its transient usage there, a job
    arriving home adds none)."""
    for r in range(cap.shape[1]):
        add = demand[j, r]
        if transient[r] and orig[j] == n:
            add = 0
        sub = 0
        if minus >= 0:
            sub = demand[minus, r]
            if transient[r] and orig[minus] == n:
                sub = 0
        if chk[n, r] - sub + add > cap[n, r]:
            return False
    return True


@jit
def migration(j, n, orig, move_cost, mmc):
    """Unweighted migration cost of job j on node n (0 at home or for a queued job)."""
    a = orig[j]
    if a < 0 or a == n:
        return 0
    cost = move_cost[j]
    if mmc.shape[0] > 0:
        cost += mmc[a, n]
    return cost


@jit
def money(j, n, demand, prices):
    total = 0
    for r in range(demand.shape[1]):
        total += demand[j, r] * prices[n, r]
    return total


@jit
def moved_sign(j, a, b, orig):
    """How j's services' moved-replica counts change when j goes from a to b."""
    home = orig[j]
    if home < 0:
        return 0
    return (1 if b != home else 0) - (1 if a != home else 0)


@jit
def in_services(j, s, jsp, js):
    if j < 0:
        return False
    for i in range(jsp[j], jsp[j + 1]):  # noqa: SIM110 (numba compiles no generators)
        if js[i] == s:
            return True
    return False


@jit
def _net(s, j, sj, k, sk, jsp, js):
    d = 0
    if sj != 0 and in_services(j, s, jsp, js):
        d += sj
    if sk != 0 and in_services(k, s, jsp, js):
        d += sk
    return d


@jit
def svc_max_after(j, sj, k, sk, jsp, js, svc_state, hist, old):
    """The largest moved-replica count of one service after j's services change by sj and
    k's (k = -1: none) by sk, from the histogram of counts instead of a scan of the services."""
    top = -1
    for x in (j, k):
        if x < 0:
            continue
        for i in range(jsp[x], jsp[x + 1]):
            s = js[i]
            d = _net(s, j, sj, k, sk, jsp, js)
            if d != 0:
                top = max(top, svc_state[s, MOVED] + d)
    if top < 0:
        return old  # nothing changes
    if top >= old:
        return top
    level = old
    while level > top:
        # Services at this level that stay there: all of them less those the move changes.
        lost = 0
        for x in (j, k):
            if x < 0:
                continue
            for i in range(jsp[x], jsp[x + 1]):
                s = js[i]
                if x == k and sj != 0 and in_services(j, s, jsp, js):
                    continue  # counted with j's
                if svc_state[s, MOVED] == level and _net(s, j, sj, k, sk, jsp, js) != 0:
                    lost += 1
        if hist[level] - lost > 0:
            return level
        level -= 1
    return top


@jit
def anti_ok(j, k, a, b, jsp, js, svc, on_node):
    """After j goes a -> b (and k, if >= 0, b -> a): at most one replica of each
    anti-affinity service of either on a and on b."""
    for x in (j, k):
        if x < 0:
            continue
        for i in range(jsp[x], jsp[x + 1]):
            s = js[i]
            row = svc[s, ANTI]
            if row < 0:
                continue
            in_j = 1 if in_services(j, s, jsp, js) else 0
            in_k = 1 if in_services(k, s, jsp, js) else 0
            if on_node[row, a] - in_j + in_k > 1 or on_node[row, b] - in_k + in_j > 1:
                return False
    return True


@jit
def shift_terms(
    j, pre, where, used, count, node_cost, svc_state, hist, scalars, cap, safety, load_w, bal,
    demand, orig, move_cost, mmc, prices, open_cost, weights, jsp, js,
):
    """The parts of j's shift delta that do not depend on the node it goes to, into `pre`:
    [0] what leaving its node changes (load, balance, migration, money, energy), [1] and [2]
    the service-move term for a move home and for a move elsewhere. One scan of every node
    then costs one node's load and balance per candidate."""
    a = where[j]
    w_mig, w_money, w_energy, svc_weight = weights[0], weights[1], weights[2], weights[3]
    pre[0] = node_cost_with(a, -1, j, used, cap, safety, load_w, bal, demand) - node_cost[a]
    pre[0] -= w_mig * migration(j, a, orig, move_cost, mmc)
    if w_money:
        pre[0] -= w_money * money(j, a, demand, prices)
    if w_energy and count[a] == 1:
        pre[0] -= w_energy * open_cost[a]
    pre[1] = 0
    pre[2] = 0
    home = orig[j]
    if w_mig and svc_weight and home >= 0:
        old = scalars[SVC_MAX]
        for i, sign in ((1, moved_sign(j, a, home, orig)), (2, 1 - (1 if a != home else 0))):
            if sign != 0:
                after = svc_max_after(j, sign, -1, 0, jsp, js, svc_state, hist, old)
                pre[i] = w_mig * svc_weight * (after - old)


@inline
def shift_delta(
    j, b, pre, where, chk, count, node_cost, on_node, used, cap, safety, load_w, transient, bal,
    demand, orig, move_cost, mmc, prices, open_cost, weights, job_set, eligible, jsp, js, svc,
):
    """The exact cost change of j's move to b, given shift_terms' `pre`; NONE if it breaks
    capacity, eligibility or anti-affinity (spread and dependencies are checked by the trial,
    after the move)."""
    if b == where[j] or not eligible[job_set[j], b]:
        return NONE
    for i in range(jsp[j], jsp[j + 1]):
        row = svc[js[i], ANTI]
        if row >= 0 and on_node[row, b] > 0:
            return NONE
    if not fits(j, b, -1, chk, cap, transient, demand, orig):
        return NONE
    w_mig, w_money, w_energy = weights[0], weights[1], weights[2]
    delta = pre[0] + node_cost_with(b, j, -1, used, cap, safety, load_w, bal, demand)
    delta += w_mig * migration(j, b, orig, move_cost, mmc) - node_cost[b]
    delta += pre[1] if b == orig[j] else pre[2]
    if w_money:
        delta += w_money * money(j, b, demand, prices)
    if w_energy and count[b] == 0:
        delta += w_energy * open_cost[b]
    return delta


@inline
def swap_delta(
    j, k, where, used, chk, node_cost, on_node, svc_state, hist, scalars, cap, safety, load_w,
    transient, bal, demand, orig, move_cost, mmc, prices, weights, job_set, eligible, jsp, js,
    svc,
):
    """The exact cost change of j and k trading nodes; NONE as for shift_delta. Node counts do
    not change, so neither does the energy term."""
    a = where[j]
    b = where[k]
    if b == a or not eligible[job_set[j], b] or not eligible[job_set[k], a]:
        return NONE
    if not fits(j, b, k, chk, cap, transient, demand, orig):
        return NONE
    if not fits(k, a, j, chk, cap, transient, demand, orig):
        return NONE
    if not anti_ok(j, k, a, b, jsp, js, svc, on_node):
        return NONE
    w_mig, w_money, svc_weight = weights[0], weights[1], weights[3]
    delta = node_cost_with(a, k, j, used, cap, safety, load_w, bal, demand) - node_cost[a]
    delta += node_cost_with(b, j, k, used, cap, safety, load_w, bal, demand) - node_cost[b]
    mig = migration(j, b, orig, move_cost, mmc) - migration(j, a, orig, move_cost, mmc)
    mig += migration(k, a, orig, move_cost, mmc) - migration(k, b, orig, move_cost, mmc)
    delta += w_mig * mig
    if w_money:
        pay = money(j, b, demand, prices) - money(j, a, demand, prices)
        pay += money(k, a, demand, prices) - money(k, b, demand, prices)
        delta += w_money * pay
    if w_mig and svc_weight:
        sj = moved_sign(j, a, b, orig)
        sk = moved_sign(k, b, a, orig)
        if sj != 0 or sk != 0:
            old = scalars[SVC_MAX]
            after = svc_max_after(j, sj, k, sk, jsp, js, svc_state, hist, old)
            delta += w_mig * svc_weight * (after - old)
    return delta


# -- applying moves -------------------------------------------------------------------------------
@jit
def _count_services(j, n, sign, on_node, in_domain, svc_state, jsp, js, svc, skp, skeys, domains):
    for i in range(jsp[j], jsp[j + 1]):
        s = js[i]
        svc_state[s, MEMBERS] += sign
        row = svc[s, ANTI]
        if row >= 0:
            on_node[row, n] += sign
        for q in range(skp[s], skp[s + 1]):
            k = skeys[q, 0]
            pos = skeys[q, 1] + domains[k, n]
            before = in_domain[pos]
            in_domain[pos] = before + sign
            if k == svc[s, SPREAD_KEY]:
                if before == 0 and sign > 0:
                    svc_state[s, SPREAD] += 1
                elif before == 1 and sign < 0:
                    svc_state[s, SPREAD] -= 1


@jit
def _moved_service(j, sign, svc_state, hist, scalars, jsp, js):
    for i in range(jsp[j], jsp[j + 1]):
        s = js[i]
        old = svc_state[s, MOVED]
        svc_state[s, MOVED] = old + sign
        hist[old] -= 1
        hist[old + sign] += 1
        if old + sign > scalars[SVC_MAX]:
            scalars[SVC_MAX] = old + sign
    top = scalars[SVC_MAX]
    while top > 0 and hist[top] == 0:
        top -= 1
    scalars[SVC_MAX] = top


@jit
def _place(j, n, sign, used, chk, count, transient, demand, orig):
    """Adds (sign 1) or removes (-1) j's usage on n: at its home the transient hold stays
    when it leaves, and becomes its usage again when it comes back."""
    home = orig[j]
    for r in range(used.shape[1]):
        d = demand[j, r]
        used[n, r] += sign * d
        if n != home or not transient[r]:
            chk[n, r] += sign * d
    count[n] += sign


@jit
def shift(
    j, b, where, used, chk, count, node_cost, on_node, in_domain, svc_state, hist, scalars,
    cap, safety, load_w, transient, bal, demand, orig, jsp, js, svc, skp, skeys, domains,
):
    """Moves j to b and refreshes both nodes' costs (not the total: the caller's delta)."""
    a = where[j]
    for n, sign in ((a, -1), (b, 1)):
        _place(j, n, sign, used, chk, count, transient, demand, orig)
        if n != orig[j] and orig[j] >= 0:
            _moved_service(j, sign, svc_state, hist, scalars, jsp, js)
        _count_services(j, n, sign, on_node, in_domain, svc_state, jsp, js, svc, skp, skeys,
                        domains)
        node_cost[n] = node_cost_with(n, -1, -1, used, cap, safety, load_w, bal, demand)
    where[j] = b


@jit
def _offset(s, k, skp, skeys):
    for q in range(skp[s], skp[s + 1]):
        if skeys[q, 0] == k:
            return skeys[q, 1]
    return -1


@jit
def services_ok(
    j, a, b, in_domain, svc_state, jsp, js, svc, skp, skeys, domains, dep_ptr, deps, rdep_ptr,
    rdeps,
):
    """After j moved from a to b: spread of its services, and their dependencies both ways
    (reassign_state.py's _feasible: b must hold some replica of each service they depend on,
    and a domain j left must not strand a dependant)."""
    for i in range(jsp[j], jsp[j + 1]):
        s = js[i]
        need = svc[s, SPREAD_MIN]
        if need > 0 and svc_state[s, SPREAD] < need and svc_state[s, MEMBERS] > 0:
            return False
        for q in range(dep_ptr[s], dep_ptr[s + 1]):
            t = deps[q, 0]
            k = deps[q, 1]
            if in_domain[_offset(t, k, skp, skeys) + domains[k, b]] == 0:
                return False
        for q in range(rdep_ptr[s], rdep_ptr[s + 1]):
            u = rdeps[q, 0]
            k = rdeps[q, 1]
            dom = domains[k, a]
            if (
                in_domain[_offset(s, k, skp, skeys) + dom] == 0
                and in_domain[_offset(u, k, skp, skeys) + dom] > 0
            ):
                return False
    return True


@jit
def trial(
    j, k, b, delta, where, used, chk, count, node_cost, on_node, in_domain, svc_state, hist,
    scalars, cap, safety, load_w, transient, bal, demand, orig, jsp, js, svc, skp, skeys,
    domains, dep_ptr, deps, rdep_ptr, rdeps,
):
    """Applies j's scored move to b (k = -1), or j and k trading nodes (b = where[k]); keeps it
    if spread and dependencies hold, else undoes it. Returns whether it was kept."""
    a = where[j]
    shift(j, b, where, used, chk, count, node_cost, on_node, in_domain, svc_state, hist,
          scalars, cap, safety, load_w, transient, bal, demand, orig, jsp, js, svc, skp, skeys,
          domains)
    if k >= 0:
        shift(k, a, where, used, chk, count, node_cost, on_node, in_domain, svc_state, hist,
              scalars, cap, safety, load_w, transient, bal, demand, orig, jsp, js, svc, skp,
              skeys, domains)
    ok = services_ok(j, a, b, in_domain, svc_state, jsp, js, svc, skp, skeys, domains, dep_ptr,
                     deps, rdep_ptr, rdeps)
    if ok and k >= 0:
        ok = services_ok(k, b, a, in_domain, svc_state, jsp, js, svc, skp, skeys, domains,
                         dep_ptr, deps, rdep_ptr, rdeps)
    if ok:
        scalars[COST] += delta
        return True
    if k >= 0:
        shift(k, b, where, used, chk, count, node_cost, on_node, in_domain, svc_state, hist,
              scalars, cap, safety, load_w, transient, bal, demand, orig, jsp, js, svc, skp,
              skeys, domains)
    shift(j, a, where, used, chk, count, node_cost, on_node, in_domain, svc_state, hist,
          scalars, cap, safety, load_w, transient, bal, demand, orig, jsp, js, svc, skp, skeys,
          domains)
    return False


# -- entry points ---------------------------------------------------------------------------------

# Scored candidates that get an exact trial, best first (reassign.py's _EXACT_TRIES): the score
# is exact but for spread and dependencies, which the trial checks.
EXACT_TRIES = 4

@jit
def seed(value):
    np.random.seed(value)


@jit
def evaluate(S, X, j, k, b):
    """j's shift to b (k = -1) or j and k trading nodes: the delta, or NONE."""
    if k >= 0:
        return swap_delta(
            j, k, X.where, X.used, X.chk, X.node_cost, X.on_node, X.svc_state, X.hist, X.scalars,
            S.cap, S.safety, S.load_w, S.transient, S.bal, S.demand, S.orig, S.move_cost, S.mmc,
            S.prices, S.weights, S.job_set, S.eligible, S.jsp, S.js, S.svc)
    pre = np.zeros(3, dtype=np.int64)
    shift_terms(
        j, pre, X.where, X.used, X.on_nodes, X.node_cost, X.svc_state, X.hist, X.scalars, S.cap,
        S.safety, S.load_w, S.bal, S.demand, S.orig, S.move_cost, S.mmc, S.prices, S.open_cost,
        S.weights, S.jsp, S.js)
    return shift_delta(
        j, b, pre, X.where, X.chk, X.on_nodes, X.node_cost, X.on_node, X.used, S.cap, S.safety,
        S.load_w, S.transient, S.bal, S.demand, S.orig, S.move_cost, S.mmc, S.prices,
        S.open_cost, S.weights, S.job_set, S.eligible, S.jsp, S.js, S.svc)


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
def late_chunk(
    S, X, past, step0, steps, sample, deltas, targets, best_where, best, keep, window
):
    """`steps` late-acceptance steps from step number `step0`: the best shift or swap (even
    odds; swaps with `sample` random partners, all of them if 0) of a random job among the
    first `window` of S.movable (biggest first: reassign.window) is taken if it leaves the
    cost below max(past[slot], cost) + 1. best[0] is the best cost seen;
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
    pre = np.zeros(3, dtype=np.int64)
    kept = 0
    for step in range(step0, step0 + steps):
        j = movable[np.random.randint(window)]
        slot = step % length
        cost = scalars[COST]
        limit = max(past[slot], cost) - cost + 1
        swap = np.random.random() >= 0.5
        a = where[j]
        found = 0
        total = n_nodes if not swap else (n_movable if sample <= 0 else sample)
        if not swap:
            shift_terms(
                j, pre, where, used, count, node_cost, svc_state, hist, scalars, cap, safety,
                load_w, bal, demand, orig, move_cost, mmc, prices, open_cost, weights, jsp, js)
        for i in range(total):
            k = -1
            if swap:
                k = movable[i] if sample <= 0 else movable[np.random.randint(n_movable)]
                if where[k] == a or (first_anti[j] >= 0 and first_anti[k] == first_anti[j]):
                    continue  # same node, or same service: nothing changes
                delta = swap_delta(
                    j, k, where, used, chk, node_cost, on_node, svc_state, hist, scalars, cap,
                    safety, load_w, transient, bal, demand, orig, move_cost, mmc, prices,
                    weights, job_set, eligible, jsp, js, svc)
            else:
                delta = shift_delta(
                    j, i, pre, where, chk, count, node_cost, on_node, used, cap, safety, load_w,
                    transient, bal, demand, orig, move_cost, mmc, prices, open_cost, weights,
                    job_set, eligible, jsp, js, svc)
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
