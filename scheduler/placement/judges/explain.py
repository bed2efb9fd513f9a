"""Why each job is left out of a v2 solution: the most fundamental blocker, with its numbers.

The checks go from "can never run as specified" to "lost this cycle": eligibility
(NO_ELIGIBLE_NODE), one replica on an empty node (NO_FITTING_NODE), the whole gang in one
cluster when empty (GANG_INCOMPLETE), a quota covering the job in every cluster it may use
(QUOTA_EXHAUSTED naming the quota's owner and groups, "used U of nominal N + borrowing B"),
capacity that nobody this job may preempt could give up (INSUFFICIENT_CAPACITY with what the
best node lacks), and capacity other work took this cycle (OUTRANKED). A running job that was
preempted is OUTRANKED by the job that may preempt it on its former node, or QUOTA_EXHAUSTED
when a quota covering it was above nominal and reclaimed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from scheduler.placement.index.facts import Facts
from scheduler.placement.judges.rooms import Rooms
from scheduler.placement.model.outcome import (
    GANG_INCOMPLETE,
    INSUFFICIENT_CAPACITY,
    NO_ELIGIBLE_NODE,
    NO_FITTING_NODE,
    OUTRANKED,
    QUOTA_EXHAUSTED,
    Unplaced,
)
from scheduler.placement.model.problem import Problem, Solution


def explain(p: Problem, solution: Solution, facts: Facts | None = None) -> tuple[Unplaced, ...]:
    """One Unplaced per job the solution leaves out, in job index order."""
    missing = [j for j, nodes in enumerate(solution.assignment) if nodes is None]
    if not missing:
        return ()
    explainer = _Explainer(facts or Facts(p), solution)
    return tuple(explainer.why(j) for j in missing)


class _Explainer:
    def __init__(self, facts: Facts, solution: Solution) -> None:
        p = facts.p
        self.facts = facts
        self.p = p
        self.quota_used = [0] * len(p.quotas)
        if self.quota_used:
            for j, nodes in enumerate(solution.assignment):
                if nodes:
                    facts.scopes.add(self.quota_used, j, nodes, facts.demand)
        self.rooms = Rooms(facts, solution)
        self._reach: dict[tuple[object, ...], list[int]] = {}
        self._most: dict[tuple[str, int], list[int]] = {}
        self._frontiers: dict[tuple[str, int], list[int]] = {}
        self._structural: dict[tuple[object, ...], Unplaced | None] = {}
        self._capacities: dict[tuple[object, ...], Unplaced] = {}

    def why(self, j: int) -> Unplaced:
        if self.facts.running(j):
            return self._preempted(j)
        facts = self.facts
        if not facts.eligible[j]:
            return Unplaced(
                j,
                NO_ELIGIBLE_NODE,
                "no node passes the job's constraints",
            )
        # Jobs of one shape get one answer (city queues hold thousands of look-alikes).
        shape = self._shape(j)
        if shape not in self._structural:
            self._structural[shape] = self._structure(j)
        structural = self._structural[shape]
        if structural is not None:
            return replace(structural, job=j)
        quota = self._quota(j)
        if quota is not None:
            return quota
        key = (shape, facts.scopes.preemptor(j))
        capacity = self._capacities.get(key)
        if capacity is None:
            capacity = self._capacities[key] = self._capacity(j)
        return replace(capacity, job=j)

    def _shape(self, j: int) -> tuple[object, ...]:
        p, facts = self.p, self.facts
        anti = any(p.services[s].anti_affinity for s in facts.services_of[j])
        # Overridden jobs have per-type demands: their own shape.
        own = j if j in facts.overridden else -1
        return (p.job_nodes[j], p.job_demand[j], p.job_replicas[j], anti, own)

    def _structure(self, j: int) -> Unplaced | None:
        """NO_FITTING_NODE or GANG_INCOMPLETE when even empty nodes cannot hold the job."""
        p, eligible, empty = self.p, self.facts.eligible[j], self.rooms.empty
        fit = self.rooms.fitter(j, empty)
        if not self._may_fit(j, "empty", empty) or not any(fit(n) for n in eligible):
            n, lack = self.rooms.closest(j, eligible, empty)
            return Unplaced(
                j,
                NO_FITTING_NODE,
                f"no eligible node holds one replica even when empty; closest "
                f"{self._shortfall(j, n, lack, empty)}",
                lacking=lack,
            )
        best_g, held = self.rooms.best_group(j, empty)
        replicas = p.job_replicas[j]
        if held < replicas:
            return Unplaced(
                j,
                GANG_INCOMPLETE,
                f"needs {replicas} replicas in one cluster; the best, {self._group(best_g)}, "
                f"holds {held} even when empty",
            )
        return None

    # -- the checks ------------------------------------------------------------------------------

    def _quota(self, j: int) -> Unplaced | None:
        """QUOTA_EXHAUSTED if in every cluster that could hold the job when empty some quota
        covering it has no room for it: the first such quota of the first such cluster. (A
        cluster that can never hold it says nothing: a GPU job's quota in a group of CPU
        clusters is not what holds it back.)"""
        facts = self.facts
        if facts.department[j] not in facts.scopes.departments:
            return None
        first: Unplaced | None = None
        for n in self._holding_nodes(j):
            blocked = self._quota_in(j, n)
            if blocked is None:
                return None  # some cluster's quotas leave room: quota is not the blocker
            first = first or blocked
        return first

    def _holding_nodes(self, j: int) -> list[int]:
        """One eligible node per cluster whose eligible nodes hold the whole gang when empty,
        by cluster (memoised per job shape: city queues hold thousands of look-alikes)."""
        shape = self._shape(j)
        got = self._reach.get(shape)
        if got is None:
            held: dict[int, int] = {}
            first: dict[int, int] = {}
            fit, groups = self.rooms.fitter(j, self.rooms.empty), self.p.node_group
            for n in self.facts.eligible[j]:
                g = groups[n]
                first.setdefault(g, n)
                held[g] = held.get(g, 0) + fit(n)
            replicas = self.p.job_replicas[j]
            got = self._reach[shape] = [first[g] for g in sorted(first) if held[g] >= replicas]
        return got

    def _quota_in(self, j: int, n: int) -> Unplaced | None:
        """QUOTA_EXHAUSTED for the first quota with no room for job j on node n's cluster."""
        p = self.p
        replicas = p.job_replicas[j]
        for q, amount in self.facts.scopes.charges(j, n, self.facts.demand(j, n)):
            quota = p.quotas[q]
            used, need = self.quota_used[q], amount * replicas
            limit = quota.nominal + quota.borrow_limit
            if used + need > limit:
                return Unplaced(
                    j,
                    QUOTA_EXHAUSTED,
                    f"{self._scope(q)}: {p.resources[quota.resource]} used {used} of nominal "
                    f"{quota.nominal} + borrowing {quota.borrow_limit}, the job needs {need}",
                    resource=p.resources[quota.resource],
                    used=used,
                    limit=limit,
                )
        return None

    def _scope(self, q: int) -> str:
        """'quota of department D' plus the clusters it covers, for a detail."""
        quota = self.p.quotas[q]
        where = ", ".join(self._group(g) for g in quota.groups)
        return f"quota of department {quota.department}" + (f" in {where}" if where else "")

    def _capacity(self, j: int) -> Unplaced:
        p = self.p
        eligible = self.facts.eligible[j]
        replicas = p.job_replicas[j]
        hard = self.rooms.hard(self.facts.scopes.preemptor(j))
        g, held = self.rooms.best_group(j, hard)
        if held < replicas:
            n, lack = self.rooms.closest(j, eligible, hard)
            return Unplaced(
                j,
                INSUFFICIENT_CAPACITY,
                f"work it cannot displace fills the pool: {self._group(g)} holds {held} of "
                f"{replicas} replicas; best node {self._shortfall(j, n, lack, hard)}",
                lacking=lack,
            )
        now = self.rooms.now
        frontier = self._frontier(j, "now", now)
        fit = self.rooms.fitter(j, now)
        if any(fit(n) for n in frontier):
            g_now, held_now = self.rooms.best_group(j, now)
            if held_now >= replicas:
                relations = "service relations or the time-limited search"
                return Unplaced(
                    j,
                    OUTRANKED,
                    f"capacity is free in {self._group(g_now)}, but {relations} left it out",
                )
        in_group = [m for m in frontier if p.node_group[m] == g]
        n, lack = self.rooms.closest(
            j, in_group or [m for m in eligible if p.node_group[m] == g], now
        )
        taker = max(
            self.rooms.occupants.get(n, []),
            key=lambda k: (p.job_priority[k], -p.job_order[k]),
            default=None,
        )
        by = "" if taker is None else f" by job {taker} (priority {p.job_priority[taker]})"
        return Unplaced(
            j,
            OUTRANKED,
            f"{self._group(g)} could hold it, but its room was taken this cycle{by}; "
            f"best node {self._shortfall(j, n, lack, now)}",
            lacking=lack,
        )

    def _frontier(self, j: int, view: str, rows: list[list[int]]) -> list[int]:
        """The job's eligible nodes whose free rows no other eligible node dominates: a
        replica fits some node iff it fits one of these, and the closest node is among them
        (a few dozen of a thousand nodes on the synthetic cities)."""
        p = self.p
        if j in self.facts.overridden:
            return list(self.facts.eligible[j])  # demands differ per node type
        key = (view, p.job_nodes[j])
        found = self._frontiers.get(key)
        if found is None:
            found = []
            # Largest total first: a node can only be dominated by one already kept.
            for n in sorted(self.facts.eligible[j], key=lambda n: -sum(rows[n])):
                row = rows[n]
                if not any(all(a >= b for a, b in zip(rows[m], row, strict=True)) for m in found):
                    found.append(n)
            self._frontiers[key] = found
        return found

    def _may_fit(self, j: int, view: str, rows: list[list[int]]) -> bool:
        """False when no eligible node has enough of some resource for one replica: a cheap
        necessary condition (per-resource maxima per node set) that spares most scans."""
        p = self.p
        if j in self.facts.overridden:
            return True
        key = (view, p.job_nodes[j])
        most = self._most.get(key)
        if most is None:
            nodes = self.facts.eligible[j]
            most = [max(rows[n][r] for n in nodes) for r in range(p.num_resources)]
            self._most[key] = most
        return all(d <= m for d, m in zip(p.job_demand[j], most, strict=True))

    def _preempted(self, j: int) -> Unplaced:
        facts, p = self.facts, self.p
        current = facts.current_count[j] or {}
        prio = p.job_priority[j]
        for a in sorted(current):
            higher = [k for k in self.rooms.occupants.get(a, ()) if facts.scopes.may_evict(k, j)]
            if higher:
                k = max(higher, key=lambda k: p.job_priority[k])
                return Unplaced(
                    j,
                    OUTRANKED,
                    f"preempted for job {k} (priority {p.job_priority[k]} > {prio}) on "
                    f"{self._node(a)}",
                )
        q = facts.scopes.reclaimable(j, tuple(current), facts.above_nominal, facts.demand)
        if q >= 0:
            quota = p.quotas[q]
            used = facts.running_quota_usage[q]
            return Unplaced(
                j,
                QUOTA_EXHAUSTED,
                f"preempted to reclaim borrowed quota: {self._scope(q)} used {used} of "
                f"{p.resources[quota.resource]}, nominal {quota.nominal}",
                resource=p.resources[quota.resource],
                used=used,
                limit=quota.nominal,
            )
        return Unplaced(j, OUTRANKED, "preempted in favour of higher-priority work")

    def _shortfall(self, j: int, n: int, lack: Sequence[int], rooms: list[list[int]]) -> str:
        """What node `n` is missing, in words that are true: the amounts it lacks for one
        replica; else, when whole devices are what it lacks, that; else how many replicas it
        does hold (the gang needs more than that)."""
        node = self._node(n)
        shown = ",".join(f"{self.p.resources[r]}={a}" for r, a in enumerate(lack) if a)
        if shown:
            return f"{node} lacks {shown}"
        facts = self.facts
        fit = self.rooms.fit_count(j, n, rooms[n])
        if fit == 0 and facts.gpu >= 0 and facts.devices[n] > 0:
            return f"{node} has no whole {self.p.resources[facts.gpu]} device free"
        if fit == 0:
            return f"{node} cannot hold a replica"
        return f"{node} holds {fit} of the {self.p.job_replicas[j]} replicas"

    def _node(self, n: int) -> str:
        names = self.p.node_names
        return names[n] if names else f"node {n}"

    def _group(self, g: int) -> str:
        names = self.p.group_names
        return names[g] if names else f"cluster {g}"
