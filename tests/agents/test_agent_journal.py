"""The agent's run journal: durable, compacted, and what a restarted agent makes of it."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import pytest
from agent_helpers import TOKEN, Server, python_cmd, run_state
from structlog.testing import capture_logs

from agents.agent import SHUTDOWN_LOST, Agent
from agents.capacity import NodeInfo, StaticCapacity
from agents.client import AgentClient
from agents.executor import Failure, LocalExecutor, RunPhase, RunStatus
from agents.journal import FILE_NAME, RESTART_LOST, Journal, RunRecord
from protos.suanchou.v1 import types_pb2


def reopened(directory: Path) -> Journal:
    journal = Journal(directory)
    journal.open()
    return journal


def records_in(directory: Path) -> dict[str, RunRecord]:
    """What a new agent process would load from the journal in `directory`."""
    journal = reopened(directory)
    journal.close()
    return journal.records


def test_records_survive_a_reopen(tmp_path: Path) -> None:
    """Every kind of record written by one process is read back by the next."""
    journal = Journal(tmp_path, clock=lambda: 1234.5)
    journal.open()
    journal.started("a", "job-a")
    journal.started("b", "job-b")
    journal.cancelled("b")
    journal.finished(RunStatus("a", RunPhase.FAILED, 3, "boom"))
    journal.started("e", "job-e")
    journal.finished(RunStatus("e", RunPhase.FAILED, 137, "OOMKilled", Failure.OOM))
    journal.started("c", "job-c")
    journal.finished(RunStatus("c", RunPhase.SUCCEEDED, 0))
    journal.forgotten("c")
    journal.started("d", "job-d")
    journal.pruned("d")
    journal.close()
    records = records_in(tmp_path)
    assert sorted(records) == ["a", "b", "c", "e"]
    assert records["a"].final == RunStatus("a", RunPhase.FAILED, 3, "boom")
    assert records["e"].final == RunStatus("e", RunPhase.FAILED, 137, "OOMKilled", Failure.OOM)
    assert records["a"].job_id == "job-a"
    assert records["b"].started and records["b"].cancelled and records["b"].final is None
    assert records["c"].forgotten_at == 1234.5


def test_a_torn_or_foreign_line_is_skipped(tmp_path: Path) -> None:
    """A half-written last line or garbage loses only itself; the other records load."""
    journal = Journal(tmp_path)
    journal.open()
    journal.started("a", "job-a")
    journal.close()
    with (tmp_path / FILE_NAME).open("ab") as handle:
        handle.write(b'[1, 2]\n{"op": "start", "run": 7}\n\xff\xfe\n{"op": "start", "ru')
    again = reopened(tmp_path)
    again.close()
    assert list(again.records) == ["a"] and again.skipped_lines == 4


def test_compaction_keeps_the_file_small_and_the_meaning(tmp_path: Path) -> None:
    """Thousands of finished and pruned runs leave a file of about one line per remembered run."""
    journal = Journal(tmp_path, clock=lambda: 99.0)
    journal.open()
    for i in range(1300):
        run_id = f"r{i}"
        journal.started(run_id, f"job-{i}")
        journal.finished(RunStatus(run_id, RunPhase.SUCCEEDED, 0))
        journal.forgotten(run_id)
        if i < 1200:
            journal.pruned(run_id)
    journal.started("live", "job-live")
    journal.close()
    lines = (tmp_path / FILE_NAME).read_text().splitlines()
    assert len(lines) < 2 * 101 + 1000 + 10
    records = records_in(tmp_path)
    assert sorted(records) == sorted([f"r{i}" for i in range(1200, 1300)] + ["live"])
    assert records["live"].started and records["r1299"].forgotten_at == 99.0
    assert not (tmp_path / (FILE_NAME + ".tmp")).exists()


def test_restarted_agent_reports_what_it_held_and_starts_nothing_again(
    scheduler: Server, tmp_path: Path
) -> None:
    """After a restart, a run started but not known finished is LOST, a finished one keeps its
    result until acknowledged, an acknowledged one stays silent, and none of them is started
    although the scheduler re-sends all three leases."""
    work = tmp_path / "work"
    work.mkdir()
    before = Journal(work, clock=lambda: 10.0)
    before.open()
    for run_id in ("lost", "done", "acked"):
        before.started(run_id, f"job-{run_id}")
        scheduler.servicer.lease(run_id, python_cmd("pass"))
    before.finished(RunStatus("done", RunPhase.FAILED, 4, ""))
    before.finished(RunStatus("acked", RunPhase.SUCCEEDED, 0))
    before.forgotten("acked")
    before.close()

    scheduler.servicer.ack = False
    client = AgentClient(scheduler.target, TOKEN)
    executor = LocalExecutor(work)
    with capture_logs() as logs:
        agent = Agent(
            client,
            StaticCapacity([NodeInfo("n1", {"cpu": 1000, "memory": 1024}, {})]),
            executor,
            journal=reopened(work),
        )
    try:
        for _ in range(3):
            agent.sync_once()
        request = scheduler.servicer.last()
        lost, done = run_state(request, "lost"), run_state(request, "done")
        assert lost is not None and done is not None and len(request.runs) == 2
        assert (lost.state, lost.message) == (types_pb2.RUN_STATE_LOST, RESTART_LOST)
        assert (done.state, done.exit_code) == (types_pb2.RUN_STATE_FAILED, 4)
        assert executor.poll() == []
        assert not any((work / run_id).exists() for run_id in ("lost", "done", "acked"))
    finally:
        client.close()
    loaded = [e for e in logs if e["event"] == "journal_loaded"]
    assert loaded and (loaded[0]["lost"], loaded[0]["unacknowledged"]) == (1, 2)
    # The LOST verdict itself is durable: a second restart reports the same.
    assert records_in(work)["lost"].final == RunStatus("lost", RunPhase.LOST, None, RESTART_LOST)


def test_runs_stopped_by_a_shutdown_are_journalled_lost(scheduler: Server, tmp_path: Path) -> None:
    """A run the agent stops when it shuts down is recorded LOST, so that a restarted agent
    reports it (and the scheduler requeues its job) instead of starting it again."""
    work = tmp_path / "work"
    work.mkdir()
    journal = reopened(work)
    scheduler.servicer.lease("r1", python_cmd("import time; time.sleep(60)"))
    client = AgentClient(scheduler.target, TOKEN)
    agent = Agent(
        client,
        StaticCapacity([NodeInfo("n1", {"cpu": 1000, "memory": 1024}, {})]),
        LocalExecutor(work, kill_grace=1),
        journal=journal,
    )
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    thread.start()
    try:
        scheduler.servicer.wait_for(
            lambda r: (
                (s := run_state(r, "r1")) is not None and s.state == types_pb2.RUN_STATE_RUNNING
            )
        )
    finally:
        stop.set()
        thread.join(timeout=15)
        client.close()
        journal.close()
    final = records_in(work)["r1"].final
    assert final is not None and (final.phase, final.message) == (RunPhase.LOST, SHUTDOWN_LOST)


def swap_fd_target(path: Path, replacement: str) -> None:
    """Points this process's open descriptors of `path` at `replacement` (e.g. /dev/full)."""
    new = os.open(replacement, os.O_WRONLY | os.O_APPEND)
    try:
        for name in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/self/fd/{name}") == str(path):
                    os.dup2(new, int(name))
    finally:
        os.close(new)


def test_a_lease_that_cannot_be_journalled_is_not_started(
    scheduler: Server, tmp_path: Path
) -> None:
    """With the journal's disk full the lease is neither started nor held, the failure goes to
    the scheduler as last_error, and once the disk has room the re-sent lease starts."""
    work = tmp_path / "work"
    work.mkdir()
    journal = reopened(work)
    starts = tmp_path / "starts"
    scheduler.servicer.lease("r1", python_cmd(f"open({str(starts)!r}, 'a').write('x')"))
    client = AgentClient(scheduler.target, TOKEN)
    executor = LocalExecutor(work)
    agent = Agent(
        client,
        StaticCapacity([NodeInfo("n1", {"cpu": 1000, "memory": 1024}, {})]),
        executor,
        journal=journal,
    )
    journal_path = (work / FILE_NAME).resolve()
    try:
        swap_fd_target(journal_path, "/dev/full")
        with pytest.raises(OSError):
            agent.sync_once()
        assert agent.runs() == {} and not (work / "r1").exists()
        assert agent.last_error.startswith("applying the reply failed (OSError)")
        swap_fd_target(Path("/dev/full"), str(journal_path))
        agent.sync_once()
        assert "r1" in agent.runs() and scheduler.servicer.last().last_error.startswith(
            "applying the reply failed"
        )
        assert "r1" in records_in(work)
    finally:
        executor.shutdown()
        client.close()
        journal.close()


def test_runs_the_executor_took_over_are_not_declared_lost(tmp_path: Path) -> None:
    """After a restart, runs an executor still holds (a Slurm job outlives the agent) stay
    unfinished in the journal; only the others become LOST."""
    journal = reopened(tmp_path)
    journal.started("kept", "job-1")
    journal.started("gone", "job-2")
    journal.close()
    journal = reopened(tmp_path)
    assert sorted(journal.unfinished()) == ["gone", "kept"]
    assert journal.unfinished_to_lost(keep={"kept"}) == 1
    journal.close()
    records = records_in(tmp_path)
    assert records["kept"].final is None
    final = records["gone"].final
    assert final is not None and final.phase is RunPhase.LOST
