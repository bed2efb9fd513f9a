"""ROADEF instances generated at any size: official format, feasible costly start, solvable."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest

from benchmarks.tracks import roadef, roadef_lns, roadef_scale, roadef_walk
from benchmarks.tracks.roadef_generate import Shape, generate, main, write
from scheduler.placement import EngineParams, check, solve
from scheduler.placement.cpsat.pieces import Neighbourhoods
from scheduler.placement.index.facts import Facts
from scheduler.placement.judges.scale import job_work
from scheduler.placement.model import Solution
from scheduler.placement.stages import relax

SMALL = Shape(processes=400, machines=40, resources=6, services=60, seed=3)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> roadef.Instance:
    out = tmp_path_factory.mktemp("roadef_gen")
    model, _ = write(generate(SMALL), out, "small")
    return roadef.load(model)


def test_loads_with_the_shape_asked_for(small: roadef.Instance) -> None:
    shape = SMALL.resolved()
    assert (small.processes, small.machines, small.resources) == (400, 40, 6)
    assert small.services == 60
    assert sum(small.transient) == shape.transient == 2
    assert len(set(small.location)) == shape.locations
    assert len(set(small.neighborhood)) == shape.neighborhoods
    assert any(small.depends_on) and any(small.spread_min) and small.balances
    assert all(small.safety[m][r] <= small.capacity[m][r] for m in range(40) for r in range(6))
    assert len({small.move_cost[0][m] for m in range(1, 40)}) > 1


def test_initial_assignment_is_feasible_and_costly(small: roadef.Instance) -> None:
    initial = roadef.RoadefSolution(small.initial)
    feasible, cost, violations = roadef.evaluate(small, initial)
    assert feasible and violations == []
    parts = roadef.costs(small, initial)
    assert sum(parts.load) > 0 and sum(parts.balance) > 0 and cost == parts.total
    problem = roadef.to_problem(small)
    assert check(problem, Solution(tuple((m,) for m in small.initial))) == []


def test_the_engine_improves_on_it(small: roadef.Instance) -> None:
    problem = roadef.to_problem(small)
    outcome = solve(problem, params=EngineParams(time_limit_s=3.0, deterministic=False))
    assert outcome.solution is not None
    answer = roadef.from_solution(small, problem, outcome.solution)
    feasible, cost, violations = roadef.evaluate(small, answer)
    assert feasible, violations[:3]
    _, initial_cost, _ = roadef.evaluate(small, roadef.RoadefSolution(small.initial))
    assert cost < initial_cost


def test_lp_bound_is_skipped_above_its_pair_cap(
    small: roadef.Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At B/X scale every process is its own LP job class (97M pairs): the engine skips the LP
    bound there and still answers; here the cap is lowered to this instance's size, and one
    process may not move (else the LP is skipped before its pairs are counted: the next test)."""
    monkeypatch.setattr(relax, "_LP_MAX_PAIRS", 100)
    events: list[tuple[str, dict[str, object]]] = []
    problem = roadef.to_problem(small)
    problem = dataclasses.replace(problem, job_move_cost=(-1, *problem.job_move_cost[1:]))
    outcome = solve(
        problem,
        params=EngineParams(time_limit_s=1.0, deterministic=False),
        progress=lambda event, fields: events.append((event, dict(fields))),
    )
    skipped = [fields for event, fields in events if event == "lp_skipped"]
    assert skipped and skipped[0].get("max_pairs") == 100
    assert "lp_done" not in {event for event, _ in events}
    assert outcome.solution is not None
    answer = roadef.from_solution(small, problem, outcome.solution)
    assert roadef.evaluate(small, answer).feasible


@pytest.mark.parametrize("exact", [True, False])
def test_lp_bound_runs_for_rebalancing_only_where_it_proves_cp_sat_optimal(
    small: roadef.Instance, exact: bool
) -> None:
    """Every process runs and may move: the LP bound runs where exact CP-SAT takes the whole
    problem (its bound can prove the answer optimal), and is skipped, saying why, where LNS
    takes it in pieces (this instance made "too big" for exact CP-SAT)."""
    events: list[tuple[str, dict[str, object]]] = []
    problem = roadef.to_problem(small)
    outcome = solve(
        problem,
        params=EngineParams(
            time_limit_s=1.0, deterministic=False, exact_max_pairs=10**9 if exact else 10
        ),
        progress=lambda event, fields: events.append((event, dict(fields))),
    )
    names = {event for event, _ in events}
    if exact:
        assert "lp_done" in names and "lp_skipped" not in names
    else:
        assert "lp_done" not in names
        assert [f for e, f in events if e == "lp_skipped"] == [
            {"reason": "every job runs and may move"}
        ]
    assert outcome.solution is not None
    assert roadef.evaluate(small, roadef.from_solution(small, problem, outcome.solution)).feasible


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    shape = Shape(processes=120, machines=12, resources=4, seed=5)
    a, _ = write(generate(shape), tmp_path / "a", "x")
    b, _ = write(generate(shape), tmp_path / "b", "x")
    c, _ = write(generate(Shape(processes=120, machines=12, resources=4, seed=6)), tmp_path, "x")
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()


def test_cli_writes_both_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--processes", "50", "--machines", "10", "--resources", "3", "--seed", "2"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    model = tmp_path / "model_g50x10s2.txt"
    assert capsys.readouterr().out.split() == [
        str(model),
        str(tmp_path / "assignment_g50x10s2.txt"),
    ]
    inst = roadef.load(model)
    assert roadef.evaluate(inst, roadef.RoadefSolution(inst.initial)).feasible


def test_rejects_shapes_conflict_makes_infeasible(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--processes", "100", "--machines", "4", "--services", "5", "--out", "unused"]
    assert main(argv) == 2
    assert "conflict" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        ((), "(2 CP-SAT workers, seed 0)"),
        (("--workers", "1", "--seed", "3"), "(1 CP-SAT workers, seed 3)"),
    ],
)
def test_scale_script_reports_a_feasible_improvement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: tuple[str, ...], said: str
) -> None:
    model, _ = write(
        generate(Shape(processes=100, machines=10, resources=3, seed=4)), tmp_path, "s"
    )
    assert roadef_scale.main([str(model), "--time-limit", "1", *flags]) == 0
    out = capsys.readouterr().out
    assert "feasible True, 0 violations" in out and "% below the initial" in out
    assert said in out


@pytest.mark.parametrize(("boost", "window"), [(True, True), (False, False)])
def test_walk_script_reports_a_feasible_answer_below_the_initial_cost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], boost: bool, window: bool
) -> None:
    model, _ = write(
        generate(Shape(processes=200, machines=20, resources=4, seed=5)), tmp_path, "w"
    )
    initial = roadef.evaluate(roadef.load(model), roadef.RoadefSolution(roadef.load(model).initial))
    flags = (() if boost else ("--no-boost",)) + (() if window else ("--no-window",))
    assert roadef_walk.main([str(model), "--seconds", "1", *flags]) == 0
    out = capsys.readouterr().out
    assert "feasible True" in out and f"boost {'on' if boost else 'off'}" in out
    assert f"window {'on' if window else 'off'}" in out
    cost = int(out.split("cost ")[1].split(" ")[0].replace(",", ""))
    assert cost < initial.objective


def test_walk_script_writes_its_answer_and_walks_on_from_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out writes the answer it printed; --start walks from it, and its best is never worse."""
    model, _ = write(
        generate(Shape(processes=200, machines=20, resources=4, seed=5)), tmp_path, "w"
    )
    inst = roadef.load(model)
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    assert roadef_walk.main([str(model), "--seconds", "0.5", "--out", str(first)]) == 0
    cost = int(capsys.readouterr().out.split("cost ")[1].split(" ")[0].replace(",", ""))
    assert roadef.evaluate(inst, roadef.read_solution(first, inst)).objective == cost
    argv = [str(model), "--seconds", "0.5", "--seed", "1", "--start", str(first)]
    assert roadef_walk.main([*argv, "--out", str(second)]) == 0
    out = capsys.readouterr().out
    assert "from first.txt" in out and "feasible True" in out
    after = roadef.evaluate(inst, roadef.read_solution(second, inst))
    assert after.feasible and after.objective <= cost


@pytest.mark.parametrize("shapes", [(), ("escape",)])
def test_lns_script_improves_an_answer_with_the_shapes_asked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], shapes: tuple[str, ...]
) -> None:
    """From the initial assignment written as an answer: a feasible answer below it, and
    with one shape named only that shape's pieces improved it."""
    model, _ = write(
        generate(Shape(processes=200, machines=20, resources=4, seed=5)), tmp_path, "l"
    )
    inst = roadef.load(model)
    start = tmp_path / "start.txt"
    roadef.write_solution(start, inst, roadef.RoadefSolution(inst.initial))
    argv = [str(model), str(start), "--seconds", "2", *(f"--shape={s}" for s in shapes)]
    assert roadef_lns.main(argv) == 0
    out = capsys.readouterr().out
    assert "feasible True" in out
    first, last = (
        int(x.replace(",", "")) for x in out.split("cost ")[1].split(" in ")[0].split(" -> ")
    )
    assert last < first == roadef.evaluate(inst, roadef.RoadefSolution(inst.initial)).objective
    wins = out.split("improvements by shape: ")[1].split(";")[0]
    if shapes:
        assert wins.startswith("escape ") and "," not in wins


def test_lns_pieces_refuse_an_unknown_shape(small: roadef.Instance) -> None:
    p = roadef.to_problem(small)
    with pytest.raises(ValueError, match="shapes: unknown"):
        Neighbourhoods(Facts(p), job_work(p), random.Random(0), ("escape", "nope"))
