"""LNS's "escape" pieces (pieces.py): a node above its safety level in a resource another node
has room in, the nodes a few of its running jobs could reach at all, then random nodes up to
the piece's size.

Where transient resources hold what a job leaves behind (ROADEF 2012), a big job of a loaded
node fits on only a few other nodes whatever moves, each of them full in some other resource:
its move is a chain (room made there first) that neither a shift nor a swap can start and that
random pieces seldom hold together. On ROADEF a2_2 the processes of the four costliest
machines could each reach 0-4 of the 100.
"""

from __future__ import annotations

import random
from collections import deque

from scheduler.placement.cpsat.scope import Incumbent
from scheduler.placement.index.facts import Facts

# Escape pieces' share of the draws follows what they gained per draw lately against the other
# shapes together (which share the rest by their wins), within these limits. Their
# improvements are rare and large where "jobs" pieces win often by little, so weighting by wins
# alone starves them (benchmarks/README.md, ROADEF set A, "Escape" pieces).
SHARE = (0.1, 0.75)
# Each side's gain per draw is over its last WINDOW draws, so the share follows the search as
# it goes: a mean over the whole run kept the share at its top on a1_3 long after its early
# gains (two runs of three ended with 47-71 processes moved where 6-10 suffice), and a decayed
# mean takes as long to forget a gain a million times another.
WINDOW = 20
# A job that fits on more nodes than this is no escape piece's concern (random pieces hold some
# of its nodes often enough) and is cached as reaching none: the cache stays small on B/X-size
# problems (50,000 jobs x 5,000 nodes), where most jobs fit almost anywhere.
NARROW = 128


class Share:
    """Escape pieces' share of the draws: their gain per draw over their last WINDOW draws
    against the other shapes' together over theirs (half before either gained), within
    SHARE."""

    def __init__(self) -> None:
        self.recent: tuple[deque[int], deque[int]] = (deque(maxlen=WINDOW), deque(maxlen=WINDOW))
        self.last: int | None = None
        self.gain = 0

    def share(self) -> float:
        """The share for the next draw, once the last draw's gain is counted."""
        if self.last is not None:
            self.recent[self.last].append(self.gain)
            self.last = None
        own, rest = (sum(d) / max(1, len(d)) for d in self.recent)
        if own + rest <= 0:
            return 0.5
        low, high = SHARE
        return min(high, max(low, own / (own + rest)))

    def drawn(self, escape: bool) -> None:
        """A piece was drawn; what it gains (gained) counts from the next share."""
        self.last = 0 if escape else 1
        self.gain = 0

    def gained(self, gain: int) -> None:
        self.gain += gain


class Escapes:
    """Where each running job could go at all, and the pieces built from it."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.cache: dict[int, tuple[int, ...]] = {}
        self.floor: list[list[int]] | None = None

    def nodes(self, inc: Incumbent, over: list[int], k: int, rng: random.Random) -> set[int]:
        """One piece of k nodes: a node of `over` (nodes above safety whose excess has somewhere
        to go, the costliest first; pieces.py), drawn mostly among the first few, then the
        nodes its jobs reach, in random job order, then random nodes."""
        facts = self.facts
        # The costliest nodes first, but not only them: their jobs may have nowhere to go.
        node = over[min(int(rng.expovariate(1.0) * 3), len(over) - 1)]
        nodes = {node}
        jobs = [j for j in inc.on_node.get(node, ()) if facts.migratable(j)]
        rng.shuffle(jobs)
        for j in jobs:
            reach = [m for m in self.reach(j) if m not in nodes]
            if not reach:
                continue
            if len(nodes) + len(reach) > k:
                reach = rng.sample(reach, max(0, k - len(nodes)))
            nodes.update(reach)
            if len(nodes) >= k:
                break
        if len(nodes) < k:
            rest = [m for m in range(facts.p.num_nodes) if m not in nodes]
            nodes.update(rng.sample(rest, k - len(nodes)))
        return nodes

    def reach(self, j: int) -> tuple[int, ...]:
        """The eligible nodes other than its own where running job j fits with every job
        that may leave gone: its demand within capacity less reservations, and less what the
        node's own running jobs hold there for good in transient resources; none if more
        than NARROW. Static, so computed once per job, when first asked."""
        got = self.cache.get(j)
        if got is not None:
            return got
        facts = self.facts
        p = facts.p
        floor = self._floor()
        own = set(facts.current[j] or ())
        out = []
        for n in facts.eligible[j]:
            if n in own:
                continue
            d = facts.demand(j, n)
            room = zip(p.node_capacity[n], facts.reserved[n], floor[n], strict=True)
            if all(x <= c - r - f for x, (c, r, f) in zip(d, room, strict=True)):
                out.append(n)
        got = tuple(out) if len(out) <= NARROW else ()
        self.cache[j] = got
        return got

    def _floor(self) -> list[list[int]]:
        """Per node, what its running jobs hold there in transient resources whether they
        stay or leave."""
        if self.floor is None:
            facts = self.facts
            p = facts.p
            floor = [[0] * p.num_resources for _ in range(p.num_nodes)]
            if any(facts.transient):
                for i, cur in enumerate(facts.current):
                    for n in cur or ():
                        d = facts.demand(i, n)
                        row = floor[n]
                        for r, t in enumerate(facts.transient):
                            if t:
                                row[r] += d[r]
            self.floor = floor
        return self.floor
