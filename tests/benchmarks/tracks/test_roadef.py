"""ROADEF/EURO 2012 track: loader, the official statement's examples, set A, mapping, files."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from benchmarks.tracks import FormatError, roadef
from scheduler.placement import engine
from scheduler.placement.index.facts import Facts
from scheduler.placement.lp.all_placed import cost_floors
from scheduler.placement.model import Balance, Service, Solution
from scheduler.placement.model.params import EngineParams
from scheduler.placement.stages.pool import Clock

# The statement's section 2 example (problem_definition_v1.pdf, pages 6-9): 2 resources (r1
# transient), 4 machines, services sa = {p1, p2} (spreadMin 2) and sb = {p3} depending on sa,
# balance <r1, r2, 20>; original assignment 0 3 0 (cost 4,200), optimum 0 2 1 (cost 2,411).
EXAMPLE = """2
1 100
0 10
4
0 0 30 400 16 80 0 1 4 5
0 0 10 240 8 160 1 0 3 4
1 1 15 100 12 80 4 3 0 2
1 2 10 100 8 80 5 4 2 0
2
2 0
1 1 0
3
0 12 10 1000
0 10 20 100
1 6 200 1
1
0 1 20 10
1 10 100
"""


def _write(tmp_path: Path, model: str, initial: Sequence[int], name: str = "ex") -> Path:
    path = tmp_path / f"model_{name}.txt"
    path.write_text(model)
    (tmp_path / f"assignment_{name}.txt").write_text(" ".join(map(str, initial)) + "\n")
    return path


def _model(
    resources: Sequence[tuple[int, int]],
    machines: Sequence[tuple[int, int, Sequence[int], Sequence[int], Sequence[int]]],
    services: Sequence[tuple[int, Sequence[int]]],
    processes: Sequence[tuple[int, Sequence[int], int]],
    balances: Sequence[tuple[int, int, int, int]] = (),
    weights: tuple[int, int, int] = (0, 0, 0),
) -> str:
    """A model file in the official layout, from the statement's notation."""
    lines = [str(len(resources)), *(f"{t} {w}" for t, w in resources), str(len(machines))]
    for nb, loc, cap, safety, mmc in machines:
        lines.append(" ".join(map(str, (nb, loc, *cap, *safety, *mmc))))
    lines.append(str(len(services)))
    lines += [" ".join(map(str, (spread, len(deps), *deps))) for spread, deps in services]
    lines.append(str(len(processes)))
    lines += [" ".join(map(str, (s, *req, pmc))) for s, req, pmc in processes]
    lines.append(str(len(balances)))
    lines += [f"{r1} {r2} {target}\n{w}" for r1, r2, target, w in balances]
    lines.append(" ".join(map(str, weights)))
    return "\n".join(lines) + "\n"


def _zeros(n: int) -> list[int]:
    return [0] * n


@pytest.fixture
def example(tmp_path: Path) -> roadef.Instance:
    return roadef.load(_write(tmp_path, EXAMPLE, (0, 3, 0)))


def test_example_loads_as_the_statement_lists_it(example: roadef.Instance) -> None:
    """The example's sets, capacities, services and weights are read in the official layout."""
    assert (example.resources, example.machines, example.services, example.processes) == (
        2,
        4,
        2,
        3,
    )
    assert example.transient == (True, False) and example.weight_load == (100, 10)
    assert example.neighborhood == (0, 0, 1, 1) and example.location == (0, 0, 1, 2)
    assert example.capacity[2] == (15, 100) and example.safety[1] == (8, 160)
    assert [list(row) for row in example.move_cost] == [
        [0, 1, 4, 5],
        [1, 0, 3, 4],
        [4, 3, 0, 2],
        [5, 4, 2, 0],
    ]
    assert example.spread_min == (2, 1) and example.depends_on == ((), (0,))
    assert example.service == (0, 0, 1) and example.process_move_cost == (1000, 100, 1)
    assert example.balances == (roadef.RoadefBalance(0, 1, 20, 10),)
    assert (example.weight_process_move, example.weight_service_move) == (1, 10)
    assert example.weight_machine_move == 100 and example.initial == (0, 3, 0)


def test_example_costs_4200_initially_3510_after_one_move_and_2411_at_the_optimum(
    example: roadef.Instance,
) -> None:
    """The statement's three worked costs, term by term: (400+1300)+2500, (200+1300)+1700+100+10
    +200, and 400+1600+101+10+300."""
    initial = roadef.RoadefSolution(example.initial)
    assert roadef.evaluate(example, initial) == (True, 4200, [])
    assert roadef.costs(example, initial) == roadef.Costs((400, 1300), (2500,), 0, 0, 0)
    one_move = roadef.RoadefSolution((0, 2, 0))
    assert roadef.evaluate(example, one_move) == (True, 3510, [])
    assert roadef.costs(example, one_move) == roadef.Costs((200, 1300), (1700,), 100, 10, 200)
    optimum = roadef.RoadefSolution((0, 2, 1))
    assert roadef.evaluate(example, optimum) == (True, 2411, [])
    assert roadef.costs(example, optimum) == roadef.Costs((0, 400), (1600,), 101, 10, 300)


# Section 1.2.1: C(CPU) = 16, 8, C(RAM) = 16, 4; R(p, CPU) = 6, 1, 3; R(p, RAM) = 13, 3, 1.
CAPACITY = _model(
    resources=[(0, 0), (0, 0)],
    machines=[(0, 0, (16, 16), (16, 16), (0, 0)), (0, 0, (8, 4), (8, 4), (0, 0))],
    services=[(0, ()), (0, ()), (0, ())],
    processes=[(0, (6, 13), 0), (1, (1, 3), 0), (2, (3, 1), 0)],
)
# Section 1.2.2: sa = {p1}, sb = {p2, p3}, M0 = m1, m1, m3 on four machines.
CONFLICT = _model(
    resources=[(0, 0)],
    machines=[(0, 0, (9,), (9,), _zeros(4)) for _ in range(4)],
    services=[(0, ()), (0, ())],
    processes=[(0, (1,), 0), (1, (1,), 0), (1, (1,), 0)],
)
# Section 1.2.3: s = {p1, p2}, locations {m1, m2}, {m3}, {m4}, spreadMin 2, M0 = m1, m3.
SPREAD = _model(
    resources=[(0, 0)],
    machines=[(0, loc, (9,), (9,), _zeros(4)) for loc in (0, 0, 1, 2)],
    services=[(2, ())],
    processes=[(0, (1,), 0), (0, (1,), 0)],
)
# Section 1.2.4: sa = {p1} depends on sb = {p2, p3}; neighborhoods {m1}, {m2}, {m3, m4}.
DEPENDENCY = _model(
    resources=[(0, 0)],
    machines=[(nb, 0, (9,), (9,), _zeros(4)) for nb in (0, 1, 2, 2)],
    services=[(0, (1,)), (0, ())],
    processes=[(0, (1,), 0), (1, (1,), 0), (1, (1,), 0)],
)
# Section 1.2.5: TR = {DISK}; C(DISK) = 10, 10, 7; R(p, DISK) = 8, 6; M0 = m1, m2.
TRANSIENT = _model(
    resources=[(0, 0), (1, 0)],
    machines=[(0, 0, (3, disk), (3, disk), _zeros(3)) for disk in (10, 10, 7)],
    services=[(0, ()), (0, ())],
    processes=[(0, (1, 8), 0), (1, (1, 6), 0)],
)


@pytest.mark.parametrize(
    ("model", "initial", "assignment", "broken"),
    [
        (CAPACITY, (0, 0, 1), (0, 0, 1), None),
        (CAPACITY, (0, 0, 1), (0, 1, 1), None),
        (CAPACITY, (0, 0, 1), (1, 0, 1), "machine 1, resource 0: usage 9 > capacity 8"),
        (CAPACITY, (0, 0, 1), (0, 0, 0), "machine 0, resource 1: usage 17 > capacity 16"),
        (CONFLICT, (0, 0, 2), (1, 0, 2), None),
        (CONFLICT, (0, 0, 2), (0, 2, 2), "service 1: processes 1 and 2 share machine 2"),
        (SPREAD, (0, 2), (1, 2), None),
        (SPREAD, (0, 2), (3, 2), None),
        (SPREAD, (0, 2), (0, 3), None),
        (SPREAD, (0, 2), (2, 2), "service 0: runs in 1 locations < spreadMin 2"),
        (SPREAD, (0, 2), (0, 1), "service 0: runs in 1 locations < spreadMin 2"),
        (DEPENDENCY, (0, 0, 2), (2, 0, 2), None),
        (DEPENDENCY, (0, 0, 2), (3, 0, 2), None),
        (DEPENDENCY, (0, 0, 2), (1, 0, 2), "process 0 (service 0): no process of service 1"),
        (DEPENDENCY, (0, 0, 2), (0, 1, 2), "process 0 (service 0): no process of service 1"),
        (TRANSIENT, (0, 1), (0, 2), None),
        (TRANSIENT, (0, 1), (1, 2), "machine 1, resource 1 (transient): usage 8 + 6 held"),
    ],
)
def test_hard_constraints_follow_the_statements_examples(
    tmp_path: Path,
    model: str,
    initial: tuple[int, ...],
    assignment: tuple[int, ...],
    broken: str | None,
) -> None:
    """Each example of section 1.2 is feasible or infeasible exactly as the statement says."""
    inst = roadef.load(_write(tmp_path, model, initial))
    feasible, _, violations = roadef.evaluate(inst, roadef.RoadefSolution(assignment))
    if broken is None:
        assert (feasible, violations) == (True, [])
    else:
        assert not feasible and any(v.startswith(broken) for v in violations), violations


@pytest.mark.parametrize(
    ("model", "initial", "expected"),
    [
        # 1.3.1: SC = 10, 50; R = 7, 12, both on m1: max(0, 19 - 10) = 9; moving p2 gives 0.
        (
            _model(
                [(0, 1)],
                [(0, 0, (100,), (10,), (0, 0)), (0, 0, (100,), (50,), (0, 0))],
                [(0, ()), (0, ())],
                [(0, (7,), 0), (1, (12,), 0)],
            ),
            (0, 0),
            [((0, 0), 9), ((0, 1), 0)],
        ),
        # 1.3.2: <CPU, RAM, 2>: 5 before, 1 after moving p1 to m2.
        (
            _model(
                [(0, 0), (0, 0)],
                [(0, 0, (16, 16), (16, 16), (0, 0)), (0, 0, (8, 12), (8, 12), (0, 0))],
                [(0, ()), (0, ()), (0, ())],
                [(0, (2, 8), 0), (1, (8, 1), 0), (2, (5, 1), 0)],
                balances=[(0, 1, 2, 1)],
            ),
            (0, 0, 1),
            [((0, 0, 1), 5), ((1, 0, 1), 1)],
        ),
        # 1.3.3: PMC = 1, 105; p2 moves: 105.
        (
            _model(
                [(0, 0)],
                [(0, 0, (9,), (9,), (0, 0)), (0, 0, (9,), (9,), (0, 0))],
                [(0, ()), (0, ())],
                [(0, (1,), 1), (1, (1,), 105)],
                weights=(1, 0, 0),
            ),
            (0, 0),
            [((0, 1), 105)],
        ),
        # 1.3.4: services {p1, p2}, {p3, p4}; two moves in the first, one in the second: 2.
        (
            _model(
                [(0, 0)],
                [(0, 0, (9,), (9,), _zeros(3)) for _ in range(3)],
                [(0, ()), (0, ())],
                [(0, (1,), 0), (0, (1,), 0), (1, (1,), 0), (1, (1,), 0)],
                weights=(0, 1, 0),
            ),
            (0, 1, 0, 1),
            [((1, 0, 0, 2), 2)],
        ),
        # 1.3.5: MMC(m1, m2) = 10, MMC(m2, m1) = 7; moves 10 + 0 + 7 + 7 = 24.
        (
            _model(
                [(0, 0)],
                [(0, 0, (9,), (9,), (0, 10)), (0, 0, (9,), (9,), (7, 0))],
                [(0, ()), (0, ()), (0, ()), (0, ())],
                [(s, (1,), 0) for s in range(4)],
                weights=(0, 0, 1),
            ),
            (0, 0, 1, 1),
            [((1, 0, 0, 0), 24)],
        ),
    ],
)
def test_cost_terms_follow_the_statements_examples(
    tmp_path: Path,
    model: str,
    initial: tuple[int, ...],
    expected: list[tuple[tuple[int, ...], int]],
) -> None:
    """Each worked cost of section 1.3 is reproduced by the evaluator."""
    inst = roadef.load(_write(tmp_path, model, initial))
    for assignment, cost in expected:
        assert roadef.evaluate(inst, roadef.RoadefSolution(assignment)) == (True, cost, [])


def _readme_initial_costs(benchdata: Path) -> dict[str, int]:
    """The `initial cost` column of the benchdata README's ROADEF table."""
    rows = re.findall(
        r"^\| (a\d_\d) \| [\d,]+ \| \d+ \| ([\d,]+) \|", (benchdata / "README.md").read_text(), re.M
    )
    return {name: int(cost.replace(",", "")) for name, cost in rows}


def test_set_a_initial_assignments_cost_what_the_readme_says(benchdata: Path) -> None:
    """Every set-A initial assignment is feasible and costs the README's (and CSV's) value."""
    readme = _readme_initial_costs(benchdata)
    refs = roadef.references(benchdata)
    found = roadef.instances(benchdata)
    assert [name for name, _ in found][:10] == sorted(readme) and len(readme) == 10
    for name, path in found:
        if name not in readme:
            continue
        inst = roadef.load(path)
        feasible, objective, violations = roadef.evaluate(inst, roadef.RoadefSolution(inst.initial))
        assert (feasible, violations) == (True, []), name
        assert objective == readme[name] == refs[name].value("initial_cost"), name


def test_cost_floors_weighted_are_the_published_aggregate_bound(benchdata: Path) -> None:
    """lp/all_placed.py's load and balance floors, weighted as the objective weighs them, equal
    best_known.csv's `lower_bound_aggregate` on every set-A instance (the migration polish
    runs only at these floors)."""
    refs = roadef.references(benchdata)
    found = [(name, path) for name, path in roadef.instances(benchdata) if name.startswith("a")]
    assert len(found) == 10
    for name, path in found:
        p = roadef.to_problem(roadef.load(path))
        floors = cost_floors(Facts(p))
        total = sum(w * f for w, f in zip(p.load_weight, floors.load, strict=True))
        total += sum(b.weight * f for b, f in zip(p.balances, floors.balance, strict=True))
        assert total == refs[name].lower_bound, name


def test_to_problem_maps_the_statement_onto_the_public_model(example: roadef.Instance) -> None:
    """Machines, processes, services, weights and the move matrix land in the documented fields."""
    p = roadef.to_problem(example)
    assert p.domain_keys == ("location", "neighborhood")
    assert p.node_domains == ((0, 0), (0, 0), (1, 1), (2, 1))
    assert p.node_capacity == example.capacity and p.node_safety == example.safety
    assert p.load_weight == (100, 10) and p.transient == (True, False)
    assert p.balances == (Balance(r1=0, r2=1, target=20, weight=10),)
    assert p.job_demand == ((12, 10), (10, 20), (6, 200))
    assert p.job_current == ((0,), (3,), (0,)) and p.job_required == (True, True, True)
    assert p.job_move_cost == (1000, 100, 1) and p.service_move_weight == 10
    assert [list(row) for row in p.node_move_cost] == [
        [0, 100, 400, 500],
        [100, 0, 300, 400],
        [400, 300, 0, 200],
        [500, 400, 200, 0],
    ]
    assert p.services == (
        Service(jobs=(0, 1), anti_affinity=True, spread_key=0, spread_min=2),
        Service(
            jobs=(2,),
            anti_affinity=True,
            spread_key=0,
            spread_min=1,
            depends_on=(0,),
            affinity_key=1,
        ),
    )


def test_from_solution_and_the_assignment_file_round_trip(
    example: roadef.Instance, tmp_path: Path
) -> None:
    """A solution becomes one machine index per process, space-separated like the challenge's."""
    p = roadef.to_problem(example)
    sol = roadef.from_solution(example, p, Solution(assignment=((0,), (2,), (1,))))
    path = tmp_path / "out.txt"
    roadef.write_solution(path, example, sol)
    assert path.read_text() == "0 2 1\n"
    assert roadef.read_solution(path, example) == sol == roadef.RoadefSolution((0, 2, 1))
    path.write_text("0 2\n")
    with pytest.raises(FormatError, match="expected 3 machine indices, found 2"):
        roadef.read_solution(path, example)
    path.write_text("0 4 1\n")  # the example has machines 0..3
    with pytest.raises(FormatError, match=r"process 1's machine 4 is not in 0..3"):
        roadef.read_solution(path, example)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t[: t.index("2\n2 0")], r"file ends before the number of services"),
        (
            lambda t: t.replace("0 0 30 400 16 80 0 1", "0 0 30 400 16 80 3 1"),
            r"MMC\(0,0\) must be 0",
        ),
        (
            lambda t: t.replace("1 6 200 1", "5 6 200 1"),
            r"process 2: service must be 0\.\.1, found 5",
        ),
        (lambda t: t.replace("0 10\n4\n", "2 10\n4\n"), r"resource 1: isTransient must be 0\.\.1"),
        (lambda t: t + "7\n", r"unexpected data after the weights"),
        (
            lambda t: t.replace("1 1 0\n", "1 1 4\n"),
            r"service 1: dependency must be 0\.\.1, found 4",
        ),
    ],
)
def test_load_rejects_malformed_models_naming_the_place(
    tmp_path: Path, edit: object, message: str
) -> None:
    """Truncation, bad indices, a non-zero MMC diagonal and trailing data name file and line."""
    assert callable(edit)
    path = _write(tmp_path, edit(EXAMPLE), (0, 3, 0))
    with pytest.raises(FormatError, match=rf"model_ex\.txt:\d+:\d+ .*{message}"):
        roadef.load(path)


def test_load_rejects_an_initial_assignment_off_the_machines(tmp_path: Path) -> None:
    """An initial machine index outside 0..M-1 is named with its position."""
    with pytest.raises(FormatError, match=r"assignment_ex\.txt:1:3 \(integer #2\): machine 4"):
        roadef.load(_write(tmp_path, EXAMPLE, (0, 4, 0)))


# An answer to a1_5 at its load and balance floors that moves 10 processes (process: machine,
# the rest stay where the initial assignment puts them), from a 300-s run of the engine;
# ROADEF cost 727,578,310, S41's. benchmarks/README.md, "The floors node by node".
A1_5_TEN_MOVES = {75: 4, 469: 9, 492: 10, 505: 3, 603: 1, 676: 7, 757: 6, 891: 4, 956: 4, 998: 5}


def test_polish_proves_nine_moves_the_fewest_at_a1_5s_floors(benchdata: Path) -> None:
    """From that answer the migration polish (one worker, deterministic) finds the answer
    moving 9, the best known cost, and proves no answer at the floors moves fewer."""
    path = dict(roadef.instances(benchdata))["a1_5"]
    inst = roadef.load(path)
    p = roadef.to_problem(inst)
    machines = [A1_5_TEN_MOVES.get(j, m) for j, m in enumerate(inst.initial)]
    start = Solution(tuple((m,) for m in machines))
    assert roadef.evaluate(inst, roadef.from_solution(inst, p, start)).objective == 727_578_310
    events: list[tuple[str, dict[str, object]]] = []
    run = engine._Run(
        p,
        EngineParams(time_limit_s=120.0, deterministic=True),
        lambda event, fields: events.append((event, dict(fields))),
        Clock(),
    )
    assert run.pool.offer("test", start)
    assert run._polish_applies()
    run._polish()
    done = next(fields for event, fields in events if event == "polish_done")
    assert (done["status"], done["migration"]) == ("OPTIMAL", 19)
    assert run.pool.best is not None
    answer = roadef.from_solution(inst, p, run.pool.best.solution)
    assert roadef.evaluate(inst, answer) == (True, 727_578_309, [])
