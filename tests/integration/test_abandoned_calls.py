"""A call whose caller gave up is logged as abandoned, not as OK."""

from __future__ import annotations

import grpc
import pytest
from structlog.testing import capture_logs

from protos.suanchou.v1 import admin_pb2
from tests.integration.conftest import Pool, md


def test_call_finished_after_the_deadline_is_logged_as_abandoned(pool: Pool) -> None:
    """The handler waits for the database past the client's deadline; the log says so."""
    assert pool.app is not None
    store = pool.app.store
    with capture_logs() as logs:
        with store.unit() as tx:  # holds SQLite's write lock: the create below must wait
            tx.departments.all()
            with pytest.raises(grpc.RpcError) as err:
                pool.departments.CreateDepartment(
                    admin_pb2.CreateDepartmentRequest(name="late", display_name="late"),
                    metadata=md(pool.admin_token),
                    timeout=0.5,
                )
            assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        pool.wait_for(
            lambda: any(e.get("method", "").endswith("/CreateDepartment") for e in logs),
            20,
            "the abandoned call's log line",
        )
    [line] = [e for e in logs if e.get("method", "").endswith("/CreateDepartment")]
    assert line["event"] == "rpc_completed" and line["abandoned"] is True
    assert line["code"] == "DEADLINE_EXCEEDED" and line["log_level"] == "warning"
