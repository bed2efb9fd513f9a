"""LNS's "homes" pieces (pieces.py): nodes that moved jobs run on now and the nodes they left,
so that a piece may bring them back (or to a node they reach at a lower move cost).

Once the load is as low as it gets, what is left is the cost of the moves themselves (ROADEF
a2_1, a1_3 and a1_5 late in a run). A job returns home only where its home has room, which the
jobs that moved in there hold: the returns form chains and cycles (j home to a node only k's
return frees, k home to ...). They lie along the paths of the move graph, whose edges join the
node a moved job runs on to each node it left; half of the pieces follow it breadth first from
one moved job, the other half take the two ends of random moved jobs.
"""

from __future__ import annotations

import random
from collections import deque

from scheduler.placement.cpsat.scope import Incumbent
from scheduler.placement.index.facts import Facts

Assignment = tuple[tuple[int, ...] | None, ...]


class Homes:
    """The incumbent's moved jobs, those of them worth bringing back first, the move graph, and
    the pieces drawn from them."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.moved: list[int] = []
        self.returners: list[int] = []
        self.graph: dict[int, list[int]] = {}

    def reset(self, inc: Incumbent) -> None:
        """Re-reads the incumbent (after an accepted improvement)."""
        facts = self.facts
        placed = inc.solution.assignment
        self.moved = []
        for j, cur in enumerate(facts.current):
            now = placed[j]
            if cur is not None and now is not None and now != cur and facts.migratable(j):
                self.moved.append(j)
        # Those of them that left a node with room below its safety level in a resource some
        # other node is loaded above: load cost paid for nothing, which their return would
        # fill (ROADEF a1_2, one answer: two machines under safety in a transient resource made
        # all of its 931 K of load cost above the bound; the processes that left them still
        # hold that room).
        slack = _slack_nodes(facts, inc) if self.moved else set()
        self.returners = [j for j in self.moved if any(n in slack for n in facts.current[j] or ())]
        self.graph = {}
        for j in self.moved:
            for a in placed[j] or ():
                for b in facts.current[j] or ():
                    self.graph.setdefault(a, []).append(b)
                    self.graph.setdefault(b, []).append(a)

    def nodes(self, inc: Incumbent, k: int, rng: random.Random) -> set[int]:
        """Up to k nodes: a chain of the move graph half of the time, else the nodes of a few
        moved jobs (callers fill the piece up with random nodes). Empty without moved jobs."""
        if not self.moved:
            return set()
        sol = inc.solution.assignment
        if rng.random() < 0.5:
            return self._chain(k, sol, rng)
        return self._pairs(k, sol, rng)

    def _start(self, rng: random.Random) -> list[int]:
        """Moved jobs in random order, the returners first half of the time (_pairs)."""
        order = rng.sample(self.moved, len(self.moved))
        if self.returners and rng.random() < 0.5:
            returners = set(self.returners)
            order = rng.sample(self.returners, len(returners)) + [
                j for j in order if j not in returners
            ]
        return order

    def _chain(self, k: int, sol: Assignment, rng: random.Random) -> set[int]:
        """The move graph around one moved job, breadth first in random order: the nodes of
        the chains of returns through it, where random moved jobs' pairs seldom hold more
        than one link of a chain."""
        pool = self.returners if self.returners and rng.random() < 0.5 else self.moved
        j = rng.choice(pool)
        start = [*(sol[j] or ()), *(self.facts.current[j] or ())]
        nodes = set(start)
        frontier = deque(start)
        while frontier and len(nodes) < k:
            near = self.graph.get(frontier.popleft(), [])
            for m in rng.sample(near, len(near)):
                if m not in nodes:
                    nodes.add(m)
                    frontier.append(m)
                    if len(nodes) >= k:
                        break
        return nodes

    def _pairs(self, k: int, sol: Assignment, rng: random.Random) -> set[int]:
        """The nodes of random moved jobs now and before, while they fit in k."""
        nodes: set[int] = set()
        for j in self._start(rng):
            pair = {*(sol[j] or ()), *(self.facts.current[j] or ())}
            if nodes and len(nodes | pair) > k:
                break
            nodes |= pair
        return nodes


def _slack_nodes(facts: Facts, inc: Incumbent) -> set[int]:
    """Nodes below their safety level in a weighted resource that some node is loaded above."""
    p = facts.p
    out: set[int] = set()
    zero = [0] * p.num_resources
    for r, w in enumerate(facts.load_weight):
        if not w:
            continue
        if not any(u[r] > facts.safety[n][r] for n, u in inc.usage.items()):
            continue
        out.update(n for n in range(p.num_nodes) if inc.usage.get(n, zero)[r] < facts.safety[n][r])
    return out
