"""GAP track: loader, mapping, evaluator and solution files."""

from __future__ import annotations

from pathlib import Path

import pytest
from ortools.sat.python import cp_model

from benchmarks.tracks import FormatError, gap
from scheduler.placement.model import Override, Solution

# m=2 agents, n=3 jobs: agent 0 is cheap but holds one job (w=2, b=3); agent 1 holds two.
SMALL = """2 3
1 2 3
4 5 6
2 2 2
1 1 1
3 2
"""


@pytest.fixture
def small(tmp_path: Path) -> gap.Instance:
    path = tmp_path / "small.txt"
    path.write_text(SMALL)
    return gap.load(path)


def test_load_reads_costs_weights_and_capacities_agent_by_agent(small: gap.Instance) -> None:
    """Rows are agents: c[i][j], then w[i][j], then b[i]."""
    assert (small.agents, small.jobs) == (2, 3)
    assert small.cost == ((1, 2, 3), (4, 5, 6))
    assert small.weight == ((2, 2, 2), (1, 1, 1))
    assert small.capacity == (3, 2)


def test_evaluate_costs_feasible_answers_and_names_violations(small: gap.Instance) -> None:
    """Objective is the summed cost; capacity overruns and unassigned jobs make it infeasible."""
    assert gap.evaluate(small, gap.GapSolution((0, 1, 1))) == (True, 12, [])
    feasible, objective, violations = gap.evaluate(small, gap.GapSolution((0, 0, 1)))
    assert (feasible, objective) == (False, 9)
    assert violations == ["agent 0: load 4 > capacity 3"]
    feasible, _, violations = gap.evaluate(small, gap.GapSolution((1, -1, 1)))
    assert not feasible and violations == ["job 1: no agent (got -1)"]


def test_to_problem_maps_agents_to_node_types_with_one_override_per_pair(
    small: gap.Instance,
) -> None:
    """Agents are nodes with their own type; every (job, agent) pair has demand and cost."""
    p = gap.to_problem(small)
    assert p.node_capacity == ((3,), (2,))
    assert p.node_type == (0, 1)
    assert p.job_required == (True, True, True)
    assert len(p.overrides) == 6
    assert Override(job=1, node_type=0, demand=(2,), cost=2) in p.overrides
    assert Override(job=2, node_type=1, demand=(1,), cost=6) in p.overrides
    assert p.job_demand == ((1,), (1,), (1,))


def test_from_solution_and_round_trip_through_the_solution_file(
    small: gap.Instance, tmp_path: Path
) -> None:
    """A job's agent is its node; the file holds one agent per line and reads back equal."""
    p = gap.to_problem(small)
    sol = gap.from_solution(small, p, Solution(assignment=((1,), (0,), None)))
    assert sol == gap.GapSolution((1, 0, -1))
    path = tmp_path / "sol.txt"
    gap.write_solution(path, small, sol)
    assert path.read_text() == "1\n0\n-1\n"
    assert gap.read_solution(path, small) == sol
    path.write_text("1 0\n")
    with pytest.raises(FormatError, match="expected 3 agent indices, found 2"):
        gap.read_solution(path, small)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2\n", r"expected the header `m n`"),
        ("0 3\n", r"m and n must be >= 1"),
        (
            "2 3\n1 2 3\n4 5 6\n2 2 2\n1 1 1\n3\n",
            r"needs 2 \+ 2\*m\*n \+ m = 16 integers, found 15",
        ),
        (
            "2 3\n1 2 3\n4 -5 6\n2 2 2\n1 1 1\n3 2\n",
            r"bad\.txt:3:3 \(integer #7\): negative value -5",
        ),
    ],
)
def test_load_rejects_malformed_files_naming_the_place(
    tmp_path: Path, text: str, message: str
) -> None:
    """Short files, bad headers and negative values are reported with file and position."""
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(FormatError, match=message):
        gap.load(path)


def _optimum(inst: gap.Instance) -> gap.GapSolution:
    """An optimal assignment from a direct CP-SAT model, independent of the engine."""
    model = cp_model.CpModel()
    x = [[model.new_bool_var(f"x{i}_{j}") for j in range(inst.jobs)] for i in range(inst.agents)]
    for j in range(inst.jobs):
        model.add_exactly_one(x[i][j] for i in range(inst.agents))
    for i in range(inst.agents):
        model.add(sum(inst.weight[i][j] * x[i][j] for j in range(inst.jobs)) <= inst.capacity[i])
    model.minimize(
        sum(inst.cost[i][j] * x[i][j] for i in range(inst.agents) for j in range(inst.jobs))
    )
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = 20
    assert solver.solve(model) == cp_model.OPTIMAL
    return gap.GapSolution(
        tuple(
            next(i for i in range(inst.agents) if solver.value(x[i][j])) for j in range(inst.jobs)
        )
    )


def test_published_instances_load_and_match_the_reference_table(benchdata: Path) -> None:
    """All 84 files load with the sizes best_known.csv gives."""
    refs = gap.references(benchdata)
    found = gap.instances(benchdata)
    assert len(found) == 84 and {name for name, _ in found} == set(refs)
    assert found[0][0] == "cattrysse1994/gap1-0" and found[5][0] == "cattrysse1994/gap2-0"
    for name, path in found:
        inst = gap.load(path)
        assert (inst.agents, inst.jobs) == (
            refs[name].value("agents_m"),
            refs[name].value("jobs_n"),
        ), name


def test_evaluator_reproduces_the_proven_optimum_of_gap1_0(benchdata: Path) -> None:
    """An optimal assignment of gap1-0 evaluates feasible at the published optimum 261."""
    inst = gap.load(benchdata / "gap" / "cattrysse1994" / "gap1-0")
    feasible, objective, violations = gap.evaluate(inst, _optimum(inst))
    assert (feasible, objective, violations) == (True, 261, [])
    assert gap.references(benchdata)["cattrysse1994/gap1-0"].optimum == 261
