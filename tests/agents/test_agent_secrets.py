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
    scheduler: Server, tmp_path: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`python -m agents` against the scripted scheduler, its stderr in tmp_path/agent.log."""
    args = ["--scheduler", scheduler.target, "--workdir", str(tmp_path / "work"), *extra]
    with (tmp_path / "agent.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "agents", *args, "--interval", "0.05", "--kill-grace", "2"],
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
