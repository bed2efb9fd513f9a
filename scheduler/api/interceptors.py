"""Authentication, error mapping and the canonical per-RPC log line, applied once for all RPCs."""

from __future__ import annotations

import contextvars
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import structlog

from scheduler.api.decoding import checked, guarded
from scheduler.api.status import code_for
from scheduler.domain.errors import DomainError
from scheduler.service.auth import Authenticator, Principal, Role

log = structlog.get_logger("suanchou.rpc")

_principal: contextvars.ContextVar[Principal] = contextvars.ContextVar("principal")

# Which token each service takes. Services not listed (health, reflection) are open.
SERVICE_ROLES = {
    "suanchou.v1.JobService": Role.DEPARTMENT,
    "suanchou.v1.ClusterService": Role.ADMIN,
    "suanchou.v1.DepartmentService": Role.ADMIN,
    "suanchou.v1.AgentService": Role.AGENT,
}


def current_principal() -> Principal:
    """The authenticated caller of the RPC being handled."""
    return _principal.get()


def _bearer(metadata: tuple[tuple[str, str | bytes], ...]) -> str:
    for key, value in metadata or ():
        if key == "authorization":
            text = value.decode() if isinstance(value, bytes) else value
            scheme, _, token = text.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""


def _request_id(metadata: tuple[tuple[str, str | bytes], ...]) -> str:
    for key, value in metadata or ():
        if key == "x-request-id":
            text = value.decode() if isinstance(value, bytes) else value
            return text[:64]
    return uuid.uuid4().hex[:16]


class ApiInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, auth: Authenticator, *, max_request_bytes: int) -> None:
        self._auth = auth
        self._max_request_bytes = max_request_bytes

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        method: str = details.method
        service = method.split("/")[1] if method.count("/") >= 2 else ""
        role = SERVICE_ROLES.get(service)
        if handler is None or role is None:
            return handler
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, method, role),
                request_deserializer=guarded(
                    handler.request_deserializer, method, self._max_request_bytes
                ),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, method, role),
                request_deserializer=guarded(
                    handler.request_deserializer, method, self._max_request_bytes
                ),
                response_serializer=handler.response_serializer,
            )
        return handler

    def _enter(self, context: grpc.ServicerContext, role: Role) -> tuple[Principal, str]:
        metadata = context.invocation_metadata()
        principal = self._auth.authenticate(_bearer(metadata), role)
        return principal, _request_id(metadata)

    def _wrap_unary(
        self, behaviour: Callable[[Any, Any], Any], method: str, role: Role
    ) -> Callable[[Any, Any], Any]:
        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            start = time.perf_counter()
            principal: Principal | None = None
            request_id = ""
            code = grpc.StatusCode.OK
            try:
                principal, request_id = self._enter(context, role)
                request = checked(request)
                token = _principal.set(principal)
                try:
                    return behaviour(request, context)
                finally:
                    _principal.reset(token)
            except DomainError as exc:
                code = code_for(exc)
                context.abort(code, str(exc))
            except Exception:
                code = grpc.StatusCode.INTERNAL
                log.exception("rpc_failed", method=method, request_id=request_id)
                context.abort(code, "internal error; see the scheduler log")
            finally:
                _log(method, principal, request_id, context, code, start)

        return handle

    def _wrap_stream(
        self, behaviour: Callable[[Any, Any], Iterator[Any]], method: str, role: Role
    ) -> Callable[[Any, Any], Iterator[Any]]:
        def handle(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            start = time.perf_counter()
            principal: Principal | None = None
            request_id = ""
            code = grpc.StatusCode.OK
            try:
                principal, request_id = self._enter(context, role)
                request = checked(request)
                token = _principal.set(principal)
                try:
                    yield from behaviour(request, context)
                finally:
                    _principal.reset(token)
                if not context.is_active():
                    code = grpc.StatusCode.CANCELLED
            except DomainError as exc:
                code = code_for(exc)
                context.abort(code, str(exc))
            except GeneratorExit:
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception:
                code = grpc.StatusCode.INTERNAL
                log.exception("rpc_failed", method=method, request_id=request_id)
                context.abort(code, "internal error; see the scheduler log")
            finally:
                _log(method, principal, request_id, context, code, start)

        return handle


def _log(
    method: str,
    principal: Principal | None,
    request_id: str,
    context: grpc.ServicerContext,
    code: grpc.StatusCode,
    start: float,
) -> None:
    log.info(
        "rpc_completed",
        method=method,
        code=code.name,
        principal=str(principal) if principal else "",
        request_id=request_id,
        peer=context.peer(),
        duration_ms=round((time.perf_counter() - start) * 1000, 2),
    )
