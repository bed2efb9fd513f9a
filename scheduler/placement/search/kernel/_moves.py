"""Compiled (numba) delta evaluation of shift and swap moves on the flat state (arrays.py): the
same feasibility and cost change as reassign.py's `try_moves`, one scalar loop per candidate
instead of numpy temporaries. Untyped for mypy (numba's decorators have no types): compiled.py
is the typed way in.

Functions here take plain arrays, never the NamedTuples: numba passes a NamedTuple of ~45
arrays as ~300 machine arguments, which made every call slower than the evaluation itself and
compiling took a minute (measured: 1.6 s more per function taking them). Only the entry points
(_search.py) take the NamedTuples and unpack them once. A job index of -1 means "no job".
Costs are weighted integers like reassign_state.py's, so the deltas equal Python's exactly.
"""

import numba
import numpy as np

COST, SVC_MAX, SCORED = 0, 1, 2  # Dynamic.scalars
SPREAD, MEMBERS, MOVED = 0, 1, 2  # Dynamic.svc_state columns
ANTI, SPREAD_KEY, SPREAD_MIN = 0, 1, 2  # Static.svc columns
NONE = np.iinfo(np.int64).max  # "infeasible" as a delta
jit = numba.njit(cache=True)

# fmt: off


@jit
def node_cost_with(n, plus, minus, used, cap, safety, load_w, bal, demand):
    """Load plus balance cost of node n with job `plus` added and job `minus` taken away."""
    cost = 0
    for r in range(cap.shape[1]):
        u = used[n, r]
        if plus >= 0:
            u += demand[plus, r]
        if minus >= 0:
            u -= demand[minus, r]
        over = u - safety[n, r]
        if over > 0:
            cost += over * load_w[r]
    for i in range(bal.shape[0]):
        r1 = bal[i, 0]
        r2 = bal[i, 1]
        u1 = used[n, r1]
        u2 = used[n, r2]
        if plus >= 0:
            u1 += demand[plus, r1]
            u2 += demand[plus, r2]
        if minus >= 0:
            u1 -= demand[minus, r1]
            u2 -= demand[minus, r2]
        over = bal[i, 2] * (cap[n, r1] - u1) - (cap[n, r2] - u2)
        if over > 0:
            cost += over * bal[i, 3]
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
def leave_delta(j, where, used, node_cost, cap, safety, load_w, bal, demand):
    """What j's leaving its node changes in that node's cost (move_delta's `base`)."""
    a = where[j]
    return node_cost_with(a, -1, j, used, cap, safety, load_w, bal, demand) - node_cost[a]


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
def move_delta(
    j, k, b, base, where, used, chk, count, node_cost, on_node, svc_state, hist, scalars,
    cap, safety, load_w, transient, bal, demand, orig, move_cost, mmc, prices, open_cost,
    weights, job_set, eligible, jsp, js, svc,
):
    """The exact cost change of j's move to b (k = -1: a shift) or of j and k trading nodes
    (b = where[k]); NONE if it breaks capacity, eligibility or anti-affinity (spread and
    dependencies are checked by the trial, after the move)."""
    a = where[j]
    if b == a or not eligible[job_set[j], b]:
        return NONE
    if k >= 0 and not eligible[job_set[k], a]:
        return NONE
    if not anti_ok(j, k, a, b, jsp, js, svc, on_node):
        return NONE
    if not fits(j, b, k, chk, cap, transient, demand, orig):
        return NONE
    if k >= 0 and not fits(k, a, j, chk, cap, transient, demand, orig):
        return NONE
    w_mig, w_money, w_energy, svc_weight = weights[0], weights[1], weights[2], weights[3]
    if k < 0 and base != NONE:
        delta = base
    else:
        delta = node_cost_with(a, k, j, used, cap, safety, load_w, bal, demand) - node_cost[a]
    delta += node_cost_with(b, j, k, used, cap, safety, load_w, bal, demand) - node_cost[b]
    mig = migration(j, b, orig, move_cost, mmc) - migration(j, a, orig, move_cost, mmc)
    if k >= 0:
        mig += migration(k, a, orig, move_cost, mmc) - migration(k, b, orig, move_cost, mmc)
    delta += w_mig * mig
    if w_money:
        pay = money(j, b, demand, prices) - money(j, a, demand, prices)
        if k >= 0:
            pay += money(k, a, demand, prices) - money(k, b, demand, prices)
        delta += w_money * pay
    if k < 0 and w_energy:
        # A shift may open b or close a; a swap leaves every node's count as it was.
        if count[b] == 0:
            delta += w_energy * open_cost[b]
        if count[a] == 1:
            delta -= w_energy * open_cost[a]
    if w_mig and svc_weight:
        sj = moved_sign(j, a, b, orig)
        sk = moved_sign(k, b, a, orig) if k >= 0 else 0
        if sj != 0 or sk != 0:
            old = scalars[SVC_MAX]
            after = svc_max_after(j, sj, k, sk, jsp, js, svc_state, hist, old)
            delta += w_mig * svc_weight * (after - old)
    return delta
