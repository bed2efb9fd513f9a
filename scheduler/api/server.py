"""Builds the gRPC server: servicers, interceptor, health and reflection."""

from __future__ import annotations

import socket
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from protos.suanchou.v1 import (
    admin_pb2_grpc,
    agent_pb2_grpc,
    audit_pb2_grpc,
    governance_pb2_grpc,
    jobs_pb2_grpc,
    security_pb2_grpc,
)
from scheduler.api.admission import Admission, budgets_for
from scheduler.api.authz import SERVICE_NAMES
from scheduler.api.budget import DEFAULT_MAX_MESSAGE_BYTES, reply_budget
from scheduler.api.governance_servicers import PriorityClassServicer
from scheduler.api.interceptors import ApiInterceptor, OnCompleted
from scheduler.api.security_servicers import AuditServicer, PrincipalServicer, TokenServicer
from scheduler.api.servicers import AgentServicer, ClusterServicer, DepartmentServicer, JobServicer
from scheduler.api.transport import ServerTls, bind
from scheduler.service.admin import AdminService
from scheduler.service.agent_sync import AgentSyncService
from scheduler.service.audit import AuditService
from scheduler.service.auth import Authenticator
from scheduler.service.credentials import CredentialsService
from scheduler.service.governance import GovernanceService
from scheduler.service.jobs import JobsService
from scheduler.service.output import OutputService
from scheduler.service.throttle import AuthThrottle


def build_server(
    listen: str,
    *,
    auth: Authenticator,
    jobs: JobsService,
    admin: AdminService,
    governance: GovernanceService,
    agents: AgentSyncService,
    output: OutputService,
    tls: ServerTls | None = None,
    credentials: CredentialsService,
    audits: AuditService,
    throttle: AuthThrottle,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    max_workers: int = 64,
    admission: Admission | None = None,
    on_completed: OnCompleted | None = None,
) -> tuple[grpc.Server, int, health.HealthServicer]:
    """Returns the (not yet started) server, the port it bound, and its health servicer.

    `listen` may end in ":0" to let the OS pick a free port. Without `tls` certificates the
    port is plaintext, refused off loopback unless `tls.insecure` (raises TransportError).
    Requests above `max_message_bytes` are refused as INVALID_ARGUMENT naming their largest
    field; the transport takes twice that so such requests reach the check (above it gRPC
    answers RESOURCE_EXHAUSTED itself). Replies are built to stay within half of it (see
    scheduler.api.budget). `on_completed` observes every finished call (metrics).
    """
    tls = tls or ServerTls()
    # Each WatchEvents stream holds a worker thread while it follows, hence the generous pool.
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="rpc"),
        interceptors=[
            ApiInterceptor(
                auth,
                audits,
                throttle,
                admission or Admission(budgets_for(max_workers)),
                max_request_bytes=max_message_bytes,
                on_agent=agents.heard,
                on_completed=on_completed,
            )
        ],
        maximum_concurrent_rpcs=max_workers * 4,
        options=[
            ("grpc.max_receive_message_length", 2 * max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            # gRPC sets SO_REUSEPORT by default: a second server on a port in use would then
            # start without error and silently take half of the connections.
            ("grpc.so_reuseport", 0),
        ],
    )
    reply = reply_budget(max_message_bytes)
    jobs_pb2_grpc.add_JobServiceServicer_to_server(JobServicer(jobs, reply, output), server)
    admin_pb2_grpc.add_ClusterServiceServicer_to_server(ClusterServicer(admin, reply), server)
    admin_pb2_grpc.add_DepartmentServiceServicer_to_server(
        DepartmentServicer(admin, governance, reply), server
    )
    governance_pb2_grpc.add_PriorityClassServiceServicer_to_server(
        PriorityClassServicer(governance), server
    )
    agent_pb2_grpc.add_AgentServiceServicer_to_server(
        AgentServicer(agents, reply, output, require_client_certificate=tls.mode == "mtls"), server
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
    _check_free(listen)
    try:
        port = bind(server, listen, tls)
    except RuntimeError:
        port = 0
    if port == 0:
        raise OSError(f"cannot listen on {listen}: the address is in use or not available")
    return server, port, health_servicer


def build_health_server(listen: str, servicer: health.HealthServicer) -> tuple[grpc.Server, int]:
    """A plaintext server answering grpc.health.v1 alone, from the API server's `servicer`.

    Kubernetes' native gRPC probes cannot speak TLS, so they cannot reach a TLS API port; this
    port tells them only what Check/Watch tell anyone (SERVING, or NOT_SERVING while the API
    drains), needs no token and reaches no other service, hence plaintext on any address.
    Returns the (not yet started) server and the port it bound.
    """
    # Two threads: a probe every few seconds, and Watch streams are for humans debugging.
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="health"),
        maximum_concurrent_rpcs=8,
        options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", 4096)],
    )
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    _check_free(listen)
    try:
        port: int = server.add_insecure_port(listen)
    except RuntimeError:
        port = 0
    if port == 0:
        raise OSError(f"health_listen: cannot listen on {listen}: in use or not available")
    return server, port


def _check_free(listen: str) -> None:
    """Raises OSError naming `listen` if another socket already listens there.

    gRPC refuses too (SO_REUSEPORT is off), but logs a multi-line C++ error first; checking here
    keeps the refusal to one line. The OS-chosen port 0 is always free.
    """
    host, _, port_text = listen.rpartition(":")
    if not port_text.isdigit() or int(port_text) == 0:
        return
    host = host.strip("[]") or "0.0.0.0"
    try:
        infos = socket.getaddrinfo(host, int(port_text), type=socket.SOCK_STREAM)
    except OSError:
        return  # gRPC reports an unresolvable address itself
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise OSError(
                    f"cannot listen on {listen}: {(exc.strerror or str(exc)).lower()}"
                ) from None
