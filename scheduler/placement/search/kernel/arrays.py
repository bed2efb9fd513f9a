"""The reassignment state (reassign_state.py) as flat numpy arrays, the compiled kernel's input.

`Static` holds what no move changes (capacities, demands, costs, the services' structure as
CSR lists); `Dynamic` what the moves change (where every job is, usage, counts, the cost).
Both are NamedTuples of arrays because numba passes those to compiled code unboxed and reads
their fields by name. Built from a `ReassignState` so the kernel starts from exactly the
usage, transient holds and fixed costs the Python search computed.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from scheduler.placement.search.reassign_state import ReassignState

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

# Dynamic.scalars: the total cost, the largest count of moved replicas of one service, and
# the number of candidate moves scored since the state was built (the benchmark's counter).
COST, SVC_MAX, SCORED = 0, 1, 2


class Static(NamedTuple):
    cap: Ints  # [N, R]
    safety: Ints  # [N, R]
    load_w: Ints  # [R], weighted
    transient: Bools  # [R]
    bal: Ints  # [B, 4]: r1, r2, target, weight (weighted)
    demand: Ints  # [J, R]
    orig: Ints  # [J], home node or -1
    move_cost: Ints  # [J], unweighted
    mmc: Ints  # [N, N] machine move costs, or [0, 0] when there are none
    prices: Ints  # [N, R]
    open_cost: Ints  # [N]
    weights: Ints  # migration, money, energy, service move weight
    job_set: Ints  # [J] node set of each job
    eligible: Bools  # [sets, N]
    movable: Ints  # the jobs that may move, biggest first (late_chunk's window)
    first_anti: Ints  # [J] first anti-affinity row of the job (-1: none)
    jsp: Ints  # [J + 1] CSR: the services of each job ...
    js: Ints  # ... flat
    svc: Ints  # [S, 3]: anti-affinity row (-1: none), spread key, spread min
    skp: Ints  # [S + 1] CSR: the domain keys counted for each service ...
    skeys: Ints  # ... [Q, 2]: key, where its counts start in Dynamic.in_domain
    domains: Ints  # [K, N] domain of each node per key
    dep_ptr: Ints  # [S + 1] CSR: what each service depends on ...
    deps: Ints  # ... [D, 2]: service, key
    rdep_ptr: Ints  # [S + 1] CSR: what depends on each service ...
    rdeps: Ints  # ... [D', 2]: service, key


class Dynamic(NamedTuple):
    where: Ints  # [J], -1 for jobs the search does not place
    used: Ints  # [N, R]
    chk: Ints  # [N, R]: used plus transient holds
    on_nodes: Ints  # [N] replicas per node (`count` would shadow tuple.count)
    node_cost: Ints  # [N] load + balance cost
    on_node: Ints  # [A, N] replicas of each anti-affinity service per node
    in_domain: Ints  # flat: replicas of (service, key) per domain
    svc_state: Ints  # [S, 3]: domains covered on the spread key, members, moved replicas
    hist: Ints  # number of services with each moved-replica count
    scalars: Ints  # COST, SVC_MAX, SCORED


def applies(state: ReassignState) -> bool:
    """Whether the kernel can carry this state: machine move costs, if any, as a full matrix
    (reassign_state._MOVE_MATRIX_MAX_NODES), and something to move."""
    return bool(state.movable) and (state.mmc is not None or not state.has_mmc)


def _csr(rows: list[list[int]]) -> tuple[Ints, Ints]:
    ptr = np.zeros(len(rows) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(r) for r in rows])
    flat = np.array([x for r in rows for x in r], dtype=np.int64)
    return ptr, flat


def _pairs(rows: list[list[tuple[int, int]]]) -> tuple[Ints, Ints]:
    ptr, _ = _csr([[0] * len(r) for r in rows])
    flat = np.array([pair for r in rows for pair in r], dtype=np.int64).reshape(-1, 2)
    return ptr, flat


def build(state: ReassignState) -> tuple[Static, Dynamic]:
    """The kernel's copy of `state` (its arrays copied where the kernel mutates them)."""
    p = state.p
    n_services = len(p.services)
    jsp, js = _csr(state.job_services)
    svc = np.array(
        [[state.anti_row.get(s, -1), v.spread_key, v.spread_min] for s, v in enumerate(p.services)],
        dtype=np.int64,
    ).reshape(n_services, 3)
    # The (service, key) counts side by side in one flat array.
    keys: list[list[tuple[int, int]]] = []
    parts: list[Ints] = []
    at = 0
    for s in range(n_services):
        keys.append([])
        for k in state.keys_of[s]:
            keys[s].append((k, at))
            counts = state.in_domain[(s, k)]
            parts.append(counts)
            at += len(counts)
    skp, skeys = _pairs(keys)
    in_domain = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    domains = (
        np.stack(state.domains) if state.domains else np.zeros((0, p.num_nodes), dtype=np.int64)
    )
    dep_ptr, deps = _pairs(state.deps)
    rdep_ptr, rdeps = _pairs(state.rdeps)
    svc_moved = np.array(state.svc_moved, dtype=np.int64)
    # A move changes one service's count by one, so no count outgrows this.
    top = int(svc_moved.max(initial=0)) + len(state.movable) + 2
    hist = np.bincount(svc_moved, minlength=top).astype(np.int64)
    mmc = state.mmc if state.mmc is not None else np.zeros((0, 0), dtype=np.int64)
    # A weight whose prices (or open costs) are all 0 is 0 to the kernel: no work per move.
    w_money = state.w_money if state.prices.any() else 0
    w_energy = state.w_energy if state.open_cost.any() else 0
    weights = np.array([state.w_mig, w_money, w_energy, p.service_move_weight], dtype=np.int64)
    static = Static(
        cap=state.cap,
        safety=state.safety,
        load_w=state.load_w,
        transient=state.transient,
        bal=np.stack([state.b_r1, state.b_r2, state.b_target, state.b_weight], axis=1).reshape(
            -1, 4
        ),
        demand=state.demand,
        orig=state.orig,
        move_cost=state.move_cost,
        mmc=np.ascontiguousarray(mmc, dtype=np.int64),
        prices=np.ascontiguousarray(state.prices, dtype=np.int64),
        open_cost=state.open_cost,
        weights=weights,
        job_set=state.job_set,
        eligible=np.ascontiguousarray(state.eligible_at),
        movable=state.by_size,
        first_anti=state.first_anti,
        jsp=jsp,
        js=js,
        svc=svc,
        skp=skp,
        skeys=skeys,
        domains=np.ascontiguousarray(domains, dtype=np.int64),
        dep_ptr=dep_ptr,
        deps=deps,
        rdep_ptr=rdep_ptr,
        rdeps=rdeps,
    )
    dynamic = Dynamic(
        where=state.where.copy(),
        used=state.used.copy(),
        chk=state.chk.copy(),
        on_nodes=state.count.copy(),
        node_cost=state.node_cost.copy(),
        on_node=state.on_node.copy(),
        in_domain=in_domain,
        svc_state=np.array(
            list(zip(state.spread_count, state.members, state.svc_moved, strict=True)),
            dtype=np.int64,
        ).reshape(n_services, 3),
        hist=hist,
        scalars=np.array([state.cost, max(state.svc_moved, default=0), 0], dtype=np.int64),
    )
    return static, dynamic
