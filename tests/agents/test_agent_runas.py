"""`--run-as USER`: a real root agent runs its replicas as `nobody`."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_helpers import TOKEN, Server, pid_gone, run_state, wait_until

from agents.runas import resolve_run_as
from protos.suanchou.v1 import types_pb2

REPO = Path(__file__).resolve().parents[2]


def require_root() -> None:
    """Skips without root, except in CI, which runs as root and must run this test."""
    if os.geteuid() == 0:
        return
    if os.environ.get("CI") == "true":
        pytest.fail("CI must run the --run-as tests as root")
    pytest.skip("--run-as needs root")


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory every user may pass through (pytest's tmp_path is private to root), so that
    only a file's own mode decides whether a replica can read it."""
    path = Path(tempfile.mkdtemp(prefix="suanchou-runas-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_replica_runs_as_nobody_and_cannot_reach_the_agent_s_secrets(
    scheduler: Server, open_dir: Path
) -> None:
    """Under --run-as nobody a replica has nobody's uid and gid and no other groups, owns its
    run directory, can read neither the agent's 0600 token file nor its environ, and still dies
    with a killed agent."""
    require_root()
    tmp_path = open_dir
    nobody = pwd.getpwnam("nobody")
    token_file = tmp_path / "agent.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    public = tmp_path / "public.txt"
    public.write_text("anyone\n")
    public.chmod(0o644)
    work = tmp_path / "work"
    args = ["--scheduler", scheduler.target, "--workdir", str(work), "--interval", "0.05"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    script = (
        f"id -u; id -g; id -G; cat {public}; cd $HOME && echo home-ok; "
        f"if cat {token_file} >/dev/null 2>&1; then echo token-read; else echo token-denied; fi; "
        "if cat /proc/$PPID/environ >/dev/null 2>&1; then echo environ-read; "
        "else echo environ-denied; fi; echo $PPID"
    )
    scheduler.servicer.ack = False  # finished runs stay in every Sync: none is missed
    scheduler.servicer.lease("r1", ["/bin/sh", "-c", script])
    args += ["--token-file", str(token_file), "--run-as", "nobody"]
    with (tmp_path / "agent.log").open("wb") as log:
        agent = subprocess.Popen(
            [sys.executable, "-m", "agents", *args],
            env=env,
            cwd=tmp_path,
            stderr=log,
        )
    try:
        request = scheduler.servicer.wait_for(
            lambda r: (
                (s := run_state(r, "r1")) is not None and s.state == types_pb2.RUN_STATE_SUCCEEDED
            ),
            timeout=20,
        )
        assert run_state(request, "r1") is not None
        stdout = work / "r1" / "stdout.log"
        wait_until(lambda: stdout.read_text().count("\n") == 8, what="the replica's report")
        uid, gid, groups, readable, home, token, environ, parent = stdout.read_text().split()
        assert (int(uid), int(gid), groups.split()) == (
            nobody.pw_uid,
            nobody.pw_gid,
            [str(nobody.pw_gid)],
        )
        assert (readable, home) == ("anyone", "home-ok")  # not blocked on the way there
        assert (token, environ) == ("token-denied", "environ-denied")
        assert int(parent) == agent.pid  # it was the agent's environ that was refused
        assert (work / "r1").stat().st_uid == nobody.pw_uid
        assert (work.stat().st_mode & 0o777, work.stat().st_uid) == (0o711, 0)
        assert (work / "journal.jsonl").stat().st_mode & 0o077 == 0

        # PR_SET_PDEATHSIG survives the switch of user: kill -9 of the agent kills the replica.
        scheduler.servicer.lease("r2", ["/bin/sh", "-c", "echo $$; exec sleep 60"])
        pid_file = work / "r2" / "stdout.log"
        wait_until(lambda: pid_file.exists() and pid_file.read_text().endswith("\n"))
        agent.kill()
        pid = int(pid_file.read_text())
        wait_until(lambda: pid_gone(pid), timeout=10, what="the replica to die with its agent")
    finally:
        agent.kill()
        agent.wait(timeout=10)


def test_run_as_is_refused_without_root_or_for_a_privileged_user() -> None:
    """--run-as needs a root agent and an existing user other than root."""
    with pytest.raises(ValueError, match="must run as root"):
        resolve_run_as("nobody", euid=1000)
    with pytest.raises(ValueError, match="no such user"):
        resolve_run_as("no-such-user-here", euid=0)
    with pytest.raises(ValueError, match="unprivileged"):
        resolve_run_as("root", euid=0)
    assert resolve_run_as("nobody", euid=0).uid == pwd.getpwnam("nobody").pw_uid
