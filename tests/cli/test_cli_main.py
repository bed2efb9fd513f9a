"""The parser and dispatch: delegated programs, flag placement, exit codes, import hygiene."""

from __future__ import annotations

import ast
import subprocess
import sys
import types
from pathlib import Path

import pytest

from scheduler.cli.main import main, parse_args

CLI_DIR = Path(__file__).resolve().parents[2] / "scheduler" / "cli"


@pytest.mark.parametrize(
    ("command", "module"),
    [("server", "scheduler.app"), ("demo", "scheduler.demo"), ("agent", "agents.main")],
)
def test_delegated_commands_get_the_rest_of_argv(monkeypatch, command, module):
    """`suanchou server|demo|agent ...` calls that module's main with the remaining arguments."""
    seen: list[list[str]] = []
    fake = types.ModuleType(module)
    fake.main = lambda argv: seen.append(argv) or 7  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module, fake)
    assert main([command, "--help", "--listen", "x:1"]) == 7
    assert seen == [["--help", "--listen", "x:1"]]


def test_delegated_command_after_flags_is_a_usage_error(capsys):
    """Global flags before `server` are refused with a hint instead of being silently dropped."""
    assert main(["--json", "server"]) == 2
    assert "put them first" in capsys.readouterr().err


def test_help_does_not_import_grpc_or_protos():
    """`suanchou --help` imports neither grpc nor the generated protos, so it starts fast."""
    probe = (
        "import sys\nfrom scheduler.cli.main import main\n"
        "try:\n    main(['job', 'submit', '--help'])\nexcept SystemExit as e:\n    code = e.code\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('grpc', 'protos', 'yaml')]\n"
        "print(code, loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=CLI_DIR.parents[1],
    )
    assert result.stdout.splitlines()[-1] == "0 []"


def test_common_flags_work_before_and_after_the_subcommand():
    """--json and the connection flags are accepted on either side of the subcommand."""
    assert parse_args(["--json", "job", "list"]).json is True
    after = parse_args(["job", "list", "--json", "--scheduler", "h:1"])
    assert (after.json, after.scheduler) == (True, "h:1")
    before = parse_args(["--scheduler", "h:2", "--token", "t", "cluster", "list"])
    assert (before.scheduler, before.token, before.json) == ("h:2", "t", False)


def test_double_dash_is_the_command_only_for_submit():
    """After `--`, submit takes the job's argv; other commands treat `--` the usual way."""
    submit = parse_args(["job", "submit", "--cpu", "1", "--", "python", "--version"])
    assert submit.command == ["python", "--version"]
    cancel = parse_args(["job", "cancel", "--", "-odd-id"])
    assert (cancel.job_ids, cancel.command) == (["-odd-id"], [])


def test_usage_errors_exit_2(capsys):
    """Malformed arguments exit 2, from argparse and from the commands' own checks."""
    with pytest.raises(SystemExit) as raised:
        main(["job", "list", "--limit", "many"])
    assert raised.value.code == 2
    with pytest.raises(SystemExit) as raised:
        main([])
    assert raised.value.code == 2
    assert main(["--token", "t", "job", "list", "--limit", "0"]) == 2
    assert main(["--token", "t", "job", "list", "--state", "WAITING"]) == 2
    err = capsys.readouterr().err
    assert "error: --limit must be at least 1" in err
    assert "expected one of QUEUED, LEASED, RUNNING" in err


def test_cli_is_a_pure_grpc_client():
    """No CLI module imports the scheduler's server side (state, service, api, app, placement)."""
    forbidden = ("scheduler.state", "scheduler.service", "scheduler.api", "scheduler.app",
                 "scheduler.placement", "scheduler.config")  # fmt: skip
    offenders = []
    for path in sorted(CLI_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.startswith(forbidden)]
    assert offenders == []
