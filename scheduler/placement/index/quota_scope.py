"""The engines' reading of scoped quotas and of the eviction rules (model/problem.py, Quotas,
Running work): which quotas a replica counts against, which quotas are above nominal now, and
who may justify evicting whom.

Shared by CP-SAT, LNS, the greedy baselines, the local search, the LP bound, the warm-start
repair and the explanations, so that they agree with one another; verify.py keeps its own
reading (it is the referee of all of them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from scheduler.placement.model.problem import Problem

DemandOf = Callable[[int, int], Sequence[int]]  # (job, node) -> per-replica demand


class QuotaScopes:
    """Per problem: the quotas each (department, group) counts against, memoised."""

    def __init__(self, p: Problem) -> None:
        self.p = p
        self.quotas = p.quotas
        self.limit = tuple(q.nominal + q.borrow_limit for q in p.quotas)
        self.department = p.job_department or (-1,) * p.num_jobs
        self.may_preempt = p.job_may_preempt or (True,) * p.num_jobs
        self.rank = p.job_preempt_rank or p.job_priority
        self.may_reclaim = p.job_may_reclaim or (True,) * p.num_jobs
        self._groups = tuple(frozenset(q.groups) if q.groups else None for q in p.quotas)
        of_department: dict[int, list[int]] = {}
        for i, q in enumerate(p.quotas):
            for d in q.member_departments():
                of_department.setdefault(d, []).append(i)
        self.of_department = {d: tuple(qs) for d, qs in of_department.items()}
        self.members = tuple(frozenset(q.member_departments()) for q in p.quotas)
        # Departments some quota counts: the others are unbounded (job classes merge them).
        self.departments = frozenset(self.of_department)
        self._cover: dict[tuple[int, int], tuple[int, ...]] = {}

    def covering(self, d: int, g: int) -> tuple[int, ...]:
        """Indices of the quotas a replica of a job of department d in group g counts against."""
        key = (d, g)
        got = self._cover.get(key)
        if got is None:
            got = tuple(
                q
                for q in self.of_department.get(d, ())
                if self._groups[q] is None or g in (self._groups[q] or ())
            )
            self._cover[key] = got
        return got

    def charges(self, j: int, n: int, demand: Sequence[int]) -> list[tuple[int, int]]:
        """(quota, amount) that one replica of job j with `demand` on node n adds."""
        d = self.department[j]
        if d < 0:
            return []
        out = []
        for q in self.covering(d, self.p.node_group[n]):
            amount = demand[self.quotas[q].resource]
            if amount:
                out.append((q, amount))
        return out

    def add(
        self, usage: list[int], j: int, nodes: Sequence[int], demand: DemandOf, sign: int = 1
    ) -> None:
        """Adds (sign 1) or removes (-1) job j's replicas on `nodes` to per-quota `usage`."""
        for n in nodes:
            for q, amount in self.charges(j, n, demand(j, n)):
                usage[q] += sign * amount

    def fits(self, usage: Sequence[int], j: int, nodes: Sequence[int], demand: DemandOf) -> bool:
        """Whether job j on `nodes` keeps every quota within its limit, given `usage`."""
        extra: dict[int, int] = {}
        for n in nodes:
            for q, amount in self.charges(j, n, demand(j, n)):
                extra[q] = extra.get(q, 0) + amount
        return all(usage[q] + a <= self.limit[q] for q, a in extra.items())

    def running_usage(self, current: Sequence[Sequence[int] | None], demand: DemandOf) -> list[int]:
        """Per quota, the usage of the running jobs where they run now."""
        usage = [0] * len(self.quotas)
        if self.quotas:
            for j, nodes in enumerate(current):
                if nodes is not None:
                    self.add(usage, j, nodes, demand)
        return usage

    def running_charges(self, j: int, nodes: Sequence[int], demand: DemandOf) -> dict[int, int]:
        """Quota -> what running job j counts against it on its current `nodes`."""
        out: dict[int, int] = {}
        for n in nodes:
            for q, amount in self.charges(j, n, demand(j, n)):
                out[q] = out.get(q, 0) + amount
        return out

    def reclaim_budgets(
        self,
        current: Sequence[Sequence[int] | None],
        demand: DemandOf,
        usage: Sequence[int],
        preempt_cost: Sequence[int],
    ) -> dict[int, int]:
        """Per quota above nominal (model/problem.py, Running work): how much of the work it
        counts one decision may evict -- its excess over nominal plus its largest preemptible
        job."""
        above = self.above_nominal(usage)
        if not above:
            return {}
        largest = dict.fromkeys(above, 0)
        for j, nodes in enumerate(current):
            if nodes is None or preempt_cost[j] < 0:
                continue
            for q, amount in self.running_charges(j, nodes, demand).items():
                if q in largest and amount > largest[q]:
                    largest[q] = amount
        return {q: usage[q] - self.quotas[q].nominal + largest[q] for q in above}

    def above_nominal(self, usage: Sequence[int]) -> frozenset[int]:
        return frozenset(q for q, quota in enumerate(self.quotas) if usage[q] > quota.nominal)

    def reclaimable(
        self, j: int, nodes: Sequence[int], above: frozenset[int], demand: DemandOf
    ) -> int:
        """A quota above nominal that covers running job j on its current `nodes`, or -1."""
        found = self.reclaim_quotas(j, nodes, above, demand)
        return found[0] if found else -1

    def reclaim_quotas(
        self, j: int, nodes: Sequence[int], above: frozenset[int], demand: DemandOf
    ) -> tuple[int, ...]:
        """The quotas above nominal that cover running job j on its current `nodes` (the
        reclaim rule), in index order."""
        if not above:
            return ()
        found: list[int] = []
        for n in nodes:
            for q, _ in self.charges(j, n, demand(j, n)):
                if q in above and q not in found:
                    found.append(q)
        return tuple(sorted(found))

    def forced(self, usage: Sequence[int], quotas: Sequence[int]) -> bool:
        """Whether one of `quotas` holds more running work than its limit (a quota lowered
        below its use): then the excess must go and an eviction needs no taker."""
        return any(usage[q] > self.limit[q] for q in quotas)

    def justifies(self, k: int, j: int, reclaim: Sequence[int]) -> bool:
        """Whether job k newly placed on a former node of running job j justifies evicting
        j: the priority rule (`may_evict`), or the reclaim rule -- k may reclaim and is outside
        the members of a quota above nominal that covers j (`reclaim`), so the capacity goes
        back to someone who lent it, never to the borrower's own department."""
        if self.may_evict(k, j):
            return True
        dk = self.department[k]
        return self.may_reclaim[k] and any(dk not in self.members[q] for q in reclaim)

    def may_evict(self, k: int, j: int) -> bool:
        """Whether job k newly placed on a former node of running job j justifies evicting j
        (the priority rule): a higher preemption rank, and, when both have a department, k
        may preempt and is of j's department."""
        return self.outranks(self.preemptor(k), j)

    def preemptor(self, k: int) -> tuple[int, int, bool]:
        """What the priority rule reads of a would-be preemptor: (rank, department, may
        preempt). Jobs with equal keys may evict the same jobs."""
        return (self.rank[k], self.department[k], self.may_preempt[k])

    def outranks(self, key: tuple[int, int, bool], j: int) -> bool:
        """`may_evict` for a preemptor described by its `preemptor` key."""
        rank, dk, allowed = key
        if rank <= self.rank[j]:
            return False
        dj = self.department[j]
        if dk < 0 or dj < 0:
            return True
        return allowed and dk == dj


def eviction_cap(p: Problem) -> int | None:
    """How many running jobs one decision may evict, None for any number."""
    return None if p.max_evictions < 0 else p.max_evictions
