"""The move-rate micro-benchmark (benchmarks.moves) runs both searches and re-costs their
answers."""

from __future__ import annotations

import pytest

from benchmarks import moves


def test_moves_benchmark_measures_both_sides_on_a_generated_instance(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """On a small generated ROADEF instance both sides report a rate and their answers' costs
    match a fresh Python state (exit code 0)."""
    code = moves.main(["--instance", "", "--generated", "300x20", "--seconds", "0.3"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "g300x20s1: 300 processes x 20 machines" in out
    for side in ("python", "kernel"):
        line = next(row for row in out.splitlines() if row.strip().startswith(side))
        assert "steps/s" in line and "moves/s" in line
