"""Placed replicas per service, for the greedy rules: nodes (anti-affinity) and domains (spread,
dependencies)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from scheduler.placement.index.node_pool import Accept

if TYPE_CHECKING:
    from scheduler.placement.model.problem import Problem


class Services:
    """Placed replicas per service: nodes (anti-affinity) and domains (spread, dependencies)."""

    def __init__(self, p: Problem) -> None:
        self.p = p
        self.of_job: dict[int, list[int]] = {}
        for s, svc in enumerate(p.services):
            for j in svc.jobs:
                self.of_job.setdefault(j, []).append(s)
        self.nodes: list[Counter[int]] = [Counter() for _ in p.services]
        self.domains: list[dict[int, Counter[int]]] = [{} for _ in p.services]
        for s, svc in enumerate(p.services):
            if svc.spread_key >= 0:
                self.domains[s][svc.spread_key] = Counter()
            for t in svc.depends_on:
                self.domains[t].setdefault(svc.affinity_key, Counter())

    def constrained(self, j: int) -> bool:
        return j in self.of_job

    def dependent(self, j: int) -> bool:
        return any(self.p.services[s].depends_on for s in self.of_job.get(j, ()))

    def record(self, j: int, nodes: Sequence[int], sign: int) -> None:
        for s in self.of_job.get(j, ()):
            for n in nodes:
                self.nodes[s][n] += sign
                for key, counts in self.domains[s].items():
                    counts[self.p.node_domains[n][key]] += sign

    def conditions(self, j: int, chosen: Sequence[int]) -> tuple[Accept, Accept]:
        """(must hold, preferred) for the node of j's next replica; None when unconstrained."""
        services = self.of_job.get(j)
        if not services:
            return None, None
        p = self.p
        anti = [self.nodes[s] for s in services if p.services[s].anti_affinity]
        taken = set(chosen) if anti else set()
        needs = [
            (
                p.services[s].affinity_key,
                [self.domains[t][p.services[s].affinity_key] for t in p.services[s].depends_on],
            )
            for s in services
            if p.services[s].depends_on
        ]
        domains = p.node_domains

        def accept(n: int) -> bool:
            if anti and (n in taken or any(nodes[n] > 0 for nodes in anti)):
                return False
            return all(counts[domains[n][key]] > 0 for key, deps in needs for counts in deps)

        short = []
        for s in services:
            svc = p.services[s]
            if svc.spread_key < 0:
                continue
            covered = {d for d, c in self.domains[s][svc.spread_key].items() if c > 0}
            covered.update(domains[n][svc.spread_key] for n in chosen)
            if len(covered) < svc.spread_min:
                short.append((svc.spread_key, covered))
        if not short:
            return accept, None

        def prefer(n: int) -> bool:
            return all(domains[n][key] not in covered for key, covered in short) and accept(n)

        return accept, prefer

    def violations(self, assignment: Sequence[tuple[int, ...] | None]) -> set[int]:
        """Placed members of services short of their spread, and placed replicas' jobs without
        the domains they depend on."""
        p = self.p
        bad: set[int] = set()
        for s, svc in enumerate(p.services):
            placed = [j for j in svc.jobs if assignment[j] is not None]
            if not placed:
                continue
            if svc.spread_key >= 0:
                covered = sum(1 for c in self.domains[s][svc.spread_key].values() if c > 0)
                if covered < svc.spread_min:
                    bad.update(placed)
                    continue
            key = svc.affinity_key
            for t in svc.depends_on:
                counts = self.domains[t][key]
                for j in placed:
                    nodes = assignment[j] or ()
                    if any(counts[p.node_domains[n][key]] <= 0 for n in nodes):
                        bad.add(j)
        return bad
