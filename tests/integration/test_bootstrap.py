"""Server start-up with and without a bootstrap admin token."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from protos.suanchou.v1 import admin_pb2, admin_pb2_grpc
from scheduler.app import App
from scheduler.config import ConfigError, ServerConfig, load


def test_the_server_starts_without_any_admin_token(tmp_path: Path) -> None:
    """No bootstrap token is needed to serve: every admin call is then simply unauthenticated."""
    app = App(ServerConfig(listen="127.0.0.1:0", database_url=f"sqlite:///{tmp_path / 's.db'}"))
    app.start(run_cycles=False)
    try:
        with grpc.insecure_channel(app.address) as channel, pytest.raises(grpc.RpcError) as err:
            admin_pb2_grpc.DepartmentServiceStub(channel).ListDepartments(
                admin_pb2.ListDepartmentsRequest(), timeout=10
            )
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        app.stop(grace=0.5)


def test_the_bootstrap_token_is_read_from_its_file(tmp_path: Path) -> None:
    """admin_token_file wins over admin_token; a missing or empty file is a config error naming
    the file, and a short token is refused at start."""
    file = tmp_path / "bootstrap"
    file.write_text("  from-the-file-0123456789\n")
    config = load(None, {"admin_token_file": str(file)}, environ={"SUANCHOU_ADMIN_TOKEN": "x"})
    assert config.bootstrap_token() == "from-the-file-0123456789"
    assert load(None, {}, environ={"SUANCHOU_ADMIN_TOKEN": "legacy"}).bootstrap_token() == "legacy"
    file.write_text("\n")
    with pytest.raises(ConfigError, match=r"bootstrap.*empty"):
        config.bootstrap_token()
    missing = load(None, {"admin_token_file": str(tmp_path / "nope")}, environ={})
    with pytest.raises(ConfigError, match="nope"):
        missing.bootstrap_token()
    file.write_text("short")
    with pytest.raises(ValueError, match="at least 16"):
        App(ServerConfig(database_url=f"sqlite:///{tmp_path / 's.db'}", admin_token_file=str(file)))


def test_security_settings_come_from_the_config(tmp_path: Path) -> None:
    """Throttle and retention settings are read like every other key, and checked."""
    config = load(
        None,
        {},
        environ={"SUANCHOU_AUDIT_RETENTION_DAYS": "365", "SUANCHOU_AUTH_MAX_FAILURES": "5"},
    )
    assert config.security.audit_retention_days == 365 and config.security.auth_max_failures == 5
    with pytest.raises(ConfigError, match="auth_lockout_s"):
        load(None, {}, environ={"SUANCHOU_AUTH_LOCKOUT_S": "-1"})
