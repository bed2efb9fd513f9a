"""The free room per node that the explanations (explain.py) reason on, in three views:
`empty` (only reserved usage), `now` (the solution's usage) and `hard(key)` (what a job of a
preemptor key could not displace); and the counts on them: replicas that fit a node, the
cluster that holds most of a gang, the node that lacks least.

Nodes of one type with equal free rows and device presence hold the same replicas of any job,
so each count is made once per such node class of a view: at month scale (a thousand nodes,
~2,000 jobs, most with per-type demands) the scans of every eligible node per unplaced job
made the explanations a fifth of a solve.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from scheduler.placement.index.facts import WHOLE, Facts
from scheduler.placement.model.problem import Solution


class Rooms:
    """The three views of one solution's free room, and the counts on them."""

    def __init__(self, facts: Facts, solution: Solution) -> None:
        p = facts.p
        self.facts = facts
        self.p = p
        self.solution = solution
        nr = p.num_resources
        self.norms = [max((row[r] for row in p.node_capacity), default=0) for r in range(nr)]
        used = [list(row) for row in facts.reserved]
        self.occupants: dict[int, list[int]] = {}
        for j, nodes in enumerate(solution.assignment):
            for n in nodes or ():
                demand = facts.demand(j, n)
                for r in range(nr):
                    used[n][r] += demand[r]
                occupants = self.occupants.setdefault(n, [])
                if j not in occupants:
                    occupants.append(j)
        caps = p.node_capacity
        self.empty = [
            [c - r for c, r in zip(cap, res, strict=True)]
            for cap, res in zip(caps, facts.reserved, strict=True)
        ]
        self.now = [
            [c - u for c, u in zip(cap, row, strict=True)]
            for cap, row in zip(caps, used, strict=True)
        ]
        self._hard: dict[tuple[int, int, bool], list[list[int]]] = {}
        # hard(): capacity left if every running job stays; evictable ones by department.
        self._stays: list[list[int]] | None = None
        self._evictable: dict[int, list[int]] = {}
        self._types = p.node_type or (0,) * p.num_nodes
        # _view: id(rows) -> (rows, view id, class per node); fitter: (job, view) -> count
        # per node class.
        self._views: dict[int, tuple[list[list[int]], int, list[int]]] = {}
        self._fits: dict[tuple[int, int], dict[int, int]] = {}

    def hard(self, key: tuple[int, int, bool]) -> list[list[int]]:
        """Per node, the capacity left by reserved usage and by the running jobs a job of
        preemptor `key` (QuotaScopes.preemptor) cannot displace: "every running job stays"
        plus what the key may evict, walking only jobs without a department and the key's own
        (a city has a key per department and priority)."""
        rows = self._hard.get(key)
        if rows is not None:
            return rows
        facts = self.facts
        if self._stays is None:
            self._stays = [list(row) for row in self.empty]
            for k, nodes in enumerate(self.solution.assignment):
                if nodes is None or not facts.running(k):
                    continue
                self._add_usage(self._stays, k, nodes, -1)
                if facts.preemptible(k):
                    self._evictable.setdefault(facts.department[k], []).append(k)
        rows = [list(row) for row in self._stays]
        _, dk, allowed = key
        if dk < 0:
            candidates = [k for ks in self._evictable.values() for k in ks]
        else:
            candidates = self._evictable.get(-1, []) + (
                self._evictable.get(dk, []) if allowed else []
            )
        for k in candidates:
            if facts.scopes.outranks(key, k):
                self._add_usage(rows, k, self.solution.assignment[k] or (), 1)
        self._hard[key] = rows
        return rows

    def _add_usage(self, rows: list[list[int]], k: int, nodes: Sequence[int], sign: int) -> None:
        for n in nodes:
            demand = self.facts.demand(k, n)
            row = rows[n]
            for r in range(self.p.num_resources):
                row[r] += sign * demand[r]

    def _view(self, rows: list[list[int]]) -> tuple[int, list[int]]:
        """An id for the view `rows` (empty, now, or a preemptor's hard rooms) and, per node,
        its class in that view: nodes of one type (the job's demand there) with equal free
        rows and the same device presence hold the same replicas of any job."""
        found = self._views.get(id(rows))
        if found is None or found[0] is not rows:
            kinds: dict[tuple[object, ...], int] = {}
            types, devices = self._types, self.facts.devices
            classes = [
                kinds.setdefault((types[n], tuple(row), devices[n] > 0), len(kinds))
                for n, row in enumerate(rows)
            ]
            found = self._views[id(rows)] = (rows, len(self._views), classes)
        return found[1], found[2]

    def fitter(self, j: int, rows: list[list[int]]) -> Callable[[int], int]:
        """n -> `fit_count(j, n, rows[n])`, counted once per node class of the view (the
        module's docstring says why)."""
        view, classes = self._view(rows)
        fits = self._fits.setdefault((j, view), {})

        def fit(n: int) -> int:
            got = fits.get(classes[n])
            if got is None:
                got = fits[classes[n]] = self.fit_count(j, n, rows[n])
            return got

        return fit

    def fit_count(self, j: int, n: int, room: Sequence[int]) -> int:
        facts = self.facts
        demand = facts.demand(j, n)
        fit = self.p.job_replicas[j]
        for r, d in enumerate(demand):
            if d > 0:
                fit = min(fit, max(0, room[r]) // d)
        if facts.gpu >= 0 and facts.devices[n] > 0:
            q = demand[facts.gpu]
            if facts.gpu_kind(q) == "whole":
                fit = min(fit, max(0, room[facts.gpu]) // WHOLE // (q // WHOLE))
        if any(self.p.services[s].anti_affinity for s in facts.services_of[j]):
            fit = min(fit, 1)
        return fit

    def best_group(self, j: int, rooms: list[list[int]]) -> tuple[int, int]:
        """The first cluster that holds the whole gang in `rooms`, else the one holding most of
        it; and how many replicas it holds."""
        p = self.p
        replicas = p.job_replicas[j]
        held: dict[int, int] = {}
        fit = self.fitter(j, rooms)
        for n in self.facts.eligible[j]:
            g = p.node_group[n]
            held[g] = held.get(g, 0) + fit(n)
            if held[g] >= replicas:
                return g, replicas
        g = max(held, key=lambda g: (held[g], -g))
        return g, min(held[g], p.job_replicas[j])

    def closest(
        self, j: int, nodes: Sequence[int], rooms: list[list[int]]
    ) -> tuple[int, tuple[int, ...]]:
        """The node that lacks least for one replica (normalised, summed) and what it lacks."""
        facts = self.facts

        def lack(n: int) -> tuple[int, ...]:
            demand = facts.demand(j, n)
            return tuple(max(0, d - f) for d, f in zip(demand, rooms[n], strict=True))

        _, classes = self._view(rooms)
        scores: dict[int, int] = {}  # per node class: what a node of it lacks, normalised

        def scaled(n: int) -> tuple[int, int]:
            c = classes[n]
            score = scores.get(c)
            if score is None:
                short = lack(n)
                score = scores[c] = sum(
                    s * 1000 // m for s, m in zip(short, self.norms, strict=True) if m
                )
            return score, n

        best = min(nodes, key=scaled)
        return best, lack(best)
