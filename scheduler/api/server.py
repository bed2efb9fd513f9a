"""Builds the gRPC server: servicers, interceptor, health and reflection."""

from __future__ import annotations

from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from protos.suanchou.v1 import (
    admin_pb2_grpc,
    agent_pb2_grpc,
    audit_pb2_grpc,
    jobs_pb2_grpc,
    security_pb2_grpc,
)
from scheduler.api.admission import Admission, budgets_for
from scheduler.api.authz import SERVICE_NAMES
from scheduler.api.interceptors import ApiInterceptor
from scheduler.api.security_servicers import AuditServicer, PrincipalServicer, TokenServicer
from scheduler.api.servicers import AgentServicer, ClusterServicer, DepartmentServicer, JobServicer
from scheduler.api.transport import ServerTls, bind
from scheduler.service.admin import AdminService
from scheduler.service.agent_sync import AgentSyncService
from scheduler.service.audit import AuditService
from scheduler.service.auth import Authenticator
from scheduler.service.credentials import CredentialsService
from scheduler.service.jobs import JobsService
from scheduler.service.throttle import AuthThrottle


def build_server(
    listen: str,
    *,
    auth: Authenticator,
    jobs: JobsService,
    admin: AdminService,
    agents: AgentSyncService,
    tls: ServerTls | None = None,
    credentials: CredentialsService,
    audits: AuditService,
    throttle: AuthThrottle,
    max_workers: int = 64,
) -> tuple[grpc.Server, int, health.HealthServicer]:
    """Returns the (not yet started) server, the port it bound, and its health servicer.

    `listen` may end in ":0" to let the OS pick a free port. Without `tls` certificates the
    port is plaintext, refused off loopback unless `tls.insecure` (raises TransportError).
    """
    tls = tls or ServerTls()
    # Each WatchEvents stream holds a worker thread while it follows, hence the generous pool.
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="rpc"),
        interceptors=[ApiInterceptor(auth, audits, throttle, Admission(budgets_for(max_workers)))],
        maximum_concurrent_rpcs=max_workers * 4,
        options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)],
    )
    jobs_pb2_grpc.add_JobServiceServicer_to_server(JobServicer(jobs), server)
    admin_pb2_grpc.add_ClusterServiceServicer_to_server(ClusterServicer(admin), server)
    admin_pb2_grpc.add_DepartmentServiceServicer_to_server(DepartmentServicer(admin), server)
    agent_pb2_grpc.add_AgentServiceServicer_to_server(
        AgentServicer(agents, require_client_certificate=tls.mode == "mtls"), server
    )
    security_pb2_grpc.add_PrincipalServiceServicer_to_server(PrincipalServicer(credentials), server)
    security_pb2_grpc.add_TokenServiceServicer_to_server(TokenServicer(credentials), server)
    audit_pb2_grpc.add_AuditServiceServicer_to_server(AuditServicer(audits), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in (*SERVICE_NAMES, ""):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    port = bind(server, listen, tls)
    return server, port, health_servicer
