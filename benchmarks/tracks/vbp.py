"""Vector bin packing (Panigrahy et al. classes, d = 3, 5, 10; VPSolver `.vbp` files):
minimise the number of identical bins.

File (whitespace-separated integers): `d`, bin capacities W_1..W_d, the number of item lines m,
then per line the sizes w_1..w_d and a multiplicity q (q copies of that item).

Mapping: one node per bin of an upper bound (first-fit decreasing; any feasible packing proves
its bin count suffices, and it keeps the model far smaller than one bin per item), all with
capacity W and node_open_cost 1; each item copy is a required 1-replica job with demand w, in
file order (the q copies of a line are consecutive jobs). Maximising the engine's objective
minimises the `energy` term, the number of open bins.

Solution file: one bin index per item copy in file order, one per line (-1 = unpacked). Bins are
renumbered 0, 1, ... in order of first use, since bins are identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmarks.tracks import Evaluation, FormatError
from benchmarks.tracks import references as refs
from benchmarks.tracks.intfile import read_ints, where
from benchmarks.tracks.naming import natural_key
from scheduler.placement.model import Problem, Solution

UNPACKED = -1


@dataclass(frozen=True)
class Instance:
    name: str
    capacity: tuple[int, ...]  # [d]
    sizes: tuple[tuple[int, ...], ...]  # [line][d]
    multiplicity: tuple[int, ...]  # [line]

    @property
    def dims(self) -> int:
        return len(self.capacity)

    @property
    def items(self) -> int:
        """Item copies, i.e. jobs."""
        return sum(self.multiplicity)

    def copies(self) -> list[tuple[int, ...]]:
        """Sizes of every item copy in file order."""
        return [s for s, q in zip(self.sizes, self.multiplicity, strict=True) for _ in range(q)]


@dataclass(frozen=True)
class VbpSolution:
    bin: tuple[int, ...]  # [item copy] bin index, UNPACKED if none


def instances(root: Path) -> list[tuple[str, Path]]:
    """File stems (as in Panigrahy_summary_known.tsv) and paths, in natural order."""
    base = root / "vbp"
    found = [(f.stem, f) for f in base.glob("**/*.vbp")] if base.is_dir() else []
    if not found:
        raise FileNotFoundError(f"{base}: no .vbp instances")
    return sorted(found, key=lambda item: natural_key(item[0]))


def references(root: Path) -> dict[str, refs.Reference]:
    return refs.vbp(root)


def load(path: Path, name: str | None = None) -> Instance:
    values = read_ints(path)
    if not values or values[0] < 1:
        raise FormatError(f"{where(path, 0)}: expected the dimension d >= 1")
    d = values[0]
    if len(values) < d + 2:
        raise FormatError(f"{where(path, len(values))}: file ends before the item count")
    capacity = tuple(values[1 : d + 1])
    for k, w in enumerate(capacity):
        if w < 1:
            raise FormatError(f"{where(path, 1 + k)}: bin capacity must be >= 1, found {w}")
    lines = values[d + 1]
    expected = d + 2 + lines * (d + 1)
    if lines < 0 or len(values) != expected:
        raise FormatError(
            f"{path}: d={d}, m={lines} item lines needs {expected} integers, found {len(values)}"
        )
    sizes: list[tuple[int, ...]] = []
    multiplicity: list[int] = []
    for line in range(lines):
        start = d + 2 + line * (d + 1)
        size = tuple(values[start : start + d])
        for k, (w, cap) in enumerate(zip(size, capacity, strict=True)):
            if not 0 <= w <= cap:
                raise FormatError(
                    f"{where(path, start + k)}: item line {line}: size {w} outside 0..{cap} "
                    f"in dimension {k}"
                )
        q = values[start + d]
        if q < 1:
            raise FormatError(f"{where(path, start + d)}: item line {line}: multiplicity {q} < 1")
        sizes.append(size)
        multiplicity.append(q)
    return Instance(
        name=name or path.stem,
        capacity=capacity,
        sizes=tuple(sizes),
        multiplicity=tuple(multiplicity),
    )


def greedy_bins(inst: Instance) -> int:
    """Bins used by first-fit decreasing (items by decreasing sum of capacity shares)."""
    cap = inst.capacity
    order = sorted(inst.copies(), key=lambda s: -sum(w / c for w, c in zip(s, cap, strict=True)))
    free: list[list[int]] = []
    for size in order:
        for room in free:
            if all(w <= r for w, r in zip(size, room, strict=True)):
                break
        else:
            room = list(cap)
            free.append(room)
        for k, w in enumerate(size):
            room[k] -= w
    return len(free)


def to_problem(inst: Instance, bins: int | None = None) -> Problem:
    """`bins` nodes (default: the first-fit-decreasing count)."""
    nodes = greedy_bins(inst) if bins is None else bins
    if nodes < 1:
        raise ValueError(f"bins must be >= 1, got {nodes}")
    copies = inst.copies()
    n = len(copies)
    return Problem(
        resources=tuple(f"dim{k}" for k in range(inst.dims)),
        node_capacity=(inst.capacity,) * nodes,
        node_group=(0,) * nodes,
        group_cost=((0,) * inst.dims,),
        node_sets=(tuple(range(nodes)),),
        job_demand=tuple(copies),
        job_replicas=(1,) * n,
        job_priority=(0,) * n,
        job_order=tuple(range(n)),
        job_nodes=(0,) * n,
        node_open_cost=(1,) * nodes,
        job_required=(True,) * n,
        meta=(("track", "vbp"), ("instance", inst.name)),
    )


def from_solution(inst: Instance, problem: Problem, solution: Solution) -> VbpSolution:
    if len(solution.assignment) != inst.items:
        raise ValueError(f"solution has {len(solution.assignment)} jobs, instance {inst.items}")
    renumber: dict[int, int] = {}
    out = []
    for nodes in solution.assignment:
        out.append(renumber.setdefault(nodes[0], len(renumber)) if nodes else UNPACKED)
    return VbpSolution(bin=tuple(out))


def evaluate(inst: Instance, sol: VbpSolution) -> Evaluation:
    """Feasible iff every item copy is in a bin and no bin exceeds W in any dimension; objective
    is the number of distinct bins used."""
    violations: list[str] = []
    if len(sol.bin) != inst.items:
        violations.append(f"solution lists {len(sol.bin)} items, instance has {inst.items}")
    used: dict[int, list[int]] = {}
    for item, (size, b) in enumerate(zip(inst.copies(), sol.bin, strict=False)):
        if b < 0:
            violations.append(f"item {item}: not packed (got {b})")
            continue
        load = used.setdefault(b, [0] * inst.dims)
        for k, w in enumerate(size):
            load[k] += w
    for b in sorted(used):
        for k, (w, cap) in enumerate(zip(used[b], inst.capacity, strict=True)):
            if w > cap:
                violations.append(f"bin {b}: dimension {k} holds {w} > capacity {cap}")
    return Evaluation(not violations, len(used), violations)


def write_solution(path: Path, inst: Instance, sol: VbpSolution) -> None:
    path.write_text("".join(f"{b}\n" for b in sol.bin))


def read_solution(path: Path, inst: Instance) -> VbpSolution:
    values = read_ints(path)
    if len(values) != inst.items:
        raise FormatError(f"{path}: expected {inst.items} bin indices, found {len(values)}")
    return VbpSolution(bin=tuple(values))
