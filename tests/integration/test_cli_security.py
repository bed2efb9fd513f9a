"""The security commands against a real scheduler: principals from the bootstrap token file,
token list/rotate/revoke, audit list/export/verify, with every token read from a file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from scheduler.cli.main import main
from tests.integration.conftest import Pool


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cli_env(pool: Pool, monkeypatch: pytest.MonkeyPatch) -> Pool:
    monkeypatch.setenv("SUANCHOU_SCHEDULER", pool.address)
    for name in ("SUANCHOU_TOKEN", "SUANCHOU_ADMIN_TOKEN", "SUANCHOU_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return pool


def secret_file(tmp_path: Path, name: str, token: str) -> str:
    path = tmp_path / name
    path.write_text(token + "\n")
    path.chmod(0o600)
    return str(path)


def test_principals_tokens_and_audit_from_the_command_line(
    cli_env: Pool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A security admin made with the bootstrap token file creates an auditor, rotates and
    revokes tokens; the auditor lists, exports and verifies the trail; nothing needs a token in
    the environment and no listing shows a secret."""
    boot = str(tmp_path / "bootstrap-token")  # written by the pool, as an operator would
    code, out, _ = run(
        capsys, "--json", "principal", "create", "sec", "--role", "security-admin",
        "--admin-token-file", boot,
    )  # fmt: skip
    assert code == 0
    sec = secret_file(tmp_path, "sec", json.loads(out)["token"])
    code, out, _ = run(
        capsys, "--json", "principal", "create", "aud", "--role", "auditor",
        "--admin-token-file", sec,
    )  # fmt: skip
    assert code == 0
    auditor_token = json.loads(out)["token"]
    aud = secret_file(tmp_path, "aud", auditor_token)
    code, out, _ = run(capsys, "principal", "list", "--admin-token-file", sec)
    assert code == 0 and "aud" in out and "security-admin" in out

    code, out, _ = run(capsys, "--json", "token", "list", "--principal", "aud",
                       "--admin-token-file", sec)  # fmt: skip
    [info] = json.loads(out)["tokens"]
    assert code == 0 and auditor_token not in out
    code, out, _ = run(capsys, "--json", "token", "rotate", info["token_id"],
                       "--admin-token-file", sec)  # fmt: skip
    assert code == 0
    rotated = json.loads(out)
    assert rotated["revoked"]["token_id"] == info["token_id"]
    code, _, err = run(capsys, "audit", "verify", "--admin-token-file", aud)
    assert code == 1 and "UNAUTHENTICATED" in err  # the old auditor token died with rotation
    aud = secret_file(tmp_path, "aud", rotated["token"])
    code, out, _ = run(capsys, "audit", "verify", "--admin-token-file", aud)
    assert code == 0 and out.startswith("ok: ")

    code, out, _ = run(capsys, "audit", "list", "--since", "1h", "--principal", "sec",
                       "--admin-token-file", aud)  # fmt: skip
    assert code == 0 and "CreatePrincipal" in out and "RotateToken" in out
    code, out, _ = run(capsys, "audit", "export", "--since", "2000-01-01",
                       "--admin-token-file", aud)  # fmt: skip
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["seq"] for r in lines] == list(range(1, len(lines) + 1))
    denied = [r for r in lines if r["outcome"] == "UNAUTHENTICATED"]
    assert len(denied) == 1 and denied[0]["rpc"].endswith("/VerifyAuditChain")

    code, out, _ = run(capsys, "token", "revoke", rotated["token_info"]["token_id"],
                       "--admin-token-file", sec)  # fmt: skip
    assert code == 0 and "revoked" in out
    code, _, err = run(capsys, "audit", "list", "--admin-token-file", aud)
    assert code == 1 and "UNAUTHENTICATED" in err


def test_audit_verify_names_a_tampered_record(
    cli_env: Pool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Editing a stored audit record in the database makes `audit verify` fail naming its seq."""
    aud = secret_file(tmp_path, "aud", cli_env.principal("aud", "auditor"))
    for name in ("公安局", "交通局", "民政局"):
        cli_env.department(name)
    db = sqlite3.connect(tmp_path / "suanchou.db")
    with db:
        db.execute("UPDATE audit_record SET message = 'nothing to see' WHERE seq = 3")
    db.close()
    code, out, _ = run(capsys, "audit", "verify", "--admin-token-file", aud)
    assert code == 1 and out.startswith("BROKEN at seq 3:")


def test_a_missing_token_file_is_a_one_line_error(
    cli_env: Pool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A token file that does not exist is named in a one-line error, before any call."""
    code, _, err = run(capsys, "token", "list", "--admin-token-file", str(tmp_path / "nope"))
    assert (
        code == 1
        and err.strip() == f"error: token file {tmp_path / 'nope'}: No such file or directory"
    )
