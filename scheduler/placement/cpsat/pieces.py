"""The pieces LNS (lns.py) solves: which nodes and jobs one step frees, drawn from the incumbent
by shape (a cluster's window, the nodes an unplaced job could use, random or light or costly
nodes, a sample of migratable jobs over many nodes, the nodes moved jobs run on and left, a
loaded node with the few nodes its jobs could reach at all), each shape drawn more often the
more improvements it made (the last by what it gained), its size steered to a target of
pairs."""

from __future__ import annotations

import random

from scheduler.placement.cpsat.escape import Escapes, Share
from scheduler.placement.cpsat.homes import Homes
from scheduler.placement.cpsat.scope import Incumbent, Scope
from scheduler.placement.index.facts import Facts

_GROW, _SHRINK = 1.3, 0.7
# "jobs", "homes" and "escape" last: where they cannot apply their weight is 0, and the draw
# among the others is the one made before they existed (the same seeds give the same pieces
# on scheduler problems where no running job is away from its node).
_SHAPES = ("cluster", "unplaced", "random", "light", "costly", "jobs", "homes", "escape")
SHAPES = _SHAPES  # the names LnsLimits.shapes takes
_MIN_NODES = 2
# Nodes of a "jobs" piece: all of them up to this many, else a sample this large.
_JOB_PIECE_NODES = 64


def unplaced_by_set(facts: Facts, inc: Incumbent, work: tuple[int, ...]) -> dict[int, list[int]]:
    """The incumbent's unplaced jobs that have eligible nodes (no piece helps the others), by
    eligible node set, most work first."""
    p = facts.p
    by_set: dict[int, list[int]] = {}
    for j, nodes in enumerate(inc.solution.assignment):
        if nodes is None and facts.eligible[j]:
            by_set.setdefault(p.job_nodes[j], []).append(j)
    for jobs in by_set.values():
        jobs.sort(key=lambda j: (-work[j], p.job_order[j]))
    return by_set


class Neighbourhoods:
    """Picks the nodes and jobs of one neighbourhood from the current incumbent."""

    def __init__(
        self,
        facts: Facts,
        job_work: tuple[int, ...],
        rng: random.Random,
        shapes: tuple[str, ...] | None = None,
    ) -> None:
        p = facts.p
        unknown = sorted(set(shapes or ()) - set(_SHAPES))
        if unknown:
            raise ValueError(f"shapes: unknown {unknown[:3]!r}, known: {', '.join(_SHAPES)}")
        # Only these shapes are drawn (benchmarks.tracks.roadef_lns measures one alone).
        self.only = shapes
        self.facts = facts
        self.rng = rng
        self.work = job_work
        self.sets_of_node = facts.sets_of_node
        # Running jobs by former node: a job is free only if its former nodes are.
        self.former_on: dict[int, list[int]] = {}
        for j, counts in enumerate(facts.current_count):
            for n in counts or ():
                self.former_on.setdefault(n, []).append(j)
        self.nodes_per_step = max(_MIN_NODES, min(p.num_nodes, 8))
        self.unplaced_per_set = 64
        self.inc: Incumbent | None = None
        self.unplaced_by_set: dict[int, list[int]] = {}
        self.homes = Homes(facts)
        self.wins = [0] * len(_SHAPES)
        self.last = 0
        # "light" pieces only where opening a node costs: they try to empty the least loaded
        # open nodes into others (vector bin packing), which random pieces hardly ever do.
        self.opens = any(facts.open_cost)
        # Migratable running jobs (rebalancing, ROADEF 2012): "jobs" pieces free a sample of
        # them over many nodes at once, where node pieces free every job of a few nodes. A
        # count: the pieces draw from the incumbent's nodes.
        self.movable = sum(
            1
            for cost, cur in zip(facts.move_cost, facts.current, strict=True)
            if cost >= 0 and cur is not None
        )
        self.jobs_per_step = 32
        # "escape" pieces where migratable work pays load cost (escape.py).
        self.escapes = bool(self.movable) and any(facts.load_weight)
        self.escape_from: list[int] = []
        self.escape = Escapes(facts)
        self.escape_share = Share()
        self.escape_nodes = self.nodes_per_step

    def reset(self, inc: Incumbent) -> None:
        """Re-reads the incumbent's unplaced jobs and moved jobs (after an accepted
        improvement)."""
        self.inc = inc
        self.unplaced_by_set = unplaced_by_set(self.facts, inc, self.work)
        # Migratable running jobs the incumbent placed away from where they run ("homes"); no
        # scan where no running job may migrate (most scheduler problems).
        if self.movable:
            self.homes.reset(inc)
        # Where escape pieces start: nodes whose excess has somewhere to go. None where the
        # load is at its bound (ROADEF a1_3 late in a run, where every node above safety is so
        # in a resource no node has room in: only move costs are left, "homes" pieces' work).
        self.escape_from = self._over_safety(avoidable=True) if self.escapes else []

    def adapt(self, pairs: int, target: int, solved: bool) -> None:
        """Steers the node count so pieces land near `target` pairs and still solve."""
        p = self.facts.p
        if _SHAPES[self.last] == "jobs":
            if solved and pairs < target:
                self.jobs_per_step = min(self.movable, int(self.jobs_per_step * _GROW) + 1)
            elif not solved or pairs > 2 * target:
                self.jobs_per_step = max(4, int(self.jobs_per_step * _SHRINK))
            return
        if _SHAPES[self.last] == "escape":
            # Its own size: its pieces solve at a few nodes where others' need more.
            if solved and pairs < target:
                self.escape_nodes = min(p.num_nodes, int(self.escape_nodes * _GROW) + 1)
            elif not solved or pairs > 2 * target:
                self.escape_nodes = max(_MIN_NODES, int(self.escape_nodes * _SHRINK))
            return
        if solved and pairs < target:
            self.nodes_per_step = min(p.num_nodes, int(self.nodes_per_step * _GROW) + 1)
            self.unplaced_per_set = min(4096, int(self.unplaced_per_set * _GROW) + 1)
        elif not solved or pairs > 2 * target:
            self.nodes_per_step = max(_MIN_NODES, int(self.nodes_per_step * _SHRINK))
            self.unplaced_per_set = max(8, int(self.unplaced_per_set * _SHRINK))

    def pick(self) -> Scope:
        """The next neighbourhood. Each shape is drawn with probability proportional to one
        plus its past successes: on the synthetic cities random nodes across clusters won
        most improvements, but cluster windows are the only ones that move gangs."""
        weights = [1.0 + self.wins[k] for k in range(len(_SHAPES))]
        if not self.opens:
            weights[_SHAPES.index("light")] = 0
        if not any(self.facts.load_weight):
            weights[_SHAPES.index("costly")] = 0
        if not self.movable:
            weights[_SHAPES.index("jobs")] = 0
        if not self.homes.moved:
            weights[_SHAPES.index("homes")] = 0
        escape = _SHAPES.index("escape")
        if not self.escape_from:
            weights[escape] = 0
        else:
            share = self.escape_share.share()
            weights[escape] = (sum(weights) - weights[escape]) * share / (1.0 - share)
        if self.only is not None:
            weights = [w if s in self.only else 0 for w, s in zip(weights, _SHAPES, strict=True)]
            if not any(weights):
                weights = [1.0 if s in self.only else 0 for s in _SHAPES]
        kind = self.rng.choices(range(len(_SHAPES)), weights)[0]
        self.last = kind
        self.escape_share.drawn(kind == escape)
        shape = _SHAPES[kind]
        if shape == "cluster":
            nodes = self._cluster_nodes()
        elif shape == "unplaced":
            nodes = self._unplaced_nodes() or self._cluster_nodes()
        elif shape == "light":
            nodes = self._light_nodes()
        elif shape == "costly":
            nodes = self._costly_nodes()
        elif shape == "jobs":
            return self._jobs_scope()
        elif shape == "homes":
            nodes = self._home_nodes()
        elif shape == "escape":
            nodes = self._escape_nodes()
        else:
            nodes = self._random_nodes()
        return self._scope(nodes)

    def won(self) -> dict[str, int]:
        """Improvements so far by shape, for the shapes that made any."""
        return {shape: w for shape, w in zip(_SHAPES, self.wins, strict=True) if w}

    def reward(self, gain: int = 0) -> None:
        """The last neighbourhood improved the incumbent by `gain` (evaluator value)."""
        self.wins[self.last] += 1
        self.escape_share.gained(gain)

    def _cluster_nodes(self) -> set[int]:
        """A window of one cluster's nodes, so gangs may move inside it."""
        facts = self.facts
        groups = [g for g, nodes in enumerate(facts.group_nodes) if nodes]
        g = self.rng.choice(groups)
        nodes = list(facts.group_nodes[g])
        k = min(len(nodes), self.nodes_per_step)
        start = self.rng.randrange(len(nodes) - k + 1)
        return set(nodes[start : start + k])

    def _unplaced_nodes(self) -> set[int]:
        """Nodes one of the more valuable unplaced jobs could use: within one cluster for a
        gang, from all its eligible nodes otherwise (single replicas may swap across)."""
        facts = self.facts
        sets = [s for s, jobs in self.unplaced_by_set.items() if jobs]
        if not sets:
            return set()
        jobs = self.unplaced_by_set[self.rng.choice(sets)]
        j = jobs[self.rng.randrange(min(len(jobs), 8))]
        nodes = list(facts.eligible[j])
        if facts.p.job_replicas[j] > 1:
            by_group: dict[int, list[int]] = {}
            for n in nodes:
                by_group.setdefault(facts.p.node_group[n], []).append(n)
            nodes = by_group[self.rng.choice(sorted(by_group))]
        return set(self.rng.sample(nodes, min(len(nodes), self.nodes_per_step)))

    def _light_nodes(self) -> set[int]:
        """Open nodes drawn among the least loaded twice the piece's size (mean share of
        capacity used): the most room to empty one of them into the others. Measured on
        Panigrahy instances at 10 s (250-500 items), against a third of them lightest and the
        rest random open nodes: class 1 500x10 153 -> 152 bins, class 7 250x3 109 -> 107."""
        inc = self.inc
        assert inc is not None
        p = self.facts.p
        fill: list[tuple[float, int]] = []
        for n, used in inc.usage.items():
            cap = p.node_capacity[n]
            shares = [u / c for u, c in zip(used, cap, strict=True) if c]
            fill.append((sum(shares) / max(1, len(shares)), n))
        if len(fill) < 2:
            return self._random_nodes()
        fill.sort()
        k = min(len(fill), self.nodes_per_step)
        pool = [n for _, n in fill[: 2 * k]]
        return set(self.rng.sample(pool, min(len(pool), k)))

    def _costly_nodes(self) -> set[int]:
        """Half the piece from the nodes loaded above their safety level (drawn among the most
        loaded, weighted by load_weight), the rest random: where load cost can fall, plus
        room to take what leaves. Random nodes when no node is above safety."""
        over = self._over_safety()
        if not over:
            return self._random_nodes()
        k = min(self.facts.p.num_nodes, self.nodes_per_step)
        half = max(1, k // 2)
        pool = over[: 2 * half]
        chosen = set(self.rng.sample(pool, min(len(pool), half)))
        rest = [n for n in range(self.facts.p.num_nodes) if n not in chosen]
        chosen.update(self.rng.sample(rest, min(len(rest), k - len(chosen))))
        return chosen

    def _over_safety(self, avoidable: bool = False) -> list[int]:
        """Nodes loaded above their safety level, the largest weighted excess first. With
        `avoidable`, only in resources some node is below its safety level in: excess that
        has somewhere to go."""
        inc = self.inc
        assert inc is not None
        facts = self.facts
        weights = facts.load_weight
        if avoidable:
            p = facts.p
            zero = [0] * p.num_resources
            weights = tuple(
                w
                if w
                and any(inc.usage.get(n, zero)[r] < facts.safety[n][r] for n in range(p.num_nodes))
                else 0
                for r, w in enumerate(weights)
            )
        over: list[tuple[int, int]] = []
        for n, used in inc.usage.items():
            excess = sum(
                w * (u - s) for w, u, s in zip(weights, used, facts.safety[n], strict=True) if u > s
            )
            if excess > 0:
                over.append((-excess, n))
        over.sort()
        return [n for _, n in over]

    def _random_nodes(self) -> set[int]:
        """Nodes from anywhere: single replicas may move across clusters."""
        n = self.facts.p.num_nodes
        return set(self.rng.sample(range(n), min(n, self.nodes_per_step)))

    def _jobs_scope(self) -> Scope:
        """A sample of the migratable running jobs, free over all nodes (a sample of
        _JOB_PIECE_NODES nodes on larger problems, and then jobs on them): any job may go to
        any node, as the process-centred neighbourhoods of ROADEF 2012's CP entries
        (Mehta, O'Sullivan and Simonis). Half of the time the jobs come from the nodes above
        their safety level, where load cost can fall."""
        inc = self.inc
        assert inc is not None
        p = self.facts.p
        if p.num_nodes <= _JOB_PIECE_NODES:
            nodes = set(range(p.num_nodes))
        else:
            nodes = set(self.rng.sample(range(p.num_nodes), _JOB_PIECE_NODES))
        pool_nodes = nodes
        if self.rng.random() < 0.5 and any(self.facts.load_weight):
            pool_nodes = {n for n in self._over_safety() if n in nodes} or nodes
        sol = inc.solution.assignment
        pool = sorted(
            {
                j
                for n in pool_nodes
                for j in inc.on_node.get(n, ())
                if self.facts.migratable(j) and all(m in nodes for m in sol[j] or ())
            }
        )
        jobs = self.rng.sample(pool, min(len(pool), self.jobs_per_step))
        return Scope(frozenset(jobs), frozenset(nodes), inc.solution)

    def _home_nodes(self) -> set[int]:
        """Nodes moved jobs run on and left (homes.py), then random nodes up to the piece's
        size: every job on them is free, so a chain of moves that brings several home at no
        load cost is one piece, and so is a move to a node they may reach at a lower move
        cost than where they are."""
        inc = self.inc
        assert inc is not None
        n = self.facts.p.num_nodes
        k = min(n, self.nodes_per_step)
        nodes = self.homes.nodes(inc, k, self.rng)
        if len(nodes) < k:
            rest = [m for m in range(n) if m not in nodes]
            nodes.update(self.rng.sample(rest, k - len(nodes)))
        return nodes

    def _escape_nodes(self) -> set[int]:
        """A node above its safety level where another has room, the nodes its jobs could
        reach at all, random nodes up to the piece's own size (escape.py)."""
        inc = self.inc
        assert inc is not None
        if not self.escape_from:
            return self._random_nodes()
        k = min(self.facts.p.num_nodes, self.escape_nodes)
        return self.escape.nodes(inc, self.escape_from, k, self.rng)

    def _scope(self, nodes: set[int]) -> Scope:
        inc = self.inc
        assert inc is not None
        facts = self.facts
        sol = inc.solution.assignment
        candidates: set[int] = set()
        for n in nodes:
            candidates.update(inc.on_node.get(n, ()))
            candidates.update(self.former_on.get(n, ()))
        sets = {s for n in nodes for s in self.sets_of_node[n]}
        for s in sorted(sets):
            candidates.update(self.unplaced_by_set.get(s, ())[: self.unplaced_per_set])
        jobs = set()
        for j in candidates:
            placed = sol[j] or ()
            if placed and all(n in nodes for n in placed):
                jobs.add(j)
            elif not placed and all(n in nodes for n in facts.current_count[j] or ()):
                jobs.add(j)  # unplaced (queued or evicted): free where it may go
        return Scope(frozenset(jobs), frozenset(nodes), inc.solution)
