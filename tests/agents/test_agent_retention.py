"""Run directory retention, driven by a fake wall clock over a real journal and directories."""

from __future__ import annotations

from pathlib import Path

from agents.executor import RunPhase, RunStatus
from agents.journal import Journal
from agents.retention import RunRetention


class WallClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def acknowledged_run(journal: Journal, work: Path, clock: WallClock, run_id: str, at: float):
    """A run with output that finished and was acknowledged at time `at`."""
    (work / run_id).mkdir()
    (work / run_id / "stdout.log").write_text("output\n")
    journal.started(run_id, f"job-{run_id}")
    journal.finished(RunStatus(run_id, RunPhase.SUCCEEDED, 0))
    clock.now = at
    journal.forgotten(run_id)


def test_directories_go_after_the_retention_checked_once_a_minute(tmp_path: Path) -> None:
    """A run's directory is deleted once acknowledged longer ago than the retention, at the
    first check after that (startup, then at most once per minute); live runs stay."""
    clock = WallClock()
    journal = Journal(tmp_path, clock=clock)
    journal.open()
    acknowledged_run(journal, tmp_path, clock, "old", at=0.0)
    acknowledged_run(journal, tmp_path, clock, "newer", at=100.0)
    (tmp_path / "live").mkdir()
    journal.started("live", "job-live")
    retention = RunRetention(journal, tmp_path, 1000.0, clock=clock, check_interval=60.0)

    clock.now = 500.0
    assert retention.maybe_prune() == 0  # the startup check: nothing old enough
    clock.now = 1001.0
    assert retention.maybe_prune() == 1
    assert not (tmp_path / "old").exists() and (tmp_path / "newer" / "stdout.log").exists()
    clock.now = 1050.0
    assert retention.maybe_prune() == 0  # within a minute of the last check: not checked
    clock.now = 1061.0
    assert retention.maybe_prune() == 0  # checked; "newer" expires at 1100
    clock.now = 1110.0
    assert retention.maybe_prune() == 0  # 49 s after the last check
    clock.now = 1121.0
    assert retention.maybe_prune() == 1
    assert not (tmp_path / "newer").exists() and (tmp_path / "live").exists()
    journal.close()
    again = Journal(tmp_path)
    again.open()
    again.close()
    assert sorted(again.records) == ["live"]  # pruned runs leave the journal


def test_each_check_deletes_a_bounded_number_oldest_first(tmp_path: Path) -> None:
    """250 expired directories are deleted 100 per check, the oldest acknowledgements first."""
    clock = WallClock()
    journal = Journal(tmp_path, clock=clock)
    journal.open()
    for i in range(250):
        acknowledged_run(journal, tmp_path, clock, f"r{i:03}", at=float(i))
    retention = RunRetention(
        journal, tmp_path, 10.0, clock=clock, check_interval=60.0, max_per_check=100
    )
    clock.now = 1000.0
    assert retention.maybe_prune() == 100
    assert not (tmp_path / "r099").exists() and (tmp_path / "r100").exists()
    clock.now = 1060.0
    assert retention.maybe_prune() == 100
    clock.now = 1120.0
    assert retention.maybe_prune() == 50
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == []


def test_an_unsafe_run_id_never_deletes_outside_the_work_directory(tmp_path: Path) -> None:
    """A journalled id like '../victim' is dropped from the journal without touching the path."""
    work, victim = tmp_path / "work", tmp_path / "victim"
    work.mkdir()
    victim.mkdir()
    clock = WallClock()
    journal = Journal(work, clock=clock)
    journal.open()
    journal.finished(RunStatus("../victim", RunPhase.FAILED, None, "node not offered"))
    journal.forgotten("../victim")
    clock.now = 10_000.0
    assert RunRetention(journal, work, 1.0, clock=clock).maybe_prune() == 1
    assert victim.exists() and "../victim" not in journal.records
