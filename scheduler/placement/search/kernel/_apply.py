"""Compiled (numba) application of moves on the flat state, mirroring reassign_state.py's
_leave / _arrive / _count_services / _feasible, and the exact trial of a scored move. Plain
arrays only, untyped for mypy, like _moves.py."""

from scheduler.placement.search.kernel._moves import (
    ANTI,
    COST,
    MEMBERS,
    MOVED,
    SPREAD,
    SPREAD_KEY,
    SPREAD_MIN,
    SVC_MAX,
    jit,
    node_cost_with,
)

# fmt: off


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
