"""The constraint families of the CP-SAT model, one function each (PyJobShop style).

Gangs, eligibility, required jobs and stay/move/evict options are part of the variables
(cpsat_vars); this module adds everything that ties several jobs together. Each family reads
the scope's fixed part as constants, so the same code builds the exact model and every LNS
sub-model.
"""

from __future__ import annotations

import itertools

from scheduler.placement.cpsat.variables import IntVar, Lin, Parts, any_of, positive
from scheduler.placement.index.facts import WHOLE


def add_all(parts: Parts) -> None:
    add_capacity(parts)
    add_devices(parts)
    add_quotas(parts)
    add_anti_affinity(parts)
    add_spread(parts)
    add_affinity(parts)
    add_eviction_rule(parts)


def add_capacity(parts: Parts) -> None:
    """Per node and resource: reserved + replicas' demand (+ transient holds) <= capacity."""
    facts = parts.facts
    cap = facts.p.node_capacity
    holds = _transient_holds(parts)
    for n in parts.scope.nodes:
        if n not in parts.on_node:
            continue
        extra = parts.fixed.transient.get(n)
        for r in range(facts.p.num_resources):
            lin = parts.usage(n, r)
            if extra is not None:
                lin.const += extra[r]
            for v, c in holds.get((n, r), ()):
                lin.add(v, c, 1 if isinstance(v, int) else None)
            _at_most(parts, lin, cap[n][r])


def _at_most(parts: Parts, lin: Lin, limit: int) -> None:
    """lin <= limit, skipping rows that cannot bind (they only slow the search)."""
    if lin.max_value() <= limit:
        return
    if lin.has_vars:
        parts.model.add(lin.expr() <= limit)
    else:
        # Work that cannot move already breaks the limit (e.g. a running job that may neither
        # move nor be evicted on a node whose capacity shrank): no solution exists.
        parts.model.add_bool_or([])


def _transient_holds(parts: Parts) -> dict[tuple[int, int], list[tuple[IntVar | int, int]]]:
    """A running class's replicas that left former node a still hold transient resources
    there: (former count x placed - kept) x demand."""
    facts = parts.facts
    out: dict[tuple[int, int], list[tuple[IntVar | int, int]]] = {}
    if not any(facts.transient):
        return out
    for u, cls in enumerate(parts.classes):
        j = cls.rep
        current = facts.current_count[j]
        if current is None or not facts.migratable(j):
            continue
        for a, c in current.items():
            demand = facts.demand(j, a)
            kept = parts.kept.get((u, a), 0)
            for r, d in enumerate(demand):
                if d and facts.transient[r]:
                    row = out.setdefault((a, r), [])
                    row.append((parts.placed[u], c * d))
                    row.append((kept, -d))
    return out


def add_devices(parts: Parts) -> None:
    """GPU devices as sub-bins of the nodes that have them: whole-device replicas take free
    devices; shares go to single devices whose load stays <= 1000."""
    facts = parts.facts
    if facts.gpu < 0:
        return
    for n in sorted(parts.scope.nodes):
        count = facts.devices[n]
        if count <= 0 or n not in parts.on_node:
            continue
        whole, shares = [], []
        for u in parts.on_node[n]:
            q = facts.demand(parts.classes[u].rep, n)[facts.gpu]
            kind = facts.gpu_kind(q)
            if kind == "whole":
                whole.append((u, q // WHOLE))
            elif kind == "share":
                shares.append((u, q))
        if whole or shares:
            _node_devices(parts, n, count, whole, shares)


def _node_devices(
    parts: Parts, n: int, count: int, whole: list[tuple[int, int]], shares: list[tuple[int, int]]
) -> None:
    model, fixed = parts.model, parts.fixed
    base = [fixed.device_load.get((n, k), 0) for k in range(count)]
    empty = [k for k in range(count) if base[k] == 0]
    taken = Lin()
    for u, per_replica in whole:
        taken.add(parts.x[u, n], per_replica)
    if shares:
        by_class: dict[int, list[IntVar]] = {u: [] for u, _ in shares}
        for k in range(count):
            if base[k] >= WHOLE or (n, k) in fixed.whole_devices:
                continue
            room = WHOLE - base[k]
            load = Lin()
            for u, q in shares:
                most = min(parts.ub[u, n], room // q)
                if most <= 0:
                    continue
                s = model.new_int_var(0, most, f"share_{u}_{n}_{k}")
                parts.share[u, n, k] = s
                by_class[u].append(s)
                load.add(s, q)
            if not load.has_vars:
                continue
            if base[k] == 0:
                # Only devices free of other load can go to whole-device replicas; count the
                # ones shares open so the two kinds never meet on one device.
                opened = model.new_bool_var(f"dev_open_{n}_{k}")
                parts.dev_open[n, k] = opened
                model.add(load.expr() <= room * opened)
                model.add(load.expr() >= opened)
                taken.add(opened)
            else:
                model.add(load.expr() <= room)
            load.const = base[k]
            parts.dev_load[n, k] = load
        for u, _ in shares:
            model.add(sum(by_class[u]) == parts.x[u, n])
        _order_identical_devices(parts, n, empty)
    if taken.has_vars and taken.max_value() > len(empty):
        model.add(taken.expr() <= len(empty))


def _order_identical_devices(parts: Parts, n: int, empty: list[int]) -> None:
    """Devices without fixed load are interchangeable: keep their loads in descending order."""
    loads = [parts.dev_load[n, k] for k in empty if (n, k) in parts.dev_load]
    for a, b in itertools.pairwise(loads):
        parts.model.add(a.expr() >= b.expr())


def add_quotas(parts: Parts) -> None:
    """Per quota: usage of its members in its groups <= nominal + borrowing limit."""
    for q, limit in enumerate(parts.facts.scopes.limit):
        _at_most(parts, quota_usage(parts, q), limit)


def quota_usage(parts: Parts, q: int) -> Lin:
    """Usage of quota q: fixed jobs plus decided replicas of its members in its groups
    (memoised)."""
    lin = parts.quota_usage.get(q)
    if lin is None:
        facts = parts.facts
        quota = facts.p.quotas[q]
        groups = frozenset(quota.groups)
        node_group = facts.p.node_group
        r = quota.resource
        lin = Lin(parts.fixed.quota_usage[q] if parts.fixed.quota_usage else 0)
        for d in quota.member_departments():
            for u in parts.by_department.get(d, ()):
                rep = parts.classes[u].rep
                for n in parts.nodes_of[u]:
                    if groups and node_group[n] not in groups:
                        continue
                    demand = facts.demand(rep, n)[r]
                    if demand:
                        lin.add(parts.x[u, n], demand, parts.ub[u, n])
        parts.quota_usage[q] = lin
    return lin


def add_anti_affinity(parts: Parts) -> None:
    """Replicas of an anti-affinity service sit on distinct nodes (fixed members count)."""
    p = parts.facts.p
    for service in p.services:
        if not service.anti_affinity:
            continue
        members = set(service.jobs)
        per_node: dict[int, Lin] = {}
        for j in service.jobs:
            u = parts.class_of.get(j)
            if u is None:
                continue
            for n in parts.nodes_of[u]:
                per_node.setdefault(n, Lin()).add(parts.x[u, n], 1, parts.ub[u, n])
        for n, lin in per_node.items():
            lin.const += sum(1 for k in parts.fixed.on_node.get(n, ()) if k in members)
            _at_most(parts, lin, 1)


def add_spread(parts: Parts) -> None:
    """A service with any member placed covers at least spread_min domains of its key."""
    p = parts.facts.p
    for service in p.services:
        if service.spread_key < 0 or service.spread_min <= 0:
            continue
        free = [j for j in service.jobs if j in parts.class_of]
        if not free:
            continue
        key = service.spread_key
        covered, anything = _fixed_domains(parts, service.jobs, key)
        reach: dict[int, Lin] = {}
        for j in free:
            u = parts.class_of[j]
            for n in parts.nodes_of[u]:
                dom = p.node_domains[n][key]
                if dom not in covered:
                    reach.setdefault(dom, Lin()).add(parts.x[u, n])
        model = parts.model
        cover = Lin(len(covered))
        for dom, lin in sorted(reach.items()):
            c = model.new_bool_var(f"cover_{key}_{dom}")
            model.add(c <= lin.expr())
            parts.derive(c, positive(lin))
            cover.add(c)
        if anything:
            model.add(cover.expr() >= service.spread_min)
            continue
        active = model.new_bool_var("spread_active")
        members = [parts.placed[parts.class_of[j]] for j in free]
        for placed in members:
            model.add(active >= placed)
        parts.derive(active, any_of(members))
        model.add(cover.expr() >= service.spread_min * active)


def _fixed_domains(parts: Parts, jobs: tuple[int, ...], key: int) -> tuple[set[int], bool]:
    """Domains of `key` that the service's fixed placed members cover, and whether any is."""
    inc = parts.scope.incumbent
    covered: set[int] = set()
    anything = False
    if inc is None:
        return covered, anything
    domains = parts.facts.p.node_domains
    for j in jobs:
        if j in parts.class_of:
            continue
        nodes = inc.assignment[j]
        if nodes is not None:
            anything = True
            covered.update(domains[n][key] for n in nodes)
    return covered, anything


def add_affinity(parts: Parts) -> None:
    """Every replica of a dependent service shares a domain with some replica of each service
    it depends on."""
    p = parts.facts.p
    for service in p.services:
        if not service.depends_on or service.affinity_key < 0:
            continue
        for t in service.depends_on:
            _depends(parts, service.jobs, p.services[t].jobs, service.affinity_key)


def _depends(parts: Parts, jobs: tuple[int, ...], targets: tuple[int, ...], key: int) -> None:
    p, model = parts.facts.p, parts.model
    free_s = [j for j in jobs if j in parts.class_of]
    free_t = [j for j in targets if j in parts.class_of]
    if not free_s and not free_t:
        return
    held, _ = _fixed_domains(parts, targets, key)
    reach: dict[int, Lin] = {}
    for j in free_t:
        u = parts.class_of[j]
        for n in parts.nodes_of[u]:
            dom = p.node_domains[n][key]
            if dom not in held:
                reach.setdefault(dom, Lin()).add(parts.x[u, n])
    present: dict[int, IntVar] = {}

    def there(dom: int) -> IntVar | None:
        if dom not in present and dom in reach:
            b = model.new_bool_var(f"present_{key}_{dom}")
            lin = reach[dom]
            model.add(b <= lin.expr())
            parts.derive(b, positive(lin))
            present[dom] = b
        return present.get(dom)

    for j in free_s:
        u = parts.class_of[j]
        for n in parts.nodes_of[u]:
            dom = p.node_domains[n][key]
            if dom in held:
                continue
            b = there(dom)
            x = parts.x[u, n]
            if b is None:
                model.add(x == 0)
            else:
                model.add(x <= parts.ub[u, n] * b)
    # Fixed dependants keep what they depend on: decided targets may not all leave a domain.
    needed, _ = _fixed_domains(parts, jobs, key)
    for dom in sorted(needed - held):
        b = there(dom)
        if b is None:
            # Unreachable when the incumbent is feasible; an empty clause keeps the model honest.
            model.add_bool_or([])
        else:
            model.add(b == 1)


def add_eviction_rule(parts: Parts) -> None:
    """A running job may be left out only if a job that may preempt it (higher priority;
    allowed to, of its department) newly arrives on one of its former nodes, or a quota
    covering it is above nominal before this decision (reclaim). At most max_evictions
    running jobs are left out, and from a quota above nominal at most its reclaim budget."""
    facts = parts.facts
    left_out = Lin(len(parts.fixed.evicted))
    # Per quota above nominal, the work of its running jobs left out (reclaim budget).
    reclaimed = {q: Lin() for q in facts.reclaim_budget}
    for u, cls in enumerate(parts.classes):
        j = cls.rep
        placed = parts.placed[u]
        if facts.running(j) and facts.preemptible(j) and not isinstance(placed, int):
            _justify(parts, j, placed)
            # Running jobs are classes of one: 1 - placed is "evicted".
            left_out.const += 1
            left_out.add(placed, -1)
            for q, amount in facts.reclaim_charges(j).items():
                reclaimed[q].const += amount
                reclaimed[q].add(placed, -amount)
        elif facts.running(j) and isinstance(placed, int) and placed == 0:
            left_out.const += 1
            for q, amount in facts.reclaim_charges(j).items():
                reclaimed[q].const += amount
    for j in parts.fixed.evicted:
        _justify(parts, j, 0)
        for q, amount in facts.reclaim_charges(j).items():
            reclaimed[q].const += amount
    cap = facts.p.max_evictions
    if cap >= 0:
        _at_most(parts, left_out, cap)
    for q, lin in reclaimed.items():
        _at_most(parts, lin, facts.reclaim_budget[q])


def _justify(parts: Parts, j: int, placed: IntVar | int) -> None:
    facts = parts.facts
    reclaim = facts.reclaims(j)
    if reclaim and facts.forced(j):
        return  # a lowered quota's excess: justified whatever else is decided
    scopes = facts.scopes

    def may_evict(k: int, j: int) -> bool:
        return scopes.justifies(k, j, reclaim)

    current = facts.current_count[j]
    assert current is not None
    inc = parts.scope.incumbent
    arrivals = Lin()
    for a in current:
        if a in parts.scope.nodes:
            for u in parts.on_node.get(a, ()):
                if may_evict(parts.classes[u].rep, j):
                    # Replicas beyond the ones it had there: x - min(former count, x).
                    arrivals.add(parts.x[u, a])
                    arrivals.add(parts.kept.get((u, a), 0), -1)
            fixed_jobs = parts.fixed.on_node.get(a, [])
        else:
            fixed_jobs = parts.incumbent_on_node.get(a, [])
        if inc is not None:
            arrivals.const += sum(
                1 for k in fixed_jobs if may_evict(k, j) and facts.arrived(k, inc.assignment[k], a)
            )
    if isinstance(placed, int) and not arrivals.has_vars:
        return  # fixed on both sides: the incumbent already satisfied it
    parts.model.add(arrivals.expr() >= 1 - placed)
