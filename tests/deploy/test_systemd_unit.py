"""deploy/systemd/suanchou-agent.service: valid for systemd, and the agent command line it runs
(with each AGENT_ARGS its comment documents) is accepted by the agent's own parser."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agents.main import build_parser
from tests.deploy.helm_render import REPO

UNIT = REPO / "deploy" / "systemd" / "suanchou-agent.service"


def _directives() -> dict[str, list[str]]:
    """Key -> values of the unit's directives (systemd allows a key more than once)."""
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    """`systemd-analyze verify` reports nothing for the unit (its ExecStart pointed at this
    checkout's `suanchou`, which /opt/suanchou is on a real host)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        message = "systemd-analyze is not installed (Debian package systemd)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)  # CI's machine has it: a missing tool is a broken setup there
        pytest.skip(message)
    suanchou = Path(sys.executable).with_name("suanchou")
    assert suanchou.exists(), suanchou
    text = UNIT.read_text().replace("/opt/suanchou/bin/suanchou", str(suanchou))
    # The environment file is the host's; `-` lets verify run without it.
    text = text.replace("EnvironmentFile=/", "EnvironmentFile=-/")
    copy = tmp_path / UNIT.name
    copy.write_text(text)
    result = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


@pytest.mark.parametrize("example", ["--nodes host", "--executor slurm"])
def test_the_documented_command_lines_parse(example: str) -> None:
    """ExecStart with each documented AGENT_ARGS is a valid `suanchou agent` command: the token
    from a systemd credential file, the journal in the state directory (a Slurm --workdir on the
    shared filesystem wins, being later)."""
    directives = _directives()
    (exec_start,) = directives["ExecStart"]
    documented = [
        m.group(1) for m in re.finditer(r"^#\s+AGENT_ARGS=(.*)$", UNIT.read_text(), re.MULTILINE)
    ]
    (agent_args,) = [a for a in documented if a.startswith(example)]
    command = (
        exec_start.replace("${CREDENTIALS_DIRECTORY}", "/run/credentials/suanchou-agent.service")
        .replace("${STATE_DIRECTORY}", "/var/lib/suanchou-agent")
        .replace("$AGENT_ARGS", agent_args)
    )
    argv = shlex.split(command)
    assert argv[:2] == ["/opt/suanchou/bin/suanchou", "agent"]
    args = build_parser().parse_args(argv[2:])
    assert str(args.token_file) == "/run/credentials/suanchou-agent.service/agent.token"
    assert directives["LoadCredential"] == ["agent.token:/etc/suanchou/agent.token"]
    expected_workdir = "/shared/suanchou/agent" if "slurm" in example else "/var/lib/suanchou-agent"
    assert str(args.workdir) == expected_workdir


def test_the_unit_stops_the_agent_first_and_keeps_the_token_out_of_the_environment() -> None:
    """SIGTERM goes to the agent alone (it stops and reports its replicas), it may manage a
    delegated cgroup for memory limits, and no directive puts a token in the environment."""
    directives = _directives()
    assert directives["KillMode"] == ["mixed"]
    assert directives["Delegate"] == ["yes"]
    assert directives["Restart"] == ["on-failure"]
    assert "Environment" not in directives
    assert all("TOKEN" not in line.upper() for line in directives.get("PassEnvironment", []))
