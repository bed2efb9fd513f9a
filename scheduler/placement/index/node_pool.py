"""Free capacity of every node for the greedy baselines, with fast "which node fits" lookups.

Scanning every eligible node for every replica is 100,000 x 5,000 checks at city scale, far too
slow in Python. Two observations make it cheap:

- Atoms. Nodes with the same group, node type and node-set membership are interchangeable for
  eligibility, gangs and demand overrides. There are few such atoms (clusters x node kinds), and
  each node belongs to exactly one, so a node's change updates one structure, while a job looks
  at the handful of atoms of its node set in the group it tries.
- Per-dimension order. Each atom keeps, for every resource dimension, its nodes sorted by free
  amount (keys `free << SHIFT | node`). A replica needs free >= demand in every dimension; the
  nodes that have enough of the job's scarcest dimension (the one with the fewest candidates,
  found by bisection) are a contiguous tail, scanned tightest first. So the search skips nodes
  that are full in that dimension without looking at them and stops at the first fits.
  First-fit instead walks the atom in node order by blocks of BLOCK nodes, skipping every block
  whose per-dimension maxima cannot hold the replica.

Dimensions are the problem's resources plus, when nodes have GPU devices, two more: 1000 x the
empty devices (what whole-device replicas need) and the largest free share of one device (what a
fractional replica needs); on nodes without devices both equal the plain GPU amount.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from scheduler.placement.index import devices

if TYPE_CHECKING:
    from scheduler.placement.model.problem import Problem

SHIFT = 21  # bits for the node index in a sorted key; 2 million nodes
MASK = (1 << SHIFT) - 1
BLOCK = 32

Need = Sequence[tuple[int, int]]  # (dimension, amount) for the non-zero amounts of a replica
Accept = Callable[[int], bool] | None  # extra per-node condition (services), None = any node


class Layout:
    """The atoms of a problem and, per node set, its atoms by group. Static; shared by runs."""

    def __init__(self, p: Problem) -> None:
        membership: list[list[int]] = [[] for _ in range(p.num_nodes)]
        for i, nodes in enumerate(p.node_sets):
            for n in nodes:
                membership[n].append(i)
        types = p.node_type or (0,) * p.num_nodes
        index: dict[tuple[int, int, tuple[int, ...]], int] = {}
        self.nodes: list[list[int]] = []  # atom -> nodes, ascending
        self.group: list[int] = []
        self.type: list[int] = []
        sets_of: list[tuple[int, ...]] = []
        for n in range(p.num_nodes):
            if not membership[n]:
                continue  # in no node set: no replica can go there
            key = (p.node_group[n], types[n], tuple(membership[n]))
            a = index.get(key)
            if a is None:
                a = index[key] = len(self.nodes)
                self.nodes.append([])
                self.group.append(key[0])
                self.type.append(key[1])
                sets_of.append(key[2])
            self.nodes[a].append(n)
        # node set -> group -> atoms; groups in order of their first node.
        self.by_set: list[dict[int, list[int]]] = [{} for _ in p.node_sets]
        for a, sets in enumerate(sets_of):
            for i in sets:
                self.by_set[i].setdefault(self.group[a], []).append(a)
        # node set -> all its atoms, group by group
        self.atoms: list[list[int]] = [
            [a for atoms in groups.values() for a in atoms] for groups in self.by_set
        ]


def extended(demand: Sequence[int], gpu: int, with_devices: bool) -> tuple[int, ...]:
    """The demand in pool dimensions: resources, then (whole, share) GPU needs if devices exist."""
    if not with_devices:
        return tuple(demand)
    q = demand[gpu]
    whole = q if devices.is_whole(q) else 0
    return (*demand, whole, q - whole)


def has_devices(p: Problem) -> bool:
    return p.gpu_resource >= 0 and bool(p.node_devices) and any(p.node_devices)


class Pool:
    """Free amounts of every node in pool dimensions, GPU device usage, and the lookups.

    `weights[n][r]` weighs free capacity in the score a rule minimises (see `score`); `tight` and
    `blocks` switch on the per-dimension order and the first-fit blocks. Changes made between
    `begin()` and `rollback()` are undone exactly (a gang that does not fit leaves no trace).
    """

    def __init__(
        self,
        p: Problem,
        layout: Layout,
        weights: Sequence[Sequence[float]],
        *,
        tight: bool,
        blocks: bool,
    ) -> None:
        self.layout = layout
        self.width = p.num_resources
        self.gpu = p.gpu_resource
        self.weights = weights
        # One shared row: the demand's part of the score is the same on every node.
        self.uniform = all(row is weights[0] for row in weights)
        self.with_devices = with_devices = has_devices(p)
        counts = p.node_devices or (0,) * p.num_nodes
        reserved = p.node_reserved or tuple((0,) * self.width for _ in range(p.num_nodes))
        self.used_devices: list[list[int]] = [[0] * counts[n] for n in range(p.num_nodes)]
        self.free: list[list[int]] = []
        for n, (caps, held) in enumerate(zip(p.node_capacity, reserved, strict=True)):
            row = [c - h for c, h in zip(caps, held, strict=True)]
            if with_devices:
                row.extend(self._device_dims(n, row))
            self.free.append(row)
        self.dims = len(self.free[0]) if self.free else self.width
        self.atom_of = [-1] * p.num_nodes
        self.position = [0] * p.num_nodes
        for a, nodes in enumerate(layout.nodes):
            for i, n in enumerate(nodes):
                self.atom_of[n] = a
                self.position[n] = i
        self.weighted = [
            sum(f * w for f, w in zip(row, ws, strict=False))
            for row, ws in zip(self.free, weights, strict=True)
        ]
        self.tight = tight
        self.keys: list[list[list[int]]] = []
        if tight:
            self.keys = [
                [sorted((self.free[n][r] << SHIFT) | n for n in nodes) for r in range(self.dims)]
                for nodes in layout.nodes
            ]
        self.blocks = blocks
        self.block_max: list[list[list[int]]] = []
        if blocks:
            self.block_max = [
                [self._block_max(nodes[b : b + BLOCK]) for b in range(0, len(nodes), BLOCK)]
                for nodes in layout.nodes
            ]
        self.total = [
            [sum(self.free[n][r] for n in nodes) for r in range(self.dims)]
            for nodes in layout.nodes
        ]
        self._journal: dict[int, tuple[list[int], list[int]]] | None = None

    # -- state changes ---------------------------------------------------------------------------

    def _device_dims(self, n: int, row: Sequence[int]) -> tuple[int, int]:
        if self.used_devices[n]:
            return devices.room(self.used_devices[n])
        plain = row[self.gpu]
        return plain, plain

    def _block_max(self, nodes: Sequence[int]) -> list[int]:
        free = self.free
        return [max(free[n][r] for n in nodes) for r in range(self.dims)]

    def take(self, n: int, demand: Sequence[int]) -> tuple[int, ...]:
        """Places one replica of pool-dimension `demand` on node n; returns its device ids.

        Search results always fit. Running jobs are taken as they are: if their device shares
        cannot be packed, the least used devices are overcommitted and the checker will say so.
        """
        old = self.free[n]
        used = self.used_devices[n]
        if self._journal is not None and n not in self._journal:
            self._journal[n] = (old, list(used))
        new = [f - d for f, d in zip(old[: self.width], demand, strict=False)]
        ids: tuple[int, ...] = ()
        if self.dims > self.width:
            q = demand[self.gpu]
            if used and q:
                picked = devices.pick(used, q)
                if picked is None:
                    count = q // devices.SHARES_PER_DEVICE if devices.is_whole(q) else 1
                    picked = tuple(sorted(sorted(range(len(used)), key=used.__getitem__)[:count]))
                ids = picked
                devices.take(used, ids, q)
            new.extend(self._device_dims(n, new))
        self._replace(n, old, new)
        return ids

    def release(self, n: int, demand: Sequence[int], ids: Sequence[int]) -> None:
        """Gives back what `take` took for one replica (its device ids included)."""
        old = self.free[n]
        new = [f + d for f, d in zip(old[: self.width], demand, strict=False)]
        if self.dims > self.width:
            q = demand[self.gpu]
            share = devices.SHARES_PER_DEVICE if devices.is_whole(q) else q
            for d in ids:
                self.used_devices[n][d] -= share
            new.extend(self._device_dims(n, new))
        self._replace(n, old, new)

    def _replace(self, n: int, old: list[int], new: list[int]) -> None:
        self.free[n] = new
        a = self.atom_of[n]
        weights = self.weights[n]
        delta = 0.0
        total = self.total[a]
        for r in range(self.dims):
            before, after = old[r], new[r]
            if before == after:
                continue
            total[r] += after - before
            if r < len(weights):
                delta += (after - before) * weights[r]
            if self.tight:
                keys = self.keys[a][r]
                del keys[bisect_left(keys, (before << SHIFT) | n)]
                insort(keys, (after << SHIFT) | n)
        self.weighted[n] += delta
        if self.blocks:
            start = self.position[n] // BLOCK * BLOCK
            nodes = self.layout.nodes[a]
            self.block_max[a][start // BLOCK] = self._block_max(nodes[start : start + BLOCK])

    def begin(self) -> None:
        """Starts recording changes so that `rollback` can undo them."""
        self._journal = {}

    def commit(self) -> None:
        self._journal = None

    def rollback(self) -> None:
        """Undoes every change since `begin`."""
        journal = self._journal
        self._journal = None
        assert journal is not None
        for n, (free, used) in journal.items():
            self.used_devices[n] = used
            self._replace(n, self.free[n], free)

    # -- lookups ---------------------------------------------------------------------------------

    def fits(self, n: int, need: Need) -> bool:
        row = self.free[n]
        return all(row[r] >= x for r, x in need)

    def may_host(self, a: int, need: Need) -> bool:
        """A quick necessary condition for one replica: some node of atom a has each amount."""
        if not self.tight:
            return True  # first-fit's block walk rejects a full atom just as fast
        keys = self.keys[a]
        return all((keys[r][-1] >> SHIFT) >= x for r, x in need)

    def score(self, n: int, need: Need) -> float:
        """Weighted free capacity left on n after one replica: smaller is a tighter fit."""
        weights = self.weights[n]
        width = self.width
        return self.weighted[n] - sum(x * weights[r] for r, x in need if r < width)

    def tightest(
        self, a: int, need: Need, limit: int, accept: Accept
    ) -> tuple[float, int, int] | None:
        """(score, node, fitting nodes seen) for the best-scoring of the first `limit` fitting
        nodes of atom a, tightest first in the job's scarcest dimension; None if none fits."""
        keys = self.keys[a]
        if not need:
            tail: list[int] = keys[0]
            start = 0
        else:
            start, tail = -1, []
            fewest = -1
            for r, x in need:
                column = keys[r]
                pos = bisect_left(column, x << SHIFT)
                left = len(column) - pos
                if left == 0:
                    return None
                if fewest < 0 or left < fewest:
                    fewest, start, tail = left, pos, column
        # The hot loop of every best-fit rule: locals only, the score inlined.
        free = self.free
        weighted = self.weighted
        weights = self.weights
        width = self.width
        real = [(r, x) for r, x in need if r < width]
        uniform = self.uniform
        best_score = 0.0
        best_node = -1
        found = 0
        for i in range(start, len(tail)):
            n = tail[i] & MASK
            row = free[n]
            for r, x in need:
                if row[r] < x:
                    break
            else:
                if accept is not None and not accept(n):
                    continue
                score = weighted[n]
                if not uniform:
                    ws = weights[n]
                    for r, x in real:
                        score -= x * ws[r]
                if best_node < 0 or score < best_score or (score == best_score and n < best_node):
                    best_score, best_node = score, n
                found += 1
                if found >= limit:
                    break
        if best_node < 0:
            return None
        if uniform:
            best_score = self.score(best_node, need)
        return best_score, best_node, found

    def first(self, a: int, need: Need, accept: Accept) -> int | None:
        """The lowest-numbered node of atom a that fits, or None."""
        nodes = self.layout.nodes[a]
        free = self.free
        for b, top in enumerate(self.block_max[a]):
            if any(top[r] < x for r, x in need):
                continue
            for n in nodes[b * BLOCK : (b + 1) * BLOCK]:
                row = free[n]
                for r, x in need:
                    if row[r] < x:
                        break
                else:
                    if accept is None or accept(n):
                        return n
        return None
