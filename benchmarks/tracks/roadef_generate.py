"""ROADEF/EURO 2012 instances of any size (up to the B/X sets' 50,000 processes x 5,000 machines)
in the official file format, with a feasible initial assignment that costs a lot.

Sets B and X are public but not shipped with the benchmark data; this writes stand-ins of their
shape so the loader and the engine can be checked at that scale:

    python -m benchmarks.tracks.roadef_generate --processes 50000 --machines 5000 \\
        --resources 12 --services 5000 --seed 1 --out /tmp/roadef-b

writes `model_<name>.txt` and `assignment_<name>.txt` (name default `g<P>x<M>s<seed>`), which
`roadef.load` reads like any challenge file. The same arguments give the same bytes.

Construction (the initial assignment is feasible by design, not by search):
- machines lie in `locations` and `neighborhoods` (contiguous blocks of machines); a machine
  has one of four capacity types; a fifth of them are "hot" and draw five times the processes;
- each service's processes go to distinct machines (conflict), hub services (about 1 %) take
  one process in every neighborhood first; spreadMin is drawn at most the number of locations
  the service reached (spread);
- service s depends on s' only if s' reaches every neighborhood s does (dependency), mostly hubs;
- capacity C is the type's, raised to the initial usage where the hot machines exceed it (so the
  initial assignment fits, and nothing has moved yet, so transient usage fits too); the safety
  capacity SC is 85 % of the type's capacity, so hot machines pay load cost and the cold ones
  have room to take processes: the initial cost is far above what moves can reach;
- machine move costs are one digit per pair of locations (0 on the diagonal), the 25M-value
  matrix is written as bytes straight from numpy.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]

HOT_FRACTION = 0.2
HOT_WEIGHT = 5.0
UTILISATION = 0.6  # mean usage / type capacity over all machines
SAFETY = 0.85  # SC / type capacity
TYPE_SCALE = (0.5, 1.0, 1.5, 2.0)  # capacity types, relative to the mean machine


@dataclass(frozen=True)
class Shape:
    processes: int
    machines: int
    resources: int = 12
    services: int | None = None  # default processes // 10
    transient: int | None = None  # default resources // 3
    locations: int | None = None  # default min(25, max(2, machines // 10))
    neighborhoods: int | None = None  # default min(5, max(1, machines // 20))
    balances: int = 1
    dependencies: int | None = None  # default services
    seed: int = 1

    def resolved(self) -> Shape:
        m, r = self.machines, self.resources
        s = self.services if self.services is not None else max(1, self.processes // 10)
        return Shape(
            processes=self.processes,
            machines=m,
            resources=r,
            services=s,
            transient=self.transient if self.transient is not None else r // 3,
            locations=self.locations if self.locations is not None else min(25, max(2, m // 10), m),
            neighborhoods=self.neighborhoods
            if self.neighborhoods is not None
            else min(5, max(1, m // 20)),
            balances=self.balances,
            dependencies=self.dependencies if self.dependencies is not None else s,
            seed=self.seed,
        )


@dataclass(frozen=True)
class Generated:
    """The instance as arrays (what the files hold)."""

    transient: IntArray  # [R] 0/1
    weight_load: IntArray  # [R]
    neighborhood: IntArray  # [M]
    location: IntArray  # [M]
    capacity: IntArray  # [M, R]
    safety: IntArray  # [M, R]
    move_cost: npt.NDArray[np.uint8]  # [M, M], one digit each
    spread_min: IntArray  # [S]
    depends_on: list[list[int]]  # [S]
    service: IntArray  # [P]
    requirement: IntArray  # [P, R]
    process_move_cost: IntArray  # [P]
    balances: list[tuple[int, int, int, int]]  # r1 r2 target weight
    weights: tuple[int, int, int]  # PMC SMC MMC
    initial: IntArray  # [P]


def _check(shape: Shape) -> None:
    assert shape.services is not None and shape.locations is not None
    assert shape.neighborhoods is not None and shape.transient is not None
    if shape.machines < 1 or shape.processes < 1 or shape.resources < 1:
        raise ValueError("processes, machines and resources must be >= 1")
    if not 1 <= shape.services <= shape.processes:
        raise ValueError("services must be 1..processes")
    if shape.processes > shape.services * shape.machines:
        raise ValueError("more processes than services x machines: conflict makes it infeasible")
    if not 1 <= shape.locations <= shape.machines or not 1 <= shape.neighborhoods <= shape.machines:
        raise ValueError("locations and neighborhoods must be 1..machines")
    if not 0 <= shape.transient <= shape.resources:
        raise ValueError("transient must be 0..resources")
    if shape.balances and shape.resources < 2:
        raise ValueError("balances need >= 2 resources")


def _service_sizes(rng: np.random.Generator, shape: Shape, hubs: int) -> IntArray:
    """Sizes >= 1 summing to P, each <= M, hubs (the first `hubs`) >= neighborhoods when P
    allows; a heavy tail like the challenge's (most services small, a few large)."""
    n_serv, n_proc, n_mach = shape.services, shape.processes, shape.machines
    assert n_serv is not None and shape.neighborhoods is not None
    floor = np.ones(n_serv, dtype=np.int64)
    hub_size = min(n_mach, 2 * shape.neighborhoods)
    if hubs and n_serv + hubs * (hub_size - 1) <= n_proc:
        floor[:hubs] = hub_size
    weight = rng.pareto(1.5, n_serv) + 0.1
    sizes = floor + rng.multinomial(n_proc - int(floor.sum()), weight / weight.sum())
    # Clip to M (conflict), handing the excess to services with room.
    while (over := sizes > n_mach).any():
        excess = int((sizes[over] - n_mach).sum())
        sizes[over] = n_mach
        room = np.flatnonzero(sizes < n_mach)
        add = rng.multinomial(excess, np.full(room.size, 1.0 / room.size))
        sizes[room] += add
    return sizes


def generate(shape: Shape) -> Generated:
    shape = shape.resolved()
    _check(shape)
    assert shape.services is not None and shape.locations is not None
    assert shape.neighborhoods is not None and shape.transient is not None
    assert shape.dependencies is not None
    rng = np.random.default_rng(shape.seed)
    n_proc, n_mach, n_res, n_serv = shape.processes, shape.machines, shape.resources, shape.services
    n_nb = shape.neighborhoods

    transient = np.zeros(n_res, dtype=np.int64)
    transient[rng.choice(n_res, shape.transient, replace=False)] = 1
    weight_load = rng.choice(np.array([1, 10, 10, 100]), n_res).astype(np.int64)

    # Neighborhoods are contiguous blocks of machines, locations interleave through them.
    neighborhood = (np.arange(n_mach) * n_nb // n_mach).astype(np.int64)
    location = rng.permutation(np.arange(n_mach) % shape.locations).astype(np.int64)
    machine_type = rng.integers(0, len(TYPE_SCALE), n_mach)
    hot = rng.random(n_mach) < HOT_FRACTION
    pull = np.where(hot, HOT_WEIGHT, 1.0)

    # Processes: services, requirements (heavy-tailed, some zero), move costs.
    hubs = max(1, n_serv // 100) if n_nb > 1 else 0
    sizes = _service_sizes(rng, shape, hubs)
    service = np.repeat(np.arange(n_serv, dtype=np.int64), sizes)
    scale = rng.integers(1_000, 100_000, n_res)
    requirement = np.rint(rng.lognormal(0.0, 1.0, (n_proc, n_res)) * scale).astype(np.int64)
    requirement[rng.random((n_proc, n_res)) < 0.15] = 0
    requirement[:, 0] = np.maximum(requirement[:, 0], 1)
    process_move_cost = rng.choice(np.array([0, 1, 1, 1, 10, 100]), n_proc).astype(np.int64)

    # Initial assignment: each service on distinct machines, hot machines favoured, hubs first
    # cover every neighborhood. Gumbel top-k = weighted sampling without replacement.
    initial = np.empty(n_proc, dtype=np.int64)
    log_pull = np.log(pull)
    starts = np.concatenate(([0], np.cumsum(sizes)))
    nb_first = np.searchsorted(neighborhood, np.arange(n_nb))
    nb_count = np.bincount(neighborhood, minlength=n_nb)
    for s in range(n_serv):
        k = int(sizes[s])
        key = log_pull + rng.gumbel(size=n_mach)
        if s < hubs and k >= n_nb:
            # One machine per neighborhood (a random one of it), the rest by weight.
            fixed = nb_first + (rng.random(n_nb) * nb_count).astype(np.int64)
            key[fixed] = np.inf
        initial[starts[s] : starts[s + 1]] = np.argpartition(-key, k - 1)[:k]

    usage = np.zeros((n_mach, n_res), dtype=np.int64)
    np.add.at(usage, initial, requirement)
    mean = np.maximum(usage.sum(axis=0) / n_mach / UTILISATION, 1.0)
    base = np.rint(np.asarray(TYPE_SCALE)[machine_type, None] * mean[None, :]).astype(np.int64)
    capacity = np.maximum(base, usage)
    safety = np.minimum((base * SAFETY).astype(np.int64), capacity)

    # Services: spread within the locations reached; dependencies on services covering every
    # neighborhood the dependent one reaches.
    m_loc = location[initial]
    reached_loc = np.zeros((n_serv, shape.locations), dtype=bool)
    reached_loc[service, m_loc] = True
    n_loc = reached_loc.sum(axis=1)
    spread_min = np.where(
        rng.random(n_serv) < 0.5, np.minimum(n_loc, rng.integers(1, 4, n_serv)), 0
    )
    covers = np.zeros((n_serv, n_nb), dtype=bool)
    covers[service, neighborhood[initial]] = True
    depends_on: list[list[int]] = [[] for _ in range(n_serv)]
    full = np.flatnonzero(covers.all(axis=1))
    for s in rng.choice(n_serv, min(shape.dependencies, n_serv), replace=False):
        if rng.random() < 0.8 and full.size:
            pool = full
        else:
            pool = np.flatnonzero(covers[:, covers[s]].all(axis=1))
        choices = pool[pool != s]
        if choices.size:
            k = min(int(rng.integers(1, 3)), choices.size)
            depends_on[int(s)] = sorted(int(d) for d in rng.choice(choices, k, replace=False))

    # Machine move costs: one digit per (location, location), 0 on the machine diagonal.
    by_loc = rng.integers(1, 10, (shape.locations, shape.locations)).astype(np.uint8)
    by_loc = np.minimum(by_loc, by_loc.T)
    np.fill_diagonal(by_loc, rng.integers(0, 2, shape.locations).astype(np.uint8))
    move_cost = by_loc[location[:, None], location[None, :]]
    np.fill_diagonal(move_cost, 0)

    balances = []
    for _ in range(shape.balances):
        r1, r2 = (int(r) for r in rng.choice(n_res, 2, replace=False))
        balances.append((r1, r2, int(rng.integers(1, 4)), 10))
    return Generated(
        transient=transient,
        weight_load=weight_load,
        neighborhood=neighborhood,
        location=location,
        capacity=capacity,
        safety=safety,
        move_cost=move_cost,
        spread_min=spread_min.astype(np.int64),
        depends_on=depends_on,
        service=service,
        requirement=requirement,
        process_move_cost=process_move_cost,
        balances=balances,
        weights=(1, 10, 100),
        initial=initial,
    )


def _lines(rows: npt.NDArray[np.int64]) -> str:
    return "".join(" ".join(map(str, row)) + "\n" for row in rows.tolist())


def write(gen: Generated, out: Path, name: str) -> tuple[Path, Path]:
    """model_<name>.txt and assignment_<name>.txt under out (created)."""
    out.mkdir(parents=True, exist_ok=True)
    model, assignment = out / f"model_{name}.txt", out / f"assignment_{name}.txt"
    n_mach, n_res = gen.capacity.shape
    with model.open("wb") as f:
        f.write(f"{n_res}\n".encode())
        f.write(_lines(np.stack([gen.transient, gen.weight_load], axis=1)).encode())
        f.write(f"{n_mach}\n".encode())
        head = np.column_stack([gen.neighborhood, gen.location, gen.capacity, gen.safety])
        heads = [(" ".join(map(str, row)) + " ").encode() for row in head.tolist()]
        # Each MMC row as ASCII: digit, space, ..., digit, newline.
        text = np.empty((n_mach, 2 * n_mach), dtype=np.uint8)
        text[:, 0::2] = gen.move_cost + ord("0")
        text[:, 1::2] = ord(" ")
        text[:, -1] = ord("\n")
        for m in range(n_mach):
            f.write(heads[m])
            f.write(text[m].tobytes())
        del text
        parts = [f"{len(gen.spread_min)}\n"]
        parts += [
            " ".join(map(str, (int(spread), len(deps), *deps))) + "\n"
            for spread, deps in zip(gen.spread_min.tolist(), gen.depends_on, strict=True)
        ]
        parts.append(f"{len(gen.service)}\n")
        parts.append(_lines(np.column_stack([gen.service, gen.requirement, gen.process_move_cost])))
        parts.append(f"{len(gen.balances)}\n")
        parts += [f"{r1} {r2} {target}\n{weight}\n" for r1, r2, target, weight in gen.balances]
        parts.append(" ".join(map(str, gen.weights)) + "\n")
        f.write("".join(parts).encode())
    assignment.write_text(" ".join(map(str, gen.initial.tolist())) + "\n")
    return model, assignment


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.tracks.roadef_generate", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--processes", type=int, required=True)
    ap.add_argument("--machines", type=int, required=True)
    ap.add_argument("--resources", type=int, default=12)
    ap.add_argument("--services", type=int, help="default processes // 10")
    ap.add_argument("--transient", type=int, help="transient resources, default resources // 3")
    ap.add_argument("--locations", type=int, help="default min(25, max(2, machines // 10))")
    ap.add_argument("--neighborhoods", type=int, help="default min(5, max(1, machines // 20))")
    ap.add_argument("--balances", type=int, default=1)
    ap.add_argument("--dependencies", type=int, help="services with dependencies, default all")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--name", help="default g<processes>x<machines>s<seed>")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    shape = Shape(
        processes=a.processes,
        machines=a.machines,
        resources=a.resources,
        services=a.services,
        transient=a.transient,
        locations=a.locations,
        neighborhoods=a.neighborhoods,
        balances=a.balances,
        dependencies=a.dependencies,
        seed=a.seed,
    )
    try:
        gen = generate(shape)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    model, assignment = write(gen, a.out, a.name or f"g{a.processes}x{a.machines}s{a.seed}")
    print(model)
    print(assignment)
    return 0


if __name__ == "__main__":
    sys.exit(main())
