"""Services in the LP rounding: their members placed after the plan and the fill, one member at a
time on a node that keeps every relation of its services (spread, co-location, moves)."""

from __future__ import annotations

from collections.abc import Sequence

from scheduler.placement.search.packing import Packing


def place_services(state: Packing) -> int:
    """Step 4: queued members of services, most work first, each placed only where every
    service it belongs to stays satisfied (anti-affinity: a node no member uses; affinity: a
    domain that holds each service it depends on; spread: new domains while short), then
    frozen. Returns how many were placed."""
    view, p = state.view, state.p
    members = sorted(
        (j for j in view.in_service if view.current[j] is None and state.where[j] is None),
        key=lambda j: (not view.required[j], -view.work[j], p.job_order[j], j),
    )
    of_job: dict[int, list[int]] = {}
    for s, service in enumerate(p.services):
        for j in service.jobs:
            of_job.setdefault(j, []).append(s)
    placed = 0
    for j in members:
        if _place_member(state, j, of_job[j]):
            state.frozen[j] = True
            placed += 1
    return placed


def _place_member(state: Packing, j: int, services: list[int]) -> bool:
    p, view = state.p, state.view
    reps = p.job_replicas[j]
    for cls in state._groups_by_price(j):
        chosen: list[int] = []
        for _ in range(reps):
            n = _member_node(state, j, services, cls, chosen)
            if n < 0:
                break
            state.add(j, n)
            chosen.append(n)
        if (
            len(chosen) == reps
            and (not state.quota_left or state._quota_ok_after(j))
            and all(_service_ok(state, s) for s in services)
        ):
            return True
        if chosen:
            state.remove(j)
    del view
    return False


def _member_node(
    state: Packing, j: int, services: list[int], cls: Sequence[int], chosen: list[int]
) -> int:
    """The tightest node of `cls` that can take one more replica of j without breaking a
    relation of `services` (spread prefers a domain the service does not cover yet)."""
    p, view = state.p, state.view
    banned: set[int] = set()
    need_domain: list[tuple[int, set[int]]] = []  # (key, domains required to intersect)
    fresh: list[tuple[int, set[int]]] = []  # (key, domains covered) for spreads still short
    for s in services:
        service = p.services[s]
        nodes = _service_nodes(state, s)
        if service.anti_affinity:
            banned.update(nodes)
            banned.update(chosen)
        if service.spread_key >= 0:
            covered = {p.node_domains[n][service.spread_key] for n in nodes}
            if len(covered) < service.spread_min:
                fresh.append((service.spread_key, covered))
        if service.depends_on and service.affinity_key >= 0:
            for dep in service.depends_on:
                domains = {
                    p.node_domains[n][service.affinity_key] for n in _service_nodes(state, dep)
                }
                need_domain.append((service.affinity_key, domains))
    best, best_score, best_new = -1, 0.0, False
    for c in cls:
        nc = state.classes.nodes[c]
        demand = view.demand(j, nc.node_type)
        for n in nc.nodes:
            if n in banned or state.room(demand, n) < 1:
                continue
            if any(p.node_domains[n][k] not in domains for k, domains in need_domain):
                continue
            new = all(p.node_domains[n][k] not in covered for k, covered in fresh)
            score = sum(
                (f - q) * x for q, f, x in zip(demand, state.free[n], state.inv_cap, strict=True)
            )
            if best < 0 or (new, -score) > (best_new, -best_score):
                best, best_score, best_new = n, score, new
    return best


def _service_nodes(state: Packing, s: int) -> list[int]:
    """Nodes of every placed replica of service s's member jobs (with repeats)."""
    out: list[int] = []
    for j in state.p.services[s].jobs:
        nodes = state.where[j]
        if nodes is not None:
            out.extend(nodes)
    return out


def _service_ok(state: Packing, s: int) -> bool:
    """Whether service s's relations hold in `state` (model/problem.py, Services)."""
    p = state.p
    service = p.services[s]
    nodes = _service_nodes(state, s)
    if not nodes:
        return True
    if service.anti_affinity and len(set(nodes)) < len(nodes):
        return False
    key = service.spread_key
    if key >= 0 and len({p.node_domains[n][key] for n in nodes}) < service.spread_min:
        return False
    if service.depends_on and service.affinity_key >= 0:
        key = service.affinity_key
        for dep in service.depends_on:
            domains = {p.node_domains[n][key] for n in _service_nodes(state, dep)}
            if any(p.node_domains[n][key] not in domains for n in nodes):
                return False
    return True
