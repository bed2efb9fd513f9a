"""Listings come in pages bounded in count and bytes, the CLI follows them, and one configured
max message size governs server and CLI alike."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import grpc
import pytest

from protos.suanchou.v1 import admin_pb2, agent_pb2, agent_pb2_grpc, jobs_pb2, jobs_pb2_grpc
from scheduler.api.budget import DEFAULT_MAX_MESSAGE_BYTES
from scheduler.app import App
from scheduler.cli.main import main
from scheduler.cli.settings import DEFAULT_MAX_MESSAGE_BYTES as CLI_DEFAULT
from scheduler.config import ServerConfig, load
from tests.integration.conftest import BOOTSTRAP_TOKEN, Pool, md, py_job
from tests.integration.tls_app import create_admin


def test_server_and_cli_share_one_default_max_message_size() -> None:
    """8 MiB for the server (config key and flag) and the CLI alike."""
    assert DEFAULT_MAX_MESSAGE_BYTES == CLI_DEFAULT == 8 * 1024 * 1024
    assert load(None, {}, environ={}).max_message_bytes == DEFAULT_MAX_MESSAGE_BYTES
    assert load(None, {}, {"SUANCHOU_MAX_MESSAGE_BYTES": "2097152"}).max_message_bytes == 2**21


def test_departments_and_clusters_are_listed_in_pages(pool: Pool) -> None:
    """page_size 2 gives every department and cluster once, by name, over several pages; a page
    size above 500 or a forged token names its field."""
    for name in ("d1", "d2", "d3", "d4", "d5"):
        pool.department(name)
    for name in ("c1", "c2", "c3"):
        pool.cluster(name, [], start_agent=False)

    def walk(call: object, request_type: type, field: str) -> list[str]:
        names, token, pages = [], "", 0
        while True:
            request = request_type(page_size=2, page_token=token)
            page = call(request, metadata=md(pool.admin_token))  # type: ignore[operator]
            items = getattr(page, field)
            names += [i.name if field == "departments" else i.spec.name for i in items]
            pages += 1
            token = page.next_page_token
            if not token:
                return names if pages > 1 else []

    departments = walk(
        pool.departments.ListDepartments, admin_pb2.ListDepartmentsRequest, "departments"
    )
    assert departments == ["d1", "d2", "d3", "d4", "d5"]
    clusters = walk(pool.clusters.ListClusters, admin_pb2.ListClustersRequest, "clusters")
    assert clusters == ["c1", "c2", "c3"]
    for request in (
        admin_pb2.ListClustersRequest(page_size=501),
        admin_pb2.ListClustersRequest(page_token=base64.urlsafe_b64encode(b"seq:3").decode()),
        admin_pb2.ListClustersRequest(page_token=base64.urlsafe_b64encode(b"name:a\0").decode()),
    ):
        with pytest.raises(grpc.RpcError) as err:
            pool.clusters.ListClusters(request, metadata=md(pool.admin_token))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (err.value.details() or "").split(":")[0] in ("page_size", "page_token")


def test_the_agents_error_is_shown_by_cluster_list_and_get(
    pool: Pool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SyncRequest.last_error becomes Cluster.agent_error; `cluster list` and `cluster get`
    print it; a clean sync clears it."""
    token = pool.cluster("gov-a", [], start_agent=False)
    agent = agent_pb2_grpc.AgentServiceStub(pool.channel)
    agent.Sync(
        agent_pb2.SyncRequest(agent_id="a1", last_error="RESOURCE_EXHAUSTED: reply too large"),
        metadata=md(token),
    )
    monkeypatch.setenv("SUANCHOU_SCHEDULER", pool.address)
    monkeypatch.setenv("SUANCHOU_ADMIN_TOKEN", pool.admin_token)
    monkeypatch.delenv("SUANCHOU_CONFIG", raising=False)
    assert main(["cluster", "list"]) == 0
    assert "gov-a: agent error: RESOURCE_EXHAUSTED: reply too large" in capsys.readouterr().out
    assert main(["cluster", "get", "gov-a"]) == 0
    assert "RESOURCE_EXHAUSTED: reply too large" in capsys.readouterr().out
    agent.Sync(agent_pb2.SyncRequest(agent_id="a1"), metadata=md(token))
    assert pool.cluster_info("gov-a").agent_error == ""


def test_a_smaller_max_message_size_pages_job_lists_by_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server at 1 MiB: 40 jobs of 60 KB come in pages of well under 40 however large
    page_size is, and `job list --all --max-message-bytes 1048576` gets every one."""
    config = ServerConfig(
        listen="127.0.0.1:0",
        database_url=f"sqlite:///{tmp_path / 'small.db'}",
        admin_token=BOOTSTRAP_TOKEN,
        max_message_bytes=1024 * 1024,
    )
    app = App(config)
    app.start(run_cycles=False)
    try:
        admin = create_admin(grpc.insecure_channel(app.address))
        with grpc.insecure_channel(app.address) as channel:
            token = admin_pb2.CreateDepartmentResponse.FromString(
                channel.unary_unary("/suanchou.v1.DepartmentService/CreateDepartment")(
                    admin_pb2.CreateDepartmentRequest(
                        name="d", display_name="d"
                    ).SerializeToString(),
                    metadata=md(admin),
                )
            ).token
            jobs = jobs_pb2_grpc.JobServiceStub(channel)
            for batch in range(4):
                items = [
                    py_job(
                        f"j{batch}-{i}", "pass", env={"PAD1": "p" * 30_000, "PAD2": "q" * 30_000}
                    )
                    for i in range(10)
                ]
                jobs.SubmitJobs(jobs_pb2.SubmitJobsRequest(items=items), metadata=md(token))
            page = jobs.ListJobs(jobs_pb2.ListJobsRequest(page_size=500), metadata=md(token))
            assert 0 < len(page.jobs) < 10 and page.next_page_token
        monkeypatch.setenv("SUANCHOU_SCHEDULER", app.address)
        monkeypatch.setenv("SUANCHOU_TOKEN", token)
        monkeypatch.delenv("SUANCHOU_CONFIG", raising=False)
        assert main(["--json", "job", "list", "--all", "--max-message-bytes", "1048576"]) == 0
        assert len(json.loads(capsys.readouterr().out)["jobs"]) == 40
    finally:
        app.stop(grace=0.5)
