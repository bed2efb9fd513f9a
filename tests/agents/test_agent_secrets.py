"""Secrets of the agent never reach a replica: a real `python -m agents` process and its jobs."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_helpers import TOKEN, Server, python_cmd, run_state, wait_until

from agents.environment import PASSTHROUGH, RUN_VARIABLES
from agents.main import EXIT_USAGE, main
from protos.suanchou.v1 import types_pb2

REPO = Path(__file__).resolve().parents[2]
ADMIN_SECRET = "admin-" + secrets.token_hex(16)
DEPARTMENT_SECRET = "dept-" + secrets.token_hex(16)
CANARY = ("SUANCHOU_TEST_CANARY_" + secrets.token_hex(4).upper(), "canary-" + secrets.token_hex(8))

# Reads what exec handed the replica (os.environ may gain Python's own LC_CTYPE) and writes it
# as JSON to the path in argv[1].
DUMP_ENV = (
    "import json, sys\n"
    "raw = open('/proc/self/environ', 'rb').read().split(b'\\0')\n"
    "env = dict(v.decode().split('=', 1) for v in raw if v)\n"
    "open(sys.argv[1] + '.tmp', 'w').write(json.dumps(env))\n"
    "import os; os.rename(sys.argv[1] + '.tmp', sys.argv[1])\n"
)


def start_agent(
    scheduler: Server,
    tmp_path: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    prefix: tuple[str, ...] = (),
) -> subprocess.Popen[bytes]:
    """`python -m agents` against the scripted scheduler, its stderr in tmp_path/agent.log."""
    args = ["--scheduler", scheduler.target, "--workdir", str(tmp_path / "work"), *extra]
    with (tmp_path / "agent.log").open("ab") as log:
        return subprocess.Popen(
            [*prefix, sys.executable, "-m", "agents", *args, "--interval", "0.05"],
            env=env,
            cwd=tmp_path,
            stderr=log,
        )


@pytest.fixture
def agents_started() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Agent processes a test starts; killed and reaped afterwards."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def finished(scheduler: Server, run_id: str) -> types_pb2.RunState.ValueType:
    """Waits until the agent reports `run_id` finished and returns its state."""

    def done(request: object) -> bool:
        report = run_state(request, run_id)  # type: ignore[arg-type]
        return report is not None and report.state in (
            types_pb2.RUN_STATE_SUCCEEDED,
            types_pb2.RUN_STATE_FAILED,
        )

    report = run_state(scheduler.servicer.wait_for(done, timeout=20), run_id)
    assert report is not None
    return report.state


def test_replica_environment_holds_only_the_documented_variables(
    scheduler: Server, tmp_path: Path, agents_started: list[subprocess.Popen[bytes]]
) -> None:
    """A replica of an agent holding three tokens and a canary sees none of them, only the list."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SUANCHOU_AGENT_TOKEN": TOKEN,
        "SUANCHOU_ADMIN_TOKEN": ADMIN_SECRET,
        "SUANCHOU_TOKEN": DEPARTMENT_SECRET,
        CANARY[0]: CANARY[1],
    }
    agents_started.append(start_agent(scheduler, tmp_path, env=env))
    dump = tmp_path / "env.json"
    scheduler.servicer.ack = False  # finished runs stay in every Sync: none is missed
    scheduler.servicer.lease("r1", [*python_cmd(DUMP_ENV), str(dump)], env={"MODEL": "qwen"})
    assert finished(scheduler, "r1") == types_pb2.RUN_STATE_SUCCEEDED
    wait_until(dump.exists, what="the replica's environment dump")
    text = dump.read_text()
    seen = json.loads(text)
    allowed = {*PASSTHROUGH, "HOME", *RUN_VARIABLES, "MODEL"}
    assert set(seen) <= allowed, f"unexpected variables: {sorted(set(seen) - allowed)}"
    assert seen["HOME"] == str((tmp_path / "work" / "r1").resolve())
    assert seen["SUANCHOU_RUN_ID"] == "r1" and seen["MODEL"] == "qwen"
    for secret in (TOKEN, ADMIN_SECRET, DEPARTMENT_SECRET, CANARY[1]):
        assert secret not in text


# Runs argv[1:] as this user without privileges: as root, empties the capability bounding set
# so that the exec'ed program has no capabilities (CAP_SYS_PTRACE would read any process).
UNPRIVILEGED = (
    sys.executable,
    "-c",
    "import ctypes, os, sys\n"
    "if os.getuid() == 0:\n"
    "    for cap in range(64): ctypes.CDLL(None).prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n",
)
READ_ENVIRON = """
import sys
try:
    data = open(f"/proc/{sys.argv[1]}/environ", "rb").read()
except PermissionError:
    print("denied")
else:
    print("read", len(data))
"""


def read_environ_as_same_user(pid: int) -> str:
    """'denied', or 'read N' if an unprivileged process of the same user can read it."""
    out = subprocess.run(
        [*UNPRIVILEGED, sys.executable, "-c", READ_ENVIRON, str(pid)],
        capture_output=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout.decode().strip()


def test_token_file_is_used_and_the_agent_hides_its_environment(
    scheduler: Server, tmp_path: Path, agents_started: list[subprocess.Popen[bytes]]
) -> None:
    """With --token-file the agent authenticates, and a same-user process cannot read its
    /proc/<pid>/environ (the agent is non-dumpable), though it can read a plain process's."""
    token_file = tmp_path / "agent.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    env = {**os.environ, "PYTHONPATH": str(REPO), "SUANCHOU_ADMIN_TOKEN": ADMIN_SECRET}
    env.pop("SUANCHOU_AGENT_TOKEN", None)
    agent = start_agent(
        scheduler, tmp_path, "--token-file", str(token_file), env=env, prefix=UNPRIVILEGED
    )
    agents_started.append(agent)
    scheduler.servicer.wait_for(lambda request: len(request.nodes) > 0, timeout=20)
    ready = tmp_path / "plain-ready"
    sleep = [sys.executable, "-c", f"import time; open({str(ready)!r}, 'w'); time.sleep(60)"]
    plain = subprocess.Popen([*UNPRIVILEGED, *sleep], env=env)
    try:
        wait_until(ready.exists, what="the plain process to run (after the exec)")
        assert read_environ_as_same_user(plain.pid).startswith("read")
    finally:
        plain.kill()
        plain.wait()
    assert read_environ_as_same_user(agent.pid) == "denied"
    log = (tmp_path / "agent.log").read_text()
    assert "token_file_readable_by_others" not in log and TOKEN not in log


def test_readable_token_file_is_warned_about(
    scheduler: Server, tmp_path: Path, agents_started: list[subprocess.Popen[bytes]]
) -> None:
    """A token file its group or everyone may read still works, with a warning in the log."""
    token_file = tmp_path / "agent.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o644)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("SUANCHOU_AGENT_TOKEN", None)
    agents_started.append(
        start_agent(scheduler, tmp_path, "--token-file", str(token_file), env=env)
    )
    scheduler.servicer.wait_for(lambda request: len(request.nodes) > 0, timeout=20)
    wait_until(
        lambda: "token_file_readable_by_others" in (tmp_path / "agent.log").read_text(),
        what="the warning about the token file",
    )


def test_hardening_drops_the_token_variable_and_dumpability() -> None:
    """harden_process() removes SUANCHOU_AGENT_TOKEN from os.environ and clears PR_GET_DUMPABLE."""
    code = (
        "import ctypes, os\n"
        "from agents.credentials import harden_process\n"
        "os.environ['SUANCHOU_AGENT_TOKEN'] = 'x'\n"
        "assert harden_process()\n"
        "print(os.environ.get('SUANCHOU_AGENT_TOKEN'), ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=30)
    assert out.stdout.decode().split() == ["None", "0"], out.stderr.decode()


@pytest.mark.parametrize(
    ("content", "error"),
    [(b"", "empty"), (b"\xff\xfe\n", "not UTF-8"), (b"x" * 5000, "larger than 4096 bytes")],
)
def test_bad_token_file_is_a_one_line_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, error: str
) -> None:
    """An empty, binary or oversized token file stops the agent with the path and the reason."""
    token_file = tmp_path / "agent.token"
    token_file.write_bytes(content)
    assert main(["--token-file", str(token_file), "--workdir", str(tmp_path / "w")]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--token-file {token_file}: {error}" in err
