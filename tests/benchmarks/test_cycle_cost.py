"""python -m benchmarks.cycle_cost end to end on tiny pools: both modes run real cycles and
print what they measured."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from benchmarks.cycle_cost import main
from scheduler import logs
from scheduler.service.cycle import PHASES


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    """The cycle logs every cycle at info; the fill runs several."""
    logs.configure("warning", json=False)
    yield


def test_quiet_mode_prints_the_pool_and_every_phase(capsys: pytest.CaptureFixture[str]) -> None:
    """The quiet pool is built as asked (nodes, running, queued, as the store has them), the
    churn keeps its size, and each phase, the total and the CPU time get a row."""
    argv = ["--quiet", "--clusters", "2", "--nodes-per-cluster", "3", "--running", "9"]
    assert main([*argv, "--queue", "4", "--cycles", "3", "--churn", "2"]) == 0
    out = capsys.readouterr().out
    assert "pool: 2 clusters, 6 nodes, 9 running, 4 queued" in out
    done = re.search(
        r"cycles: 3, churn 2: (\d+) queued jobs considered, (\d+) placed; "
        r"after: (\d+) running, (\d+) queued",
        out,
    )
    assert done is not None, out
    considered, placed, running, queued = map(int, done.groups())
    # Each finished job is replaced by a submitted one: the pool keeps its 13 jobs, and what
    # runs at the end is the 3 never finished plus every job placed (a whole-node job runs
    # only where a node emptied; the solver is wall-clock bounded, so which ones varies).
    assert running + queued == 13
    assert placed == 3 * 2 + (4 - queued)
    # Every cycle considers at least the two jobs submitted just before it.
    assert considered >= max(3 * 2, placed)
    for name in (*PHASES, "total", "cpu"):
        row = re.search(rf"^{name} +([\d.]+) +([\d.]+) +([\d.]+)$", out, re.MULTILINE)
        assert row is not None, f"no row for {name} in:\n{out}"
    total = re.search(r"^total +([\d.]+)", out, re.MULTILINE)
    assert total is not None and float(total.group(1)) > 0


def test_long_queue_mode_still_times_two_cycles(capsys: pytest.CaptureFixture[str]) -> None:
    """The default mode submits the jobs onto one-node clusters and times two cycles."""
    assert main(["--jobs", "30", "--clusters", "2"]) == 0
    out = capsys.readouterr().out
    assert "first cycle:" in out and "30 queued jobs considered, 8 placed" in out
    assert "second cycle:" in out and "22 queued jobs considered, 0 placed" in out
