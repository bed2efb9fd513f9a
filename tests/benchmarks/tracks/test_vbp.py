"""Vector bin packing track: loader, greedy bound, mapping, evaluator and solution files."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from ortools.sat.python import cp_model

from benchmarks.tracks import FormatError, vbp
from scheduler.placement.model import Solution

# d=2, bins 10x10; the first line has multiplicity 2, so 4 item copies. (6,6) fits with no
# other item, and the other three need two bins: the optimum is 3.
SMALL = """2
10 10
3
5 2 2
4 8 1
6 6 1
"""


@pytest.fixture
def small(tmp_path: Path) -> vbp.Instance:
    path = tmp_path / "small.vbp"
    path.write_text(SMALL)
    return vbp.load(path)


def test_load_expands_multiplicities_in_file_order(small: vbp.Instance) -> None:
    """A line with multiplicity q becomes q consecutive item copies."""
    assert small.name == "small" and small.capacity == (10, 10)
    assert small.multiplicity == (2, 1, 1) and small.items == 4
    assert small.copies() == [(5, 2), (5, 2), (4, 8), (6, 6)]


def test_to_problem_opens_greedy_many_identical_bins_at_unit_cost(small: vbp.Instance) -> None:
    """Nodes are the first-fit-decreasing bins, each costing 1 to open; items are required."""
    assert vbp.greedy_bins(small) == 3
    p = vbp.to_problem(small)
    assert p.node_capacity == ((10, 10),) * 3 and p.node_open_cost == (1, 1, 1)
    assert p.job_demand == ((5, 2), (5, 2), (4, 8), (6, 6))
    assert p.job_required == (True,) * 4
    assert vbp.to_problem(small, bins=4).num_nodes == 4


def test_evaluate_counts_bins_and_names_overfull_and_unpacked_items(small: vbp.Instance) -> None:
    """Objective is the number of distinct bins; overfull bins and unpacked items violate."""
    assert vbp.evaluate(small, vbp.VbpSolution((0, 0, 1, 2))) == (True, 3, [])
    feasible, objective, violations = vbp.evaluate(small, vbp.VbpSolution((0, 0, 0, 1)))
    assert (feasible, objective) == (False, 2)
    assert violations == [
        "bin 0: dimension 0 holds 14 > capacity 10",
        "bin 0: dimension 1 holds 12 > capacity 10",
    ]
    feasible, _, violations = vbp.evaluate(small, vbp.VbpSolution((0, -1, 1, 2)))
    assert not feasible and violations == ["item 1: not packed (got -1)"]


def test_from_solution_renumbers_bins_and_round_trips_the_file(
    small: vbp.Instance, tmp_path: Path
) -> None:
    """Bins are numbered by first use; the file holds one bin per item copy and reads back."""
    p = vbp.to_problem(small)
    sol = vbp.from_solution(small, p, Solution(assignment=((2,), (2,), (0,), (1,))))
    assert sol == vbp.VbpSolution((0, 0, 1, 2))
    path = tmp_path / "sol.txt"
    vbp.write_solution(path, small, sol)
    assert path.read_text() == "0\n0\n1\n2\n"
    assert vbp.read_solution(path, small) == sol


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0\n", r"expected the dimension d >= 1"),
        ("2\n10 0\n0\n", r"bad\.vbp:2:4 \(integer #3\): bin capacity must be >= 1"),
        ("2\n10 10\n2\n5 5 1\n", r"m=2 item lines needs 10 integers, found 7"),
        ("2\n10 10\n1\n5 11 1\n", r"bad\.vbp:4:3 .*item line 0: size 11 outside 0\.\.10"),
        ("2\n10 10\n1\n5 5 0\n", r"bad\.vbp:4:5 .*multiplicity 0 < 1"),
    ],
)
def test_load_rejects_malformed_files_naming_the_place(
    tmp_path: Path, text: str, message: str
) -> None:
    """Bad dimensions, capacities, counts, oversized items and multiplicities name their place."""
    path = tmp_path / "bad.vbp"
    path.write_text(text)
    with pytest.raises(FormatError, match=message):
        vbp.load(path)


def test_all_published_instances_load_quickly_and_match_the_summary(benchdata: Path) -> None:
    """The 1,620 Panigrahy files load in seconds, named as in the summary TSV."""
    found = vbp.instances(benchdata)
    refs = vbp.references(benchdata)
    assert len(found) == 1620 and {name for name, _ in found} == set(refs)
    start = time.perf_counter()
    loaded = [vbp.load(path) for _, path in found]
    assert time.perf_counter() - start < 15
    dims = {inst.dims for inst in loaded}
    assert dims == {3, 5, 10}
    first = loaded[0]
    assert first.name == "class1_20_3_0" and first.items == 20


def _packing(inst: vbp.Instance, bins: int) -> vbp.VbpSolution:
    """A packing into `bins` bins from a direct CP-SAT model, independent of the engine."""
    model = cp_model.CpModel()
    items = inst.copies()
    x = [[model.new_bool_var(f"x{i}_{b}") for b in range(bins)] for i in range(len(items))]
    for row in x:
        model.add_exactly_one(row)
    for b in range(bins):
        for k, cap in enumerate(inst.capacity):
            model.add(sum(items[i][k] * x[i][b] for i in range(len(items))) <= cap)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = 20
    assert solver.solve(model) in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    return vbp.VbpSolution(
        tuple(next(b for b in range(bins) if solver.value(x[i][b])) for i in range(len(items)))
    )


def test_evaluator_confirms_a_packing_at_the_published_optimum(benchdata: Path) -> None:
    """A packing of class1_20_3_0 into OPT bins evaluates feasible with OPT bins."""
    ref = vbp.references(benchdata)["class1_20_3_0"]
    assert ref.optimum == 6 and ref.lower_bound == 6 and ref.value("best_overall") == 6
    inst = vbp.load(benchdata / "vbp" / "Panigrahy" / "class1" / "class1_20_3_0.vbp")
    assert vbp.evaluate(inst, _packing(inst, ref.optimum)) == (True, 6, [])
    assert vbp.greedy_bins(inst) >= ref.optimum
