"""Starting points that need no search: "everyone stays", and a repaired warm start.

The previous cycle's placement (a `Solution` re-indexed to this problem by the caller) is mostly
still right after 1% churn, but some of it may no longer hold: a node left a job's node set, a
quota shrank, capacity was reserved. `repair` keeps what still fits, in priority order, and
drops the rest; the engine then hands it to the checker like any other candidate and uses it as
the incumbent and CP-SAT hint.
"""

from __future__ import annotations

from scheduler.placement.index.facts import WHOLE, Facts
from scheduler.placement.model.problem import Solution

Nodes = tuple[int, ...]


def stay(facts: Facts) -> Solution:
    """Running jobs where they run (where still eligible), queued jobs unplaced. Raises
    ValueError when more running jobs no longer fit than max_evictions allows."""
    wanted: list[Nodes | None] = [None] * facts.p.num_jobs
    for j, current in enumerate(facts.current):
        if current is not None:
            wanted[j] = current
    return repair(facts, Solution(tuple(wanted)))


def repair(facts: Facts, warm: Solution) -> Solution:
    """`warm` minus whatever no longer fits, with device ids chosen afresh.

    Running jobs come first (at their warm-start nodes, else their current ones; those that may
    not be evicted first, then by priority and age), then queued jobs by priority and age; a
    job keeps its nodes only if they are eligible, in one group, and fit capacity (transient
    holds included), quota, devices and anti-affinity. Relations that need the whole picture
    (spread, affinity, eviction justification) are left to the checker. Raises ValueError when
    the running jobs that no longer fit exceed max_evictions: such a start is no answer at all.
    """
    p = facts.p
    if len(warm.assignment) != p.num_jobs:
        raise ValueError(f"warm start has {len(warm.assignment)} jobs, the problem {p.num_jobs}")
    state = _State(facts)
    chosen: list[Nodes | None] = [None] * p.num_jobs
    devices: list[tuple[tuple[int, ...], ...] | None] = [None] * p.num_jobs
    # Jobs that may not be evicted first, then by priority and age: when a quota was lowered
    # below what runs, the youngest low-priority borrowers are the ones left out.
    running = sorted(
        (j for j in range(p.num_jobs) if facts.running(j)),
        key=lambda j: (facts.preemptible(j), -p.job_priority[j], p.job_order[j]),
    )
    queued = sorted(
        (j for j in range(p.num_jobs) if not facts.running(j) and warm.assignment[j] is not None),
        key=lambda j: (-p.job_priority[j], p.job_order[j]),
    )
    for j in running + queued:
        options = [warm.assignment[j], facts.current[j]]
        for nodes in options:
            if nodes is None or not _shape_ok(facts, j, nodes):
                continue
            ids = state.place(j, nodes)
            if ids is not None:
                chosen[j] = tuple(nodes)
                devices[j] = ids if any(ids) else None
                break
    cap = p.max_evictions
    evicted = sum(1 for j in running if chosen[j] is None)
    if 0 <= cap < evicted:
        raise ValueError(f"{evicted} running jobs no longer fit, max_evictions is {cap}")
    has_devices = facts.gpu >= 0 and any(facts.devices)
    return Solution(tuple(chosen), tuple(devices) if has_devices else ())


def _shape_ok(facts: Facts, j: int, nodes: Nodes) -> bool:
    p = facts.p
    if len(nodes) != p.job_replicas[j]:
        return False
    eligible = facts.eligible_set(j)
    if not all(n in eligible for n in nodes):
        return False
    if len({p.node_group[n] for n in nodes}) != 1:
        return False
    current = facts.current_count[j]
    # A job that may not move keeps exactly its nodes.
    return current is None or facts.migratable(j) or facts.moved_replicas(j, nodes) == 0


class _State:
    """Capacity, quota, device and anti-affinity bookkeeping of a growing placement."""

    def __init__(self, facts: Facts) -> None:
        p = facts.p
        self.facts = facts
        self.used = [list(row) for row in facts.reserved]
        self.quota_usage = [0] * len(p.quotas)
        self.loads: dict[int, list[int]] = {
            n: [0] * facts.devices[n] for n in range(p.num_nodes) if facts.devices[n]
        }
        self.whole: set[tuple[int, int]] = set()
        self.anti: set[tuple[int, int]] = set()  # (service, node) taken

    def place(self, j: int, nodes: Nodes) -> tuple[tuple[int, ...], ...] | None:
        """Adds job j on `nodes` if everything still fits: device ids per replica, else None."""
        facts = self.facts
        p = facts.p
        extra = facts.transient_extra(j, nodes)
        need: dict[int, list[int]] = {}
        for n in nodes:
            row = need.setdefault(n, [0] * p.num_resources)
            for r, d in enumerate(facts.demand(j, n)):
                row[r] += d
        for n, row in extra.items():
            held = need.setdefault(n, [0] * p.num_resources)
            for r, d in enumerate(row):
                held[r] += d
        for n, row in need.items():
            if any(
                u + d > c for u, d, c in zip(self.used[n], row, p.node_capacity[n], strict=True)
            ):
                return None
        if not self._quota_ok(j, nodes):
            return None
        anti = [s for s in facts.services_of[j] if p.services[s].anti_affinity]
        if anti and (
            len(set(nodes)) < len(nodes) or any((s, n) in self.anti for s in anti for n in nodes)
        ):
            return None
        ids = self._devices(j, nodes)
        if ids is None:
            return None
        # Transient holds count like usage: the checker adds them to the old node's load.
        for n, row in need.items():
            for r, d in enumerate(row):
                self.used[n][r] += d
        if self.quota_usage:
            facts.scopes.add(self.quota_usage, j, nodes, facts.demand)
        self.anti.update((s, n) for s in anti for n in nodes)
        return ids

    def _quota_ok(self, j: int, nodes: Nodes) -> bool:
        if not self.quota_usage:
            return True
        return self.facts.scopes.fits(self.quota_usage, j, nodes, self.facts.demand)

    def _devices(self, j: int, nodes: Nodes) -> tuple[tuple[int, ...], ...] | None:
        """First-fit device ids for each replica; None (and nothing taken) if they do not fit."""
        facts = self.facts
        taken: list[tuple[int, int, int]] = []  # (node, device, share) to undo
        out: list[tuple[int, ...]] = []
        for n in nodes:
            q = facts.demand(j, n)[facts.gpu] if facts.gpu >= 0 else 0
            kind = facts.gpu_kind(q)
            loads = self.loads.get(n)
            if loads is None or kind == "none":
                out.append(())
                continue
            if kind == "whole":
                free = [k for k, load in enumerate(loads) if load == 0][: q // WHOLE]
                if len(free) < q // WHOLE:
                    break
                pick = tuple(free)
                share = WHOLE
            else:
                fit = [
                    k
                    for k, load in enumerate(loads)
                    if load + q <= WHOLE and (n, k) not in self.whole
                ]
                if not fit:
                    break
                # Fullest device that still fits: keeps devices whole for later gangs.
                pick = (max(fit, key=lambda k: (loads[k], -k)),)
                share = q
            for k in pick:
                loads[k] += share
                taken.append((n, k, share))
                if kind == "whole":
                    self.whole.add((n, k))
            out.append(pick)
        else:
            return tuple(out)
        for n, k, share in taken:
            self.loads[n][k] -= share
            self.whole.discard((n, k))
        return None
