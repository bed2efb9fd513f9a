"""The Prometheus endpoint of a real scheduler, scraped over HTTP and parsed with the client's
own parser while a real agent runs a job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from protos.suanchou.v1 import (
    admin_pb2,
    agent_pb2,
    agent_pb2_grpc,
    governance_pb2,
    types_pb2,
)
from scheduler import __version__
from scheduler.service.settings import SchedulerSettings
from tests.integration.conftest import REPO, Pool, md, node, py_job

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def metered(tmp_path: Path, store_url: str) -> Iterator[Pool]:
    """A pool whose scheduler serves metrics on an OS-chosen loopback port, on SQLite and on
    PostgreSQL (skipped without the test server)."""
    settings = SchedulerSettings(sync_interval_s=0.2, lease_timeout_s=2.0, cycle_interval_s=0.2)
    pool = Pool(
        tmp=tmp_path,
        db_url=store_url,
        settings=settings,
        metrics_listen="127.0.0.1:0",
    )
    pool.start()
    yield pool
    for agent in pool.agents:
        agent.stop()
    pool.stop()


def scrape(pool: Pool) -> tuple[set[str], Samples]:
    """(family names, {(sample name, labels): value}) from the real endpoint."""
    assert pool.app is not None and pool.app.metrics_endpoint is not None
    url = f"http://127.0.0.1:{pool.app.metrics_endpoint.port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as reply:
        assert reply.status == 200
        text = reply.read().decode()
    families = list(text_string_to_metric_families(text))
    samples = {(s.name, frozenset(s.labels.items())): s.value for f in families for s in f.samples}
    return {f.name for f in families}, samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def test_a_job_run_shows_in_the_scraped_metrics(metered: Pool) -> None:
    """After a job ran on a real agent, the endpoint shows it placed and SUCCEEDED, the
    SubmitJobs calls in the RPC histogram, the cluster's capacity, quota use and a queued job's
    reason, and an agent's reported sync failure."""
    pool = metered
    pool.department("dept")
    pool.cluster("c1", [node("n1", cpu=4, memory="8Gi")])
    pool.departments.SetQuota(
        admin_pb2.SetQuotaRequest(
            department="dept",
            quotas=[governance_pb2.ResourceQuota(resource="cpu", nominal=2000)],
        ),
        metadata=md(pool.admin_token),
    )
    [result] = pool.submit("dept", py_job("ok", "print('hi')"))
    pool.wait_state("dept", result.job_id, {types_pb2.JOB_STATE_SUCCEEDED})
    # A queued job with a reason: every cluster it could use is cordoned.
    pool.clusters.CordonCluster(
        admin_pb2.CordonClusterRequest(name="c1"), metadata=md(pool.admin_token)
    )
    [waiting] = pool.submit("dept", py_job("waits", "print('later')"))
    # A Sync whose agent says its previous exchange failed (a second cluster, no agent process).
    token = pool.cluster("c2", [], start_agent=False)
    agent_pb2_grpc.AgentServiceStub(pool.channel).Sync(
        agent_pb2.SyncRequest(agent_id="probe", last_error="UNAVAILABLE: connection refused"),
        metadata=md(token),
    )

    def queued_reason() -> bool:
        _, samples = scrape(pool)
        found = value(
            samples, "suanchou_pending_jobs", department="dept", reason="CLUSTERS_UNAVAILABLE"
        )
        return found == 1

    pool.wait_for(queued_reason, 30, "the queued job's reason in the metrics")
    names, samples = scrape(pool)

    assert {
        "suanchou_jobs",
        "suanchou_pending_jobs",
        "suanchou_cycle_duration_seconds",
        "suanchou_solve_duration_seconds",
        "suanchou_solver_gap_ratio",
        "suanchou_placements",
        "suanchou_requeues",
        "suanchou_preemptions",
        "suanchou_cluster_capacity",
        "suanchou_cluster_allocated",
        "suanchou_cluster_heartbeat_age_seconds",
        "suanchou_quota_used",
        "suanchou_quota_nominal",
        "suanchou_rpc_duration_seconds",
        "suanchou_agent_sync_failures",
        "suanchou_submit_to_lease_seconds",
        "suanchou_build_info",
        "suanchou_is_leader",
    } <= names
    assert value(samples, "suanchou_jobs", state="SUCCEEDED") == 1
    assert value(samples, "suanchou_jobs", state="QUEUED") == 1
    assert (value(samples, "suanchou_placements_total") or 0) >= 1
    assert value(samples, "suanchou_jobs_finished_total", state="SUCCEEDED") == 1
    assert value(samples, "suanchou_requeues_total", reason="PREEMPTED") == 0
    submits = value(
        samples,
        "suanchou_rpc_duration_seconds_count",
        service="suanchou.v1.JobService",
        method="SubmitJobs",
        code="OK",
    )
    assert submits == 2
    assert (value(samples, "suanchou_cycle_duration_seconds_count") or 0) >= 1
    assert value(samples, "suanchou_submit_to_lease_seconds_count") == 1
    assert value(samples, "suanchou_build_info", version=__version__) == 1
    assert value(samples, "suanchou_is_leader") == 1  # the only scheduler on its database
    assert (value(samples, "suanchou_solve_duration_seconds_count") or 0) >= 1
    assert (
        value(samples, "suanchou_cluster_capacity", cluster="c1", resource="cpu", unit="core") == 4
    )
    assert (
        value(samples, "suanchou_cluster_capacity", cluster="c1", resource="memory", unit="byte")
        == 8 * 1024**3
    )
    # Nothing runs any more: allocation is 0, not absent.
    assert (
        value(samples, "suanchou_cluster_allocated", cluster="c1", resource="cpu", unit="core") == 0
    )
    assert value(samples, "suanchou_cluster_schedulable", cluster="c1") == 0
    age = value(samples, "suanchou_cluster_heartbeat_age_seconds", cluster="c1")
    assert age is not None and age >= 0
    quota = {"department": "dept", "group": "{}", "resource": "cpu", "unit": "core"}
    assert value(samples, "suanchou_quota_nominal", **quota) == 2
    assert value(samples, "suanchou_quota_used", **quota) == 0
    assert value(samples, "suanchou_agent_sync_failures_total", cluster="c2", source="agent") == 1
    # No job id in any label value: labels are bounded sets.
    job_ids = {result.job_id, waiting.job_id}
    assert not {v for _, labels in samples for _, v in labels} & job_ids


def test_a_refused_sync_counts_as_a_server_side_sync_failure(metered: Pool) -> None:
    """A Sync the server answers with INVALID_ARGUMENT counts for its cluster, source=server,
    and in the RPC histogram under that code."""
    pool = metered
    token = pool.cluster("c3", [], start_agent=False)
    bad = agent_pb2.SyncRequest(agent_id="probe", nodes=[agent_pb2.NodeReport(name="")])
    with pytest.raises(grpc.RpcError) as err:
        agent_pb2_grpc.AgentServiceStub(pool.channel).Sync(bad, metadata=md(token))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, samples = scrape(pool)
    assert value(samples, "suanchou_agent_sync_failures_total", cluster="c3", source="server") == 1
    refused = value(
        samples,
        "suanchou_rpc_duration_seconds_count",
        service="suanchou.v1.AgentService",
        method="Sync",
        code="INVALID_ARGUMENT",
    )
    assert refused == 1


def _server(db: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "scheduler.cli.main", "server", "--listen", "127.0.0.1:0"),
            *("--database-url", f"sqlite:///{db}", *args),
        ],
        env={k: v for k, v in os.environ.items() if k != "SUANCHOU_ADMIN_TOKEN"},
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_server_flag_serves_metrics_and_refuses_a_bad_address(tmp_path: Path) -> None:
    """`suanchou server --metrics-listen 127.0.0.1:0` serves the registry where its start line
    says; a malformed value or a port in use exits 2 with one line naming metrics_listen."""
    server = _server(tmp_path / "a.db", "--metrics-listen", "127.0.0.1:0")
    try:
        assert server.stderr is not None
        metrics = ""
        for line in server.stderr:
            if "scheduler_started" in line:
                metrics = json.loads(line)["metrics"]
                break
        assert metrics.startswith("127.0.0.1:")
        with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=10) as reply:
            names = {f.name for f in text_string_to_metric_families(reply.read().decode())}
        assert {"suanchou_jobs", "suanchou_cycles", "process_resident_memory_bytes"} <= names
        for value_, expected in [
            (
                "nonsense",
                "error: metrics_listen: expected HOST:PORT (port 0-65535), got 'nonsense'",
            ),
            (metrics, f"error: metrics_listen {metrics}: address already in use"),
        ]:
            refused = _server(tmp_path / "b.db", "--metrics-listen", value_)
            _, err = refused.communicate(timeout=60)
            assert refused.returncode == 2 and err == expected + "\n"
    finally:
        server.terminate()
        server.communicate(timeout=30)
