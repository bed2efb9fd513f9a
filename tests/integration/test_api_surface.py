"""Standard services and admin behaviour over a real server."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from protos.suanchou.v1 import admin_pb2, types_pb2
from tests.integration.conftest import Pool, md, node, py_job


def test_health_service_reports_serving(pool: Pool) -> None:
    """grpc.health.v1 answers SERVING for the server and for JobService, without a token."""
    stub = health_pb2_grpc.HealthStub(pool.channel)
    for service in ("", "suanchou.v1.JobService"):
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_services(pool: Pool) -> None:
    """Server reflection names every suanchou service, so grpcurl-style tools work."""
    stub = reflection_pb2_grpc.ServerReflectionStub(pool.channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    [reply] = list(stub.ServerReflectionInfo(iter([request])))
    names = {s.name for s in reply.list_services_response.service}
    assert {
        "suanchou.v1.JobService",
        "suanchou.v1.ClusterService",
        "suanchou.v1.DepartmentService",
        "suanchou.v1.AgentService",
    } <= names


def test_admin_calls_need_the_admin_role(pool: Pool) -> None:
    """A valid department token registering a cluster is PERMISSION_DENIED (wrong role, not
    wrong credentials); an unknown token is UNAUTHENTICATED."""
    token = pool.department("公安局")
    request = admin_pb2.RegisterClusterRequest(
        spec=admin_pb2.ClusterSpec(name="x", region="hz", security_level=2)
    )
    for bad, code in (
        (token, grpc.StatusCode.PERMISSION_DENIED),
        ("not-the-admin-token-at-all", grpc.StatusCode.UNAUTHENTICATED),
    ):
        with pytest.raises(grpc.RpcError) as err:
            pool.clusters.RegisterCluster(request, metadata=md(bad))
        assert err.value.code() == code


def test_duplicate_names_and_bad_cluster_fields(pool: Pool) -> None:
    """Duplicate department/cluster names are ALREADY_EXISTS; a bad 等保 level names the field."""
    pool.department("公安局")
    with pytest.raises(grpc.RpcError) as err:
        pool.department("公安局")
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    pool.cluster("gov-a", [node("n1")], start_agent=False)
    with pytest.raises(grpc.RpcError) as err:
        pool.cluster("gov-a", [node("n1")], start_agent=False)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.RpcError) as err:
        pool.clusters.RegisterCluster(
            admin_pb2.RegisterClusterRequest(
                spec=admin_pb2.ClusterSpec(name="gov-b", region="hz", security_level=7)
            ),
            metadata=md(pool.admin_token),
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (err.value.details() or "").startswith("security_level:")


def test_cluster_listing_shows_capacity_allocation_and_heartbeat(pool: Pool) -> None:
    """ListClusters reports capacity, allocated resources, node count, state and heartbeat."""
    pool.department("公安局")
    pool.cluster("gov-a", [node("n", cpu=4, count=2)])
    [res] = pool.submit("公安局", py_job("hold", "import time; time.sleep(30)", cpu=1500))
    pool.wait_state("公安局", res.job_id, {types_pb2.JOB_STATE_RUNNING})
    [c] = pool.clusters.ListClusters(
        admin_pb2.ListClustersRequest(), metadata=md(pool.admin_token)
    ).clusters
    assert c.node_count == 2 and c.capacity.quantities["cpu"] == 8000
    assert c.allocated.quantities["cpu"] == 1500 and c.active_runs == 1
    assert c.state == types_pb2.CLUSTER_STATE_ACTIVE and c.HasField("last_heartbeat")
    with pytest.raises(grpc.RpcError) as err:
        pool.clusters.DeregisterCluster(
            admin_pb2.DeregisterClusterRequest(name="gov-a"), metadata=md(pool.admin_token)
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    cordoned = pool.clusters.CordonCluster(
        admin_pb2.CordonClusterRequest(name="gov-a"), metadata=md(pool.admin_token)
    )
    assert cordoned.state == types_pb2.CLUSTER_STATE_CORDONED
