"""Generalized Assignment Problem (OR-Library gap1-12; Chu & Beasley types a-d), minimisation.

File (whitespace-separated integers): `m n`, costs c[i][j] (m rows of n), demands w[i][j]
(m rows of n), capacities b[i] (m). Every job j goes to exactly one agent i; per agent the sum of
w[i][j] is at most b[i]; minimise the sum of c[i][j].

Mapping: agents are nodes (node_type = agent index, one group, one resource "capacity" with
capacity b[i]); jobs are required 1-replica jobs with one Override per (job, agent) carrying
demand (w[i][j],) and cost c[i][j]; their default demand is min_i w[i][j], which no agent ever
sees (every pair has an override) but keeps bounds that ignore overrides valid. Maximising the
engine's objective minimises the summed override costs (the `money` term).

Solution file: one agent index per job, in job order, one per line (-1 = unassigned).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmarks.tracks import Evaluation, FormatError
from benchmarks.tracks import references as refs
from benchmarks.tracks.intfile import read_ints, where
from benchmarks.tracks.naming import natural_key
from scheduler.placement.model import Override, Problem, Solution

UNASSIGNED = -1


@dataclass(frozen=True)
class Instance:
    name: str
    cost: tuple[tuple[int, ...], ...]  # [m][n]
    weight: tuple[tuple[int, ...], ...]  # [m][n]
    capacity: tuple[int, ...]  # [m]

    @property
    def agents(self) -> int:
        return len(self.capacity)

    @property
    def jobs(self) -> int:
        return len(self.cost[0]) if self.cost else 0


@dataclass(frozen=True)
class GapSolution:
    agent: tuple[int, ...]  # [n] agent of each job, UNASSIGNED if none


def instances(root: Path) -> list[tuple[str, Path]]:
    """`dataset/file` names (as in best_known.csv) and paths, in natural order."""
    base = root / "gap"
    found: list[tuple[str, Path]] = []
    if base.is_dir():
        for folder in base.iterdir():
            if folder.is_dir():
                found.extend(
                    (f"{folder.name}/{f.name}", f) for f in folder.iterdir() if f.is_file()
                )
    if not found:
        raise FileNotFoundError(f"{base}: no GAP instances")
    return sorted(found, key=lambda item: natural_key(item[0]))


def references(root: Path) -> dict[str, refs.Reference]:
    return refs.gap(root)


def load(path: Path, name: str | None = None) -> Instance:
    values = read_ints(path)
    if len(values) < 2:
        raise FormatError(f"{where(path, len(values))}: expected the header `m n`")
    m, n = values[0], values[1]
    if m < 1 or n < 1:
        raise FormatError(f"{where(path, 0)}: m and n must be >= 1, found m={m} n={n}")
    expected = 2 + 2 * m * n + m
    if len(values) != expected:
        raise FormatError(
            f"{path}: m={m}, n={n} needs 2 + 2*m*n + m = {expected} integers, found {len(values)}"
        )
    negative = next((k for k in range(2, expected) if values[k] < 0), None)
    if negative is not None:
        raise FormatError(f"{where(path, negative)}: negative value {values[negative]}")
    mn = m * n
    cost = tuple(tuple(values[2 + i * n : 2 + (i + 1) * n]) for i in range(m))
    weight = tuple(tuple(values[2 + mn + i * n : 2 + mn + (i + 1) * n]) for i in range(m))
    capacity = tuple(values[2 + 2 * mn :])
    return Instance(name=name or path.name, cost=cost, weight=weight, capacity=capacity)


def to_problem(inst: Instance) -> Problem:
    m, n = inst.agents, inst.jobs
    overrides = tuple(
        Override(job=j, node_type=i, demand=(inst.weight[i][j],), cost=inst.cost[i][j])
        for j in range(n)
        for i in range(m)
    )
    return Problem(
        resources=("capacity",),
        node_capacity=tuple((b,) for b in inst.capacity),
        node_group=(0,) * m,
        group_cost=((0,),),
        node_sets=(tuple(range(m)),),
        job_demand=tuple((min(inst.weight[i][j] for i in range(m)),) for j in range(n)),
        job_replicas=(1,) * n,
        job_priority=(0,) * n,
        job_order=tuple(range(n)),
        job_nodes=(0,) * n,
        node_type=tuple(range(m)),
        overrides=overrides,
        job_required=(True,) * n,
        node_names=tuple(f"agent{i}" for i in range(m)),
        job_names=tuple(f"job{j}" for j in range(n)),
        meta=(("track", "gap"), ("instance", inst.name)),
    )


def from_solution(inst: Instance, problem: Problem, solution: Solution) -> GapSolution:
    """Nodes are agents one to one, so the agent of a job is its replica's node."""
    if len(solution.assignment) != inst.jobs:
        raise ValueError(f"solution has {len(solution.assignment)} jobs, instance {inst.jobs}")
    return GapSolution(
        agent=tuple(nodes[0] if nodes else UNASSIGNED for nodes in solution.assignment)
    )


def evaluate(inst: Instance, sol: GapSolution) -> Evaluation:
    """Feasible iff every job has exactly one agent and no agent exceeds b[i]; objective is the
    total cost of the assigned jobs."""
    violations: list[str] = []
    if len(sol.agent) != inst.jobs:
        violations.append(f"solution lists {len(sol.agent)} jobs, instance has {inst.jobs}")
    load = [0] * inst.agents
    total = 0
    for j, i in enumerate(sol.agent[: inst.jobs]):
        if not 0 <= i < inst.agents:
            violations.append(f"job {j}: no agent (got {i})")
            continue
        load[i] += inst.weight[i][j]
        total += inst.cost[i][j]
    for i, used in enumerate(load):
        if used > inst.capacity[i]:
            violations.append(f"agent {i}: load {used} > capacity {inst.capacity[i]}")
    return Evaluation(not violations, total, violations)


def write_solution(path: Path, inst: Instance, sol: GapSolution) -> None:
    path.write_text("".join(f"{i}\n" for i in sol.agent))


def read_solution(path: Path, inst: Instance) -> GapSolution:
    values = read_ints(path)
    if len(values) != inst.jobs:
        raise FormatError(f"{path}: expected {inst.jobs} agent indices, found {len(values)}")
    return GapSolution(agent=tuple(values))
