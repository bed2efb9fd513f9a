"""GAP instances of the published types A-E at any size (gap_generate) and the measurement of
the engine on them (gap_scale)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks.tracks import gap, gap_scale
from benchmarks.tracks.gap_generate import TYPES, generate, main, write


def test_same_arguments_same_instance_other_seed_other_instance() -> None:
    """Generation is a function of type, size and seed."""
    assert generate("e", 4, 30, 7) == generate("e", 4, 30, 7)
    assert generate("e", 4, 30, 7) != generate("e", 4, 30, 8)
    assert generate("E", 4, 30, 7).name == "e4x30s7"


@pytest.mark.parametrize("kind", TYPES)
def test_values_and_capacities_follow_the_published_rules(kind: str) -> None:
    """Demands, costs and capacities in the ranges and by the capacity rule of each type."""
    m, n = 6, 90
    inst = generate(kind, m, n, 3)
    assert (inst.agents, inst.jobs) == (m, n)
    r = [v for row in inst.weight for v in row]
    c = [v for row in inst.cost for v in row]
    if kind in "abc":
        assert min(r) >= 5 and max(r) <= 25 and min(c) >= 10 and max(c) <= 50
    elif kind == "d":
        assert min(r) >= 1 and max(r) <= 100
        for i in range(m):
            for j in range(n):
                assert abs(inst.cost[i][j] - (111 - inst.weight[i][j])) <= 10
    else:
        assert min(r) >= 1 and min(c) >= 0
        for i in range(m):
            for j in range(n):
                assert 1000 / inst.weight[i][j] - 10 <= inst.cost[i][j] + 1
                assert inst.cost[i][j] <= 1000 / inst.weight[i][j]
    if kind in "cde":
        expected = tuple(math.floor(0.8 * sum(inst.weight[i]) / m) for i in range(m))
    else:
        best = [min(range(m), key=lambda i, j=j: (inst.cost[i][j], i)) for j in range(n)]
        most = max(sum(inst.weight[i][j] for j in range(n) if best[j] == i) for i in range(m))
        a = math.floor(9 * n / m + 0.4 * most)
        expected = (a if kind == "a" else math.floor(0.7 * a),) * m
    assert inst.capacity == expected


def test_written_file_loads_as_the_same_instance(tmp_path: Path) -> None:
    """The OR-Library format round trip through gap.load, also from the command line."""
    inst = generate("d", 5, 40, 2)
    path = tmp_path / inst.name
    write(path, inst)
    assert gap.load(path) == inst
    assert main(["--type", "c", "--agents", "3", "--jobs", "9", "--out", str(tmp_path)]) == 0
    assert gap.load(tmp_path / "c3x9s1") == generate("c", 3, 9, 1)


def test_bad_arguments_name_the_field() -> None:
    """An unknown type, a size below 1 or a negative seed is refused by name."""
    with pytest.raises(ValueError, match="type"):
        generate("z", 2, 2, 1)
    with pytest.raises(ValueError, match="agents"):
        generate("c", 0, 2, 1)
    with pytest.raises(ValueError, match="seed"):
        generate("c", 2, 2, -1)


def test_measurement_judges_the_answer_against_both_bounds() -> None:
    """One small instance through the engine: feasible, checked, its cost at or above the
    engine's bound and the independent LP bound, which are close."""
    row = gap_scale.run_one(gap_scale.Spec("d", 5, 60, 1), 1.0, True)
    assert row.feasible and row.notes == ""
    assert row.cost is not None and row.lp_lb is not None and row.engine_lb is not None
    assert row.engine_lb <= row.cost and row.lp_lb <= row.cost + 1e-6
    assert row.gap_lp_pct is not None and 0 <= row.gap_lp_pct < 10


def test_command_line_writes_the_table_files(tmp_path: Path) -> None:
    """The CLI runs each instance in its own process and writes CSV and JSON rows."""
    args = ["--sizes", "3x12", "--types", "e", "--seeds", "1", "--time-limit", "0.5"]
    code = gap_scale.main([*args, "--out", str(tmp_path)])
    assert code == 0
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert [r["instance"] for r in rows] == ["e3x12s1"] and rows[0]["feasible"]
    assert (tmp_path / "results.csv").read_text().startswith("instance,")
