"""The agent as a program: `python -m agents` and `agents.main.main()`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_helpers import TOKEN, Server, pid_gone, python_cmd, run_state, wait_until

from agents.main import EXIT_USAGE, main
from protos.suanchou.v1 import types_pb2

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def agent_process(scheduler: Server, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m agents` against the test server, token from the environment."""
    env = {**os.environ, "SUANCHOU_AGENT_TOKEN": TOKEN, "PYTHONPATH": str(REPO)}
    args = ["--scheduler", scheduler.target, "--workdir", str(tmp_path / "work")]
    with (tmp_path / "agent.log").open("wb") as log:  # a file, not a pipe nobody drains
        proc = subprocess.Popen(
            [sys.executable, "-m", "agents", *args, "--interval", "0.05", "--kill-grace", "2"],
            env=env,
            cwd=tmp_path,
            stderr=log,
        )
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def start_sleeper(scheduler: Server, tmp_path: Path) -> int:
    """Leases a long replica to the agent and returns its pid once it runs."""
    pid_file = tmp_path / "pid"
    write_pid = f"open({str(pid_file)!r}, 'w').write(f'{{os.getpid()}}\\n')"
    code = f"import os, time\n{write_pid}\ntime.sleep(60)"
    scheduler.servicer.lease("r1", python_cmd(code))

    def running(request: object) -> bool:
        report = run_state(request, "r1")  # type: ignore[arg-type]
        return report is not None and report.state == types_pb2.RUN_STATE_RUNNING

    scheduler.servicer.wait_for(running)
    wait_until(lambda: pid_file.exists() and pid_file.read_text().endswith("\n"))
    return int(pid_file.read_text())


def test_killed_agent_leaves_no_replica_behind(
    scheduler: Server, agent_process: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    """SIGKILL of the agent also kills its replicas (PR_SET_PDEATHSIG), so no work is orphaned."""
    pid = start_sleeper(scheduler, tmp_path)
    agent_process.kill()
    agent_process.wait(timeout=10)
    wait_until(lambda: pid_gone(pid), timeout=5, what="the replica to die with its agent")


def test_sigterm_stops_runs_withdraws_nodes_and_exits_zero(
    scheduler: Server, agent_process: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    """SIGTERM ends the replicas, sends a last Sync without nodes or runs, and exits 0."""
    pid = start_sleeper(scheduler, tmp_path)
    agent_process.send_signal(signal.SIGTERM)
    assert agent_process.wait(timeout=10) == 0
    assert pid_gone(pid)
    last = scheduler.servicer.last()
    assert (list(last.nodes), list(last.runs)) == ([], [])
    log = (tmp_path / "agent.log").read_text()
    assert '"event": "agent_stopped"' in log and TOKEN not in log


def test_wrong_token_exits_three(
    scheduler: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """main() returns 3 when the scheduler refuses the token, and says so in the log."""
    argv = ["--scheduler", scheduler.target, "--token", "nope", "--workdir", str(tmp_path)]
    assert main(argv) == 3
    assert "agent_rejected" in capsys.readouterr().err


def test_missing_token_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --token or SUANCHOU_AGENT_TOKEN the agent does not start."""
    monkeypatch.delenv("SUANCHOU_AGENT_TOKEN", raising=False)
    assert main([]) == EXIT_USAGE
    assert "SUANCHOU_AGENT_TOKEN" in capsys.readouterr().err


def test_invalid_nodes_file_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad nodes file stops the agent at start with the file and field in the message."""
    monkeypatch.setenv("SUANCHOU_AGENT_TOKEN", TOKEN)
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text("nodes: [{name: a, capacity: {memory: 4 gigs}}]\n")
    assert main(["--nodes", str(nodes), "--workdir", str(tmp_path / "w")]) == EXIT_USAGE
    assert "nodes.yaml: nodes[0].capacity.memory:" in capsys.readouterr().err


def test_symlinked_workdir_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A work directory that is a symlink (e.g. planted in /tmp) is refused."""
    monkeypatch.setenv("SUANCHOU_AGENT_TOKEN", TOKEN)
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert main(["--workdir", str(tmp_path / "link")]) == EXIT_USAGE
    assert "not a directory" in capsys.readouterr().err
