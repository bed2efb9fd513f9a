"""Startup refusals and CLI input errors are one line and an exit code, never a traceback;
a second scheduler never shares a port with the first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scheduler.app import App
from scheduler.cli.main import main
from scheduler.config import ServerConfig
from tests.integration.conftest import BOOTSTRAP_TOKEN, REPO, Pool

# No admin token at all: the server starts without one, and none is needed here.
SERVER_ENV = {k: v for k, v in os.environ.items() if k != "SUANCHOU_ADMIN_TOKEN"}


def _server(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "scheduler.cli.main", "server", *args],
        env=SERVER_ENV,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _refused(*args: str) -> str:
    """Runs `suanchou server ARGS`, expects exit 2, returns its whole stderr."""
    proc = _server(*args)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 2, err
    return err


def test_a_second_app_on_the_same_port_refuses_to_start(pool: Pool, tmp_path: Path) -> None:
    """A second App on a port the first serves raises OSError naming the address."""
    config = ServerConfig(
        listen=pool.address,
        database_url=f"sqlite:///{tmp_path / 'other.db'}",
        admin_token=BOOTSTRAP_TOKEN,
    )
    with pytest.raises(OSError, match=f"127.0.0.1:{pool.port}"):
        App(config)


def test_a_second_server_process_on_the_same_port_exits_with_one_line(tmp_path: Path) -> None:
    """Two real `suanchou server` processes: the second exits 2 with one line naming the port."""
    first = _server("--listen", "127.0.0.1:0", "--database-url", f"sqlite:///{tmp_path / 'a.db'}")
    try:
        assert first.stderr is not None
        address = ""
        for line in first.stderr:
            if "scheduler_started" in line:
                address = json.loads(line)["address"]
                break
        assert address, "the first server did not start"
        err = _refused("--listen", address, "--database-url", f"sqlite:///{tmp_path / 'b.db'}")
        assert err.count("\n") == 1 and err.startswith("error: ") and address in err
        assert first.poll() is None
    finally:
        first.terminate()
        first.communicate(timeout=30)


def test_a_second_server_process_on_the_same_sqlite_file_exits_with_one_line(
    tmp_path: Path,
) -> None:
    """SQLite runs one scheduler: a second `suanchou server` on the same file (another port)
    exits 2 with one line naming the file and the first one's pid; the first keeps serving."""
    database = tmp_path / "shared.db"
    first = _server("--listen", "127.0.0.1:0", "--database-url", f"sqlite:///{database}")
    try:
        assert first.stderr is not None
        started = any("scheduler_started" in line for line in first.stderr)
        assert started, "the first server did not start"
        err = _refused("--listen", "127.0.0.1:0", "--database-url", f"sqlite:///{database}")
        assert err.count("\n") == 1 and err.startswith(f"error: database {database}: ")
        assert f"another scheduler (pid {first.pid})" in err and "PostgreSQL" in err
        assert first.poll() is None
    finally:
        first.terminate()
        first.communicate(timeout=30)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:////nonexistent/dir/x.db", "unable to open database file"),
        ("postgresql+asyncpg://user:secret@127.0.0.1:1/x", "driver is not installed"),
    ],
)
def test_a_bad_database_url_is_one_line(url: str, expected: str) -> None:
    """A SQLite path that cannot exist or a PostgreSQL driver that is not installed: one line,
    exit 2, no password."""
    err = _refused("--listen", "127.0.0.1:0", "--database-url", url)
    assert err.count("\n") == 1 and err.startswith("error: database ")
    assert expected in err and "secret" not in err


def test_the_documented_postgresql_url_has_its_driver() -> None:
    """The core install carries the driver of the README's `postgresql+psycopg://` URL."""
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

    assert PGDialect_psycopg.import_dbapi().__name__ == "psycopg"


def test_a_job_file_that_is_not_utf8_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A non-UTF-8 job file is `error: FILE: not UTF-8 text ...`, exit 2, no traceback."""
    monkeypatch.setenv("SUANCHOU_TOKEN", "department-token-0123456789")
    monkeypatch.delenv("SUANCHOU_CONFIG", raising=False)
    path = tmp_path / "job.yaml"
    path.write_bytes(b"name: \xff\xfe\ncommand: [echo]\n")
    assert main(["job", "submit", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {path}: not UTF-8 text (byte 6 is 0xff)\n"


def test_non_utf8_arguments_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An argv element that is not UTF-8 (a lone surrogate in Python) is exit 2, one line."""
    bad = b"\xff\xfe".decode("utf-8", "surrogateescape")
    assert main(["job", "get", bad]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: argument 3 is not valid UTF-8") and err.count("\n") == 1


def test_out_of_range_integers_in_a_job_file_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`replicas: 99999999999` cannot be sent at all: a one-line error naming the key."""
    monkeypatch.setenv("SUANCHOU_TOKEN", "department-token-0123456789")
    monkeypatch.delenv("SUANCHOU_CONFIG", raising=False)
    path = tmp_path / "job.yaml"
    path.write_text("replicas: 99999999999\nresources: {cpu: 1}\ncommand: [echo]\n")
    assert main(["job", "submit", str(path)]) == 1
    assert capsys.readouterr().err == f"error: {path}: job.replicas: 99999999999 is out of range\n"


def test_a_max_message_size_below_one_mib_is_refused() -> None:
    """`--max-message-bytes 1000` would not hold one maximum-size job spec: exit 2, one line."""
    err = _refused("--listen", "127.0.0.1:0", "--max-message-bytes", "1000")
    assert err == "error: max_message_bytes: must be at least 1048576\n"
