"""ROADEF/EURO Challenge 2012, Google machine reassignment, as the official statement defines it
(problem_definition_v1.pdf, section 1: constraints 1.2.1-1.2.5, objective 1.3.1-1.3.6).

Hard: capacity U(m,r) <= C(m,r); conflict (a service's processes on distinct machines); spread
(a service covers >= spreadMin locations); dependency (if s depends on s', every process of s has
a process of s' in its neighborhood); transient usage (for r in TR, the processes whose original
OR current machine is m fit C(m,r)).
Cost: sum_r wLoad(r) * sum_m max(0, U-SC) + sum_b wBal(b) * sum_m max(0, target*A(m,r1) - A(m,r2))
with A = C - U, + wPMC * sum of PMC(p) over moved p + wSMC * max over services of moved processes
+ wMMC * sum_p MMC(M0(p), M(p)).

Files: `model_*.txt` is one stream of integers (layout in `load`), `assignment_*.txt` the
initial assignment; a solution file has the assignment's form (one machine index per process).
Sets B and X (50,000 processes x 5,000 machines) load unchanged: the stream is parsed a chunk
at a time and the 25M machine-move costs stay in one compact array (`CompactRows`).

Mapping (to_problem): machines are nodes with node_domains (location, neighborhood) under
domain_keys ("location", "neighborhood"), capacity C, node_safety SC, load_weight wLoad,
transient TR, balances (r1, r2, target, wBal), node_move_cost = MMC * wMMC; processes are
required 1-replica jobs, job_current = (M0(p),), job_move_cost = PMC(p) * wPMC; services are
Services (anti_affinity, spread over "location", depends_on with affinity "neighborhood") in file
order, service_move_weight = wSMC. With unit ObjectiveWeights the engine's costs equal the total
cost above; maximising its objective minimises the ROADEF cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmarks.tracks import Evaluation, FormatError
from benchmarks.tracks import references as refs
from benchmarks.tracks.intfile import CompactRows, IntStream, RowsBuilder, read_ints, where
from benchmarks.tracks.naming import natural_key
from scheduler.placement.model import Balance, Problem, Service, Solution

LOCATION, NEIGHBORHOOD = 0, 1
DOMAIN_KEYS = ("location", "neighborhood")


@dataclass(frozen=True)
class RoadefBalance:
    r1: int
    r2: int
    target: int
    weight: int


@dataclass(frozen=True)
class Instance:
    name: str
    transient: tuple[bool, ...]  # [R]
    weight_load: tuple[int, ...]  # [R]
    neighborhood: tuple[int, ...]  # [M]
    location: tuple[int, ...]  # [M]
    capacity: tuple[tuple[int, ...], ...]  # [M][R]
    safety: tuple[tuple[int, ...], ...]  # [M][R]
    move_cost: CompactRows  # [M][M] MMC
    spread_min: tuple[int, ...]  # [S]
    depends_on: tuple[tuple[int, ...], ...]  # [S]
    service: tuple[int, ...]  # [P]
    requirement: tuple[tuple[int, ...], ...]  # [P][R]
    process_move_cost: tuple[int, ...]  # [P] PMC
    balances: tuple[RoadefBalance, ...]
    weight_process_move: int
    weight_service_move: int
    weight_machine_move: int
    initial: tuple[int, ...]  # [P] M0

    @property
    def resources(self) -> int:
        return len(self.transient)

    @property
    def machines(self) -> int:
        return len(self.location)

    @property
    def services(self) -> int:
        return len(self.spread_min)

    @property
    def processes(self) -> int:
        return len(self.service)

    def members(self) -> list[list[int]]:
        """Processes of each service."""
        out: list[list[int]] = [[] for _ in range(self.services)]
        for p, s in enumerate(self.service):
            out[s].append(p)
        return out


@dataclass(frozen=True)
class RoadefSolution:
    machine: tuple[int, ...]  # [P], -1 if the engine left a process unplaced


@dataclass(frozen=True)
class Costs:
    """The objective's parts, each already multiplied by its weight."""

    load: tuple[int, ...]  # [R] wLoad(r) * loadCost(r)
    balance: tuple[int, ...]  # [B] wBal(b) * balanceCost(b)
    process_move: int
    service_move: int
    machine_move: int

    @property
    def total(self) -> int:
        return (
            sum(self.load)
            + sum(self.balance)
            + self.process_move
            + self.service_move
            + self.machine_move
        )


def instances(root: Path) -> list[tuple[str, Path]]:
    """Names like `a1_1` (from model_a1_1.txt) and model paths of every set present (A, B, X)."""
    base = root / "roadef2012"
    found = [(f.stem.removeprefix("model_"), f) for f in base.glob("*/model_*.txt")]
    if not found:
        raise FileNotFoundError(f"{base}: no model_*.txt instances")
    return sorted(found, key=lambda item: natural_key(item[0]))


def references(root: Path) -> dict[str, refs.Reference]:
    return refs.roadef(root)


def _take(s: IntStream, n: int, what: str, low: int = 0, high: int | None = None) -> list[int]:
    """The next n integers, each within low..high (FormatError naming the first outside)."""
    start = s.position
    values = s.take(n, what)
    # min/max run in C; the per-value scan only happens to name the offender.
    if values and (min(values) < low or (high is not None and max(values) > high)):
        k, v = next(
            (k, v) for k, v in enumerate(values) if v < low or (high is not None and v > high)
        )
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise FormatError(f"{where(s.path, start + k)}: {what} must be {bound}, found {v}")
    return values


def load(path: Path, assignment: Path | None = None, name: str | None = None) -> Instance:
    """Read a model file and its initial assignment (default: assignment_X.txt beside
    model_X.txt). Layout, 0-based indices:

        |R| then per resource: isTransient weightLoadCost
        |M| then per machine:  neighborhood location C(m,0..R-1) SC(m,0..R-1) MMC(m,0..M-1)
        |S| then per service:  spreadMin k dep_1..dep_k
        |P| then per process:  service R(p,0..R-1) PMC(p)
        |B| then per balance:  r1 r2 target weightBalanceCost
        weightPMC weightSMC weightMMC
    """
    if assignment is None:
        assignment = path.with_name(path.name.replace("model_", "assignment_", 1))
        if assignment == path:
            raise FormatError(f"{path}: name the initial assignment file (no model_ prefix)")
    with IntStream(path) as s:
        (n_res,) = _take(s, 1, "the number of resources", low=1)
        transient, weight_load = [], []
        for r in range(n_res):
            (flag,) = _take(s, 1, f"resource {r}: isTransient", high=1)
            transient.append(flag == 1)
            weight_load.extend(_take(s, 1, f"resource {r}: weightLoadCost"))
        (n_mach,) = _take(s, 1, "the number of machines", low=1)
        neighborhood, location, capacity, safety = [], [], [], []
        mmc = RowsBuilder()
        for m in range(n_mach):
            head = _take(s, 2 + 2 * n_res, f"machine {m}: neighborhood, location, C, SC")
            neighborhood.append(head[0])
            location.append(head[1])
            capacity.append(tuple(head[2 : 2 + n_res]))
            safety.append(tuple(head[2 + n_res :]))
            # The bulk of a B/X file: one range check, in RowsBuilder.add, not two.
            row = s.take_row(n_mach, f"machine {m}: MMC")
            try:
                mmc.add(row)
            except ValueError as exc:
                k = next(k for k, v in enumerate(row) if not 0 <= v < 1 << 63)
                raise FormatError(f"{where(path, s.position - n_mach + k)}: MMC: {exc}") from None
            if row[m] != 0:
                index = s.position - n_mach + m
                raise FormatError(f"{where(path, index)}: MMC({m},{m}) must be 0, found {row[m]}")
        (n_serv,) = _take(s, 1, "the number of services")
        spread_min, depends = [], []
        for sv in range(n_serv):
            spread, k = _take(s, 2, f"service {sv}: spreadMin and dependency count")
            spread_min.append(spread)
            depends.append(tuple(_take(s, k, f"service {sv}: dependency", high=n_serv - 1)))
        (n_proc,) = _take(s, 1, "the number of processes")
        service, requirement, pmc = [], [], []
        for p in range(n_proc):
            service.extend(_take(s, 1, f"process {p}: service", high=n_serv - 1))
            rec = _take(s, 1 + n_res, f"process {p}: requirements and PMC")
            requirement.append(tuple(rec[:n_res]))
            pmc.append(rec[n_res])
        (n_bal,) = _take(s, 1, "the number of balance costs")
        balances = []
        for b in range(n_bal):
            r1, r2 = _take(s, 2, f"balance {b}: resource", high=n_res - 1)
            target, weight = _take(s, 2, f"balance {b}: target and weight")
            balances.append(RoadefBalance(r1, r2, target, weight))
        weights = _take(s, 3, "weightPMC weightSMC weightMMC")
        if not s.at_end():
            raise FormatError(f"{where(path, s.position)}: unexpected data after the weights")
    initial = read_ints(assignment)
    if len(initial) != n_proc:
        raise FormatError(f"{assignment}: expected {n_proc} machine indices, found {len(initial)}")
    bad = next((p for p, m in enumerate(initial) if not 0 <= m < n_mach), None)
    if bad is not None:
        raise FormatError(
            f"{where(assignment, bad)}: machine {initial[bad]} out of 0..{n_mach - 1}"
        )
    return Instance(
        name=name or path.stem.removeprefix("model_"),
        transient=tuple(transient),
        weight_load=tuple(weight_load),
        neighborhood=tuple(neighborhood),
        location=tuple(location),
        capacity=tuple(capacity),
        safety=tuple(safety),
        move_cost=mmc.build(n_mach),
        spread_min=tuple(spread_min),
        depends_on=tuple(depends),
        service=tuple(service),
        requirement=tuple(requirement),
        process_move_cost=tuple(pmc),
        balances=tuple(balances),
        weight_process_move=weights[0],
        weight_service_move=weights[1],
        weight_machine_move=weights[2],
        initial=tuple(initial),
    )


def to_problem(inst: Instance) -> Problem:
    n_proc, n_mach, n_res = inst.processes, inst.machines, inst.resources
    services = tuple(
        Service(
            jobs=tuple(members),
            anti_affinity=True,
            spread_key=LOCATION if inst.spread_min[s] > 0 else -1,
            spread_min=inst.spread_min[s],
            depends_on=inst.depends_on[s],
            affinity_key=NEIGHBORHOOD if inst.depends_on[s] else -1,
        )
        for s, members in enumerate(inst.members())
    )
    return Problem(
        resources=tuple(f"r{r}" for r in range(n_res)),
        node_capacity=inst.capacity,
        node_group=(0,) * n_mach,
        group_cost=((0,) * n_res,),
        node_sets=(tuple(range(n_mach)),),
        job_demand=inst.requirement,
        job_replicas=(1,) * n_proc,
        job_priority=(0,) * n_proc,
        job_order=tuple(range(n_proc)),
        job_nodes=(0,) * n_proc,
        node_domains=tuple(zip(inst.location, inst.neighborhood, strict=True)),
        domain_keys=DOMAIN_KEYS,
        node_safety=inst.safety,
        load_weight=inst.weight_load,
        transient=inst.transient,
        node_move_cost=inst.move_cost.scaled(inst.weight_machine_move),
        balances=tuple(Balance(b.r1, b.r2, b.target, b.weight) for b in inst.balances),
        job_required=(True,) * n_proc,
        job_current=tuple((m,) for m in inst.initial),
        job_move_cost=tuple(c * inst.weight_process_move for c in inst.process_move_cost),
        services=services,
        service_move_weight=inst.weight_service_move,
        node_names=tuple(f"m{m}" for m in range(n_mach)),
        job_names=tuple(f"p{p}" for p in range(n_proc)),
        meta=(("track", "roadef"), ("instance", inst.name)),
    )


def from_solution(inst: Instance, problem: Problem, solution: Solution) -> RoadefSolution:
    if len(solution.assignment) != inst.processes:
        raise ValueError(f"solution has {len(solution.assignment)} jobs, instance {inst.processes}")
    return RoadefSolution(machine=tuple(n[0] if n else -1 for n in solution.assignment))


def costs(inst: Instance, sol: RoadefSolution) -> Costs:
    """The weighted cost terms of section 1.3 (processes on invalid machines are ignored)."""
    usage = _usage(inst, sol.machine)
    load = tuple(
        inst.weight_load[r]
        * sum(max(0, usage[m][r] - inst.safety[m][r]) for m in range(inst.machines))
        for r in range(inst.resources)
    )
    balance = tuple(
        b.weight
        * sum(
            max(
                0,
                b.target * (inst.capacity[m][b.r1] - usage[m][b.r1])
                - (inst.capacity[m][b.r2] - usage[m][b.r2]),
            )
            for m in range(inst.machines)
        )
        for b in inst.balances
    )
    moved = [
        p
        for p, (m0, m) in enumerate(zip(inst.initial, sol.machine, strict=True))
        if m != m0 and 0 <= m < inst.machines
    ]
    per_service = [0] * inst.services
    for p in moved:
        per_service[inst.service[p]] += 1
    # MMC(m, m) = 0 (checked on load), so summing over moved processes is the sum over all.
    mmc = inst.move_cost
    return Costs(
        load=load,
        balance=balance,
        process_move=inst.weight_process_move * sum(inst.process_move_cost[p] for p in moved),
        service_move=inst.weight_service_move * max(per_service, default=0),
        machine_move=inst.weight_machine_move
        * sum(mmc[inst.initial[p]][sol.machine[p]] for p in moved),
    )


def _usage(inst: Instance, machine: tuple[int, ...]) -> list[list[int]]:
    usage = [[0] * inst.resources for _ in range(inst.machines)]
    for p, m in enumerate(machine):
        if 0 <= m < inst.machines:
            row = usage[m]
            for r, need in enumerate(inst.requirement[p]):
                row[r] += need
    return usage


def evaluate(inst: Instance, sol: RoadefSolution) -> Evaluation:
    """Feasibility under 1.2.1-1.2.5 and the total cost of 1.3.6."""
    if len(sol.machine) != inst.processes:
        msg = f"solution lists {len(sol.machine)} processes, instance has {inst.processes}"
        return Evaluation(False, 0, [msg])
    violations = [
        f"process {p}: machine {m} out of 0..{inst.machines - 1}"
        for p, m in enumerate(sol.machine)
        if not 0 <= m < inst.machines
    ]
    violations += _capacity_violations(inst, sol.machine)
    violations += _service_violations(inst, sol.machine)
    return Evaluation(not violations, costs(inst, sol).total, violations)


def _capacity_violations(inst: Instance, machine: tuple[int, ...]) -> list[str]:
    usage = _usage(inst, machine)
    out = []
    # Transient usage: a moved process still holds transient resources on its original machine.
    transient = [r for r in range(inst.resources) if inst.transient[r]]
    held = [[0] * inst.resources for _ in range(inst.machines)]
    for p, (m0, m) in enumerate(zip(inst.initial, machine, strict=True)):
        if m != m0:
            for r in transient:
                held[m0][r] += inst.requirement[p][r]
    for m in range(inst.machines):
        for r in range(inst.resources):
            used, cap = usage[m][r], inst.capacity[m][r]
            if used > cap:
                out.append(f"machine {m}, resource {r}: usage {used} > capacity {cap}")
            elif used + held[m][r] > cap:
                out.append(
                    f"machine {m}, resource {r} (transient): usage {used} + {held[m][r]} held "
                    f"by processes moved away > capacity {cap}"
                )
    return out


def _service_violations(inst: Instance, machine: tuple[int, ...]) -> list[str]:
    out = []
    members = inst.members()
    neighborhoods: list[set[int]] = []
    for s, procs in enumerate(members):
        placed = [machine[p] for p in procs if 0 <= machine[p] < inst.machines]
        if len(set(placed)) < len(placed):
            seen: dict[int, int] = {}
            for p in (p for p in procs if 0 <= machine[p] < inst.machines):
                if machine[p] in seen:
                    out.append(
                        f"service {s}: processes {seen[machine[p]]} and {p} share machine "
                        f"{machine[p]} (conflict)"
                    )
                seen.setdefault(machine[p], p)
        locations = len({inst.location[m] for m in placed})
        if locations < inst.spread_min[s]:
            out.append(
                f"service {s}: runs in {locations} locations < spreadMin {inst.spread_min[s]}"
            )
        neighborhoods.append({inst.neighborhood[m] for m in placed})
    for s, procs in enumerate(members):
        for dep in inst.depends_on[s]:
            for p in procs:
                m = machine[p]
                if 0 <= m < inst.machines and inst.neighborhood[m] not in neighborhoods[dep]:
                    out.append(
                        f"process {p} (service {s}): no process of service {dep} in neighborhood "
                        f"{inst.neighborhood[m]} (dependency)"
                    )
    return out


def write_solution(path: Path, inst: Instance, sol: RoadefSolution) -> None:
    """The challenge's assignment format: machine indices separated by spaces."""
    path.write_text(" ".join(map(str, sol.machine)) + "\n")


def read_solution(path: Path, inst: Instance) -> RoadefSolution:
    values = read_ints(path)
    if len(values) != inst.processes:
        raise FormatError(f"{path}: expected {inst.processes} machine indices, found {len(values)}")
    for p, m in enumerate(values):
        if not 0 <= m < inst.machines:
            raise FormatError(f"{path}: process {p}'s machine {m} is not in 0..{inst.machines - 1}")
    return RoadefSolution(machine=tuple(values))
