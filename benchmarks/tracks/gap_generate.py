"""Generalized Assignment Problem instances of the published types A-E at any size, seeded.

The OR-Library files (`../shared/benchdata/gap`) stop at 20 agents x 200 jobs; the larger and
tighter instances the literature reports on (up to 80 x 1,600, types C, D and E) come from
published generators, reproduced here (integers, minimisation, every job assigned):

    type A  r_ij ~ U{5..25}, c_ij ~ U{10..50},
            b_i = floor(9 n/m + 0.4 max_i sum_{j: i = best(j)} r_ij), best(j) the agent of least
            cost for job j (lowest index on ties)
    type B  r, c as A; b_i = floor(0.7 b_i(A))
    type C  r, c as A; b_i = floor(0.8 sum_j r_ij / m)
    type D  r_ij ~ U{1..100}, c_ij = 111 - r_ij + e_ij, e_ij ~ U{-10..10};
            b_i = floor(0.8 sum_j r_ij / m)   (cost inversely correlated with demand)
    type E  r_ij = floor(1 - 10 ln x_ij), c_ij = max(0, floor(1000 / r_ij - 10 y_ij)),
            x, y ~ U(0, 1]; b_i = floor(0.8 sum_j r_ij / m)

Sources: types A-D, P.C. Chu and J.E. Beasley, "A genetic algorithm for the generalized
assignment problem", Computers & Operations Research 24 (1997) 17-23 (OR-Library); type E,
M. Laguna, J.P. Kelly, J.L. Gonzalez-Velarde and F. Glover, "Tabu search for the multilevel
generalized assignment problem", EJOR 82 (1995) 176-189, as used by M. Yagiura, T. Ibaraki and
F. Glover, "An ejection chain approach for the generalized assignment problem", INFORMS Journal
on Computing 16 (2004) 133-151, whose instance page (Yagiura's GAP instances, Nagoya University)
holds the published C/D/E files up to 80 x 1,600. The capacity rules and value ranges of A-D
were checked against the chu1997 files in the benchmark data (e.g. a05100: b = 342 =
floor(342.4); b05100: 209 = floor(0.7 x 299.6); c05100 and d05100: b_i = floor(0.8 sum r / m)
agent by agent). The floors and the clamp at 0 (E's cost may dip below 0 when r_ij > 100, which
the OR-Library format cannot hold) are this module's choice; the random streams are numpy's, so
the instances are of the published kind, not the published files.

    python -m benchmarks.tracks.gap_generate --type e --agents 80 --jobs 1600 --seed 1 \\
        --out /tmp/gapgen

writes `e80x1600s1` in the OR-Library format that `gap.load` reads. The same arguments give the
same bytes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from benchmarks.tracks.gap import Instance

TYPES = ("a", "b", "c", "d", "e")
IntArray = npt.NDArray[np.int64]
_TYPE_SALT = {t: k for k, t in enumerate(TYPES)}


def name(kind: str, agents: int, jobs: int, seed: int) -> str:
    """`<type><m>x<n>s<seed>`, e.g. `e80x1600s1`."""
    return f"{kind}{agents}x{jobs}s{seed}"


def generate(kind: str, agents: int, jobs: int, seed: int) -> Instance:
    """One instance of type `kind` (a-e) with `agents` x `jobs`; the same arguments, the same
    instance (numpy's PCG64 seeded with the type, size and seed)."""
    kind = kind.lower()
    if kind not in TYPES:
        raise ValueError(f"type must be one of {', '.join(TYPES)}, got {kind[:10]!r}")
    if agents < 1 or jobs < 1:
        raise ValueError(f"agents and jobs must be >= 1, got agents={agents} jobs={jobs}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    rng = np.random.default_rng([seed, agents, jobs, _TYPE_SALT[kind]])
    shape = (agents, jobs)
    if kind in "abc":
        weight = rng.integers(5, 26, size=shape)
        cost = rng.integers(10, 51, size=shape)
    elif kind == "d":
        weight = rng.integers(1, 101, size=shape)
        cost = 111 - weight + rng.integers(-10, 11, size=shape)
    else:
        # 1 - random() lies in (0, 1]: the log is finite.
        x = 1.0 - rng.random(size=shape)
        y = 1.0 - rng.random(size=shape)
        weight = np.floor(1 - 10 * np.log(x)).astype(np.int64)
        cost = np.maximum(0, np.floor(1000 / weight - 10 * y)).astype(np.int64)
    capacity = _capacity(kind, weight, cost)
    return Instance(
        name=name(kind, agents, jobs, seed),
        cost=_rows(cost),
        weight=_rows(weight),
        capacity=tuple(int(b) for b in capacity),
    )


def _capacity(kind: str, weight: IntArray, cost: IntArray) -> IntArray:
    agents, jobs = weight.shape
    if kind in "cde":
        share: IntArray = np.floor(0.8 * weight.sum(axis=1) / agents).astype(np.int64)
        return share
    # A and B: the load each agent gets when every job goes to its cheapest agent.
    best = np.argmin(cost, axis=0)  # the first minimum: lowest index on ties
    loads = np.zeros(agents, dtype=np.int64)
    np.add.at(loads, best, weight[best, np.arange(jobs)])
    a = np.floor(9 * jobs / agents + 0.4 * loads.max())
    b = np.floor(0.7 * a) if kind == "b" else a
    return np.full(agents, b, dtype=np.int64)


def _rows(matrix: IntArray) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(int(v) for v in row) for row in matrix.tolist())


def write(path: Path, inst: Instance) -> None:
    """The OR-Library format (`gap.load`): `m n`, the cost rows, the demand rows, capacities."""
    lines = [f"{inst.agents} {inst.jobs}"]
    lines += [" ".join(map(str, row)) for row in inst.cost]
    lines += [" ".join(map(str, row)) for row in inst.weight]
    lines.append(" ".join(map(str, inst.capacity)))
    path.write_text("\n".join(lines) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.tracks.gap_generate",
        description="Write a GAP instance of type A-E in the OR-Library format.",
    )
    ap.add_argument("--type", choices=TYPES, required=True)
    ap.add_argument("--agents", type=int, required=True)
    ap.add_argument("--jobs", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("."), help="folder (created)")
    a = ap.parse_args(argv)
    try:
        inst = generate(a.type, a.agents, a.jobs, a.seed)
    except ValueError as e:
        ap.error(str(e))
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / inst.name
    write(path, inst)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
