"""The decided part of one CP-SAT model: its scope, job classes, and the incumbent's constants.

A `Scope` says which jobs and nodes one model decides; every other job stays where the
incumbent put it and enters the model only as constants (`Fixed`), computed from the
`Incumbent`'s totals. The exact model is the scope of everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from scheduler.placement.index.facts import WHOLE, Facts
from scheduler.placement.model.problem import Problem, Solution


@dataclass(frozen=True)
class Scope:
    """The jobs and nodes one model decides; all else stays at `incumbent`.

    A job may be in `jobs` only if its incumbent nodes all lie in `nodes` (for an unplaced
    running job: its former nodes), so every node whose usage a decided job can change is
    itself decided: a former node outside `nodes` is one the job already left, it may not
    return there, and its transient hold there stays a constant. `incumbent` must place every
    job outside `jobs` feasibly (it may be None when `jobs` is every job).
    """

    jobs: frozenset[int]
    nodes: frozenset[int]
    incumbent: Solution | None = None

    @staticmethod
    def everything(p: Problem, incumbent: Solution | None = None) -> Scope:
        return Scope(frozenset(range(p.num_jobs)), frozenset(range(p.num_nodes)), incumbent)


@dataclass(frozen=True)
class JobClass:
    """Interchangeable jobs decided together: one count variable per node for all of them."""

    jobs: tuple[int, ...]  # oldest first: a partial placement takes the oldest members

    @property
    def rep(self) -> int:
        return self.jobs[0]

    @property
    def size(self) -> int:
        return len(self.jobs)


def job_classes(facts: Facts, jobs: Iterable[int]) -> list[JobClass]:
    """Groups queued jobs that no constraint or cost can tell apart; others stay alone.

    Running jobs (own former nodes) and service members (relations name single jobs) are never
    grouped. Everything the model reads about a job is in the key, so a class is exact.
    """
    p = facts.p
    grouped: dict[tuple[object, ...], list[int]] = {}
    alone: list[JobClass] = []
    for j in sorted(jobs):
        if facts.running(j) or facts.services_of[j]:
            alone.append(JobClass((j,)))
            continue
        overrides = facts.demands.setting(j) if j in facts.overridden else ()
        key = (
            p.job_demand[j],
            p.job_replicas[j],
            p.job_priority[j],
            p.job_nodes[j],
            facts.department[j],
            facts.scopes.may_preempt[j],
            facts.scopes.rank[j],
            facts.scopes.may_reclaim[j],
            facts.required[j],
            overrides,
        )
        grouped.setdefault(key, []).append(j)
    classes = [JobClass(tuple(sorted(m, key=lambda j: p.job_order[j]))) for m in grouped.values()]
    return sorted(alone + classes, key=lambda c: c.rep)


@dataclass
class Fixed:
    """Constants that the jobs outside the scope contribute to the decided part."""

    usage: dict[int, list[int]] = field(default_factory=dict)  # scope node -> final usage
    transient: dict[int, list[int]] = field(default_factory=dict)  # scope node -> extra usage
    replicas: dict[int, int] = field(default_factory=dict)  # scope node -> replica count
    device_load: dict[tuple[int, int], int] = field(default_factory=dict)  # (node, device)
    whole_devices: set[tuple[int, int]] = field(default_factory=set)  # taken whole
    quota_usage: list[int] = field(default_factory=list)  # per quota (model/problem.py, Quotas)
    on_node: dict[int, list[int]] = field(default_factory=dict)  # scope node -> fixed jobs
    evicted: list[int] = field(default_factory=list)  # fixed running jobs left out
    service_moves: dict[int, int] = field(default_factory=dict)  # service -> fixed moves


class Incumbent:
    """Per-node and per-department totals of one solution, so that the constants of any scope
    cost time in the scope's size, not the problem's (LNS builds hundreds of scopes)."""

    def __init__(self, facts: Facts, solution: Solution) -> None:
        p = facts.p
        self.facts = facts
        self.solution = solution
        nr = p.num_resources
        self.usage: dict[int, list[int]] = {}
        self.transient: dict[int, list[int]] = {}
        self.replicas: dict[int, int] = {}
        self.device_load: dict[tuple[int, int], int] = {}
        self.whole_devices: set[tuple[int, int]] = set()
        self.quota_usage = [0] * len(p.quotas)
        self.on_node: dict[int, list[int]] = {}
        self.evicted: list[int] = []
        self.moved = [0] * p.num_jobs
        for j, nodes in enumerate(solution.assignment):
            if nodes is not None:
                self.moved[j] = facts.moved_replicas(j, nodes)
        self.service_moves = {
            s: sum(self.moved[j] for j in service.jobs) for s, service in enumerate(p.services)
        }
        for j, nodes in enumerate(solution.assignment):
            if nodes is None:
                if facts.running(j):
                    self.evicted.append(j)
                continue
            devs = solution.devices[j] if solution.devices else None
            if p.quotas:
                facts.scopes.add(self.quota_usage, j, nodes, facts.demand)
            for i, n in enumerate(nodes):
                demand = facts.demand(j, n)
                _add(self.usage.setdefault(n, [0] * nr), demand, 1)
                self.replicas[n] = self.replicas.get(n, 0) + 1
                jobs = self.on_node.setdefault(n, [])
                if not jobs or jobs[-1] != j:
                    jobs.append(j)
                if devs is not None and facts.gpu >= 0 and facts.devices[n] > 0:
                    q = demand[facts.gpu]
                    whole = facts.gpu_kind(q) == "whole"
                    for k in devs[i]:
                        load = self.device_load.get((n, k), 0)
                        self.device_load[n, k] = load + (WHOLE if whole else q)
                        if whole:
                            self.whole_devices.add((n, k))
            for a, extra in facts.transient_extra(j, nodes).items():
                _add(self.transient.setdefault(a, [0] * nr), extra, 1)

    def fixed(self, scope: Scope) -> Fixed:
        """The constants of `scope`: these totals minus what the decided jobs contribute."""
        facts = self.facts
        out = Fixed(evicted=[j for j in self.evicted if j not in scope.jobs])
        for n in scope.nodes:
            if n in self.usage:
                out.usage[n] = list(self.usage[n])
                out.replicas[n] = self.replicas[n]
                out.on_node[n] = [j for j in self.on_node[n] if j not in scope.jobs]
            if n in self.transient:
                out.transient[n] = list(self.transient[n])
        out.quota_usage = list(self.quota_usage)
        out.service_moves = dict(self.service_moves)
        for j in scope.jobs:
            for s in facts.services_of[j]:
                out.service_moves[s] -= self.moved[j]
        for (n, k), load in self.device_load.items():
            if n in scope.nodes:
                out.device_load[n, k] = load
                if (n, k) in self.whole_devices:
                    out.whole_devices.add((n, k))
        sol = self.solution
        for j in scope.jobs:
            nodes = sol.assignment[j]
            if nodes is None:
                continue
            devs = sol.devices[j] if sol.devices else None
            if out.quota_usage:
                facts.scopes.add(out.quota_usage, j, nodes, facts.demand, -1)
            for i, n in enumerate(nodes):
                demand = facts.demand(j, n)
                _add(out.usage[n], demand, -1)
                out.replicas[n] -= 1
                if devs is not None and facts.gpu >= 0 and facts.devices[n] > 0:
                    q = demand[facts.gpu]
                    whole = facts.gpu_kind(q) == "whole"
                    for k in devs[i]:
                        out.device_load[n, k] -= WHOLE if whole else q
                        out.whole_devices.discard((n, k))
            for a, extra in facts.transient_extra(j, nodes).items():
                # A former node outside the scope keeps the hold: the job cannot return there.
                if a in out.transient:
                    _add(out.transient[a], extra, -1)
        return out


def _add(row: list[int], values: tuple[int, ...] | list[int], sign: int) -> None:
    for r, v in enumerate(values):
        row[r] += sign * v
