"""Authentication, authorization, auditing, error mapping and the canonical per-RPC log line,
applied once for all RPCs."""

from __future__ import annotations

import contextlib
import contextvars
import math
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import structlog

from scheduler.api.admission import Admission, budgets_for, kind_of
from scheduler.api.authz import Rule, rule_for
from scheduler.api.decoding import Undecodable, checked, guarded
from scheduler.api.status import code_for
from scheduler.domain.errors import (
    DomainError,
    Overloaded,
    PermissionDenied,
    Throttled,
    Unauthenticated,
)
from scheduler.service import audit
from scheduler.service.audit import AuditService, CallAudit
from scheduler.service.auth import Authenticator, Principal, Role
from scheduler.service.throttle import AuthThrottle, peer_address

log = structlog.get_logger("suanchou.rpc")

_principal: contextvars.ContextVar[Principal] = contextvars.ContextVar("principal")

# Services under our authorization table; others (health, reflection) are open.
PROTECTED_PREFIX = "/suanchou."
# Called once per finished call with (method, final code name, seconds, caller or None): the
# metrics' RPC histogram (scheduler.observe), kept out of this package's imports.
OnCompleted = Callable[[str, str, float, Principal | None], None]
# Each agent calls these every few seconds: their routine lines are debug, or a tiny pool
# writes thousands of info lines an hour; a failed one is still logged at info or above.
_ROUTINE = frozenset({"/suanchou.v1.AgentService/Sync", "/suanchou.v1.AgentService/AppendLogs"})


def current_principal() -> Principal:
    """The authenticated caller of the RPC being handled."""
    return _principal.get()


def _bearer(metadata: tuple[tuple[str, str | bytes], ...]) -> str:
    for key, value in metadata or ():
        if key == "authorization":
            text = value.decode(errors="replace") if isinstance(value, bytes) else value
            scheme, _, token = text.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""


def _request_id(metadata: tuple[tuple[str, str | bytes], ...]) -> str:
    for key, value in metadata or ():
        if key == "x-request-id":
            text = value.decode(errors="replace") if isinstance(value, bytes) else value
            return text[:64]
    return uuid.uuid4().hex[:16]


@dataclass
class Call:
    """One call's authentication and audit state, for the interceptor's wrappers."""

    audit: CallAudit
    principal: Principal | None = None
    throttled: bool = False
    audit_token: contextvars.Token[CallAudit | None] | None = None
    principal_token: contextvars.Token[Principal] | None = None

    @classmethod
    def of(cls, context: grpc.ServicerContext, method: str, rule: Rule) -> Call:
        return cls(
            CallAudit(
                rpc=method,
                peer=context.peer()[:128],
                request_id=_request_id(context.invocation_metadata()),
                mutating=rule.mutating,
                conditional=rule.conditional,
            )
        )


class ApiInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    def __init__(
        self,
        auth: Authenticator,
        audits: AuditService,
        throttle: AuthThrottle,
        admission: Admission | None = None,
        *,
        max_request_bytes: int,
        on_agent: Callable[[str], None] | None = None,
        on_completed: OnCompleted | None = None,
    ) -> None:
        self._auth = auth
        self._audits = audits
        self._throttle = throttle
        self._admission = admission or Admission(budgets_for(64))
        self._max_request_bytes = max_request_bytes
        # Called with the cluster name as soon as an agent is authenticated, before the call
        # waits for a concurrency slot or the database: a Sync refused for load still shows
        # the agent is alive (service.liveness).
        self._on_agent = on_agent
        self._on_completed = on_completed

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        method: str = details.method
        if handler is None or not method.startswith(PROTECTED_PREFIX):
            return handler
        rule = rule_for(method)
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, method, rule),
                request_deserializer=guarded(
                    handler.request_deserializer, method, self._max_request_bytes
                ),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, method, rule),
                request_deserializer=guarded(
                    handler.request_deserializer, method, self._max_request_bytes
                ),
                response_serializer=handler.response_serializer,
            )
        return handler

    def _begin(
        self, call: Call, request: Any, context: grpc.ServicerContext, method: str, rule: Rule
    ) -> Any:
        """Authenticates and authorizes the call; returns the request, decoded (an undecodable
        or oversized one is refused here, after authentication, with its INVALID_ARGUMENT)."""
        call.audit_token = audit.begin(call.audit)
        if not isinstance(request, Undecodable):
            audit.add_targets(*rule.targets(request))
        principal = self._authenticate(call, _bearer(context.invocation_metadata()))
        call.principal = principal
        call.audit.principal, call.audit.role = principal.name, principal.role.value
        if principal.role not in rule.roles:
            name = method.rsplit("/", 1)[-1]
            raise PermissionDenied(f"role {principal.role.value} may not call {name}")
        call.principal_token = _principal.set(principal)
        if principal.role is Role.AGENT and self._on_agent is not None:
            self._on_agent(principal.name)
        return checked(request)

    def _authenticate(self, call: Call, token: str) -> Principal:
        """The caller: throttled peers are refused before the token is looked at; no, unknown
        or revoked tokens are UNAUTHENTICATED. (A valid token whose role is not in the rpc's
        row is PERMISSION_DENIED, in _begin.)"""
        address = peer_address(call.audit.peer)
        wait = self._throttle.retry_after(address)
        if wait > 0:
            call.throttled = True
            raise Throttled(f"too many failed authentications; retry in {math.ceil(wait)} s")
        try:
            return self._auth.authenticate(token)
        except Unauthenticated:
            self._throttle.failed(address)
            raise

    @contextlib.contextmanager
    def _admitted(self, call: Call, method: str) -> Iterator[None]:
        """Inside the call's concurrency budget (admission.py). A call refused for load is not
        audited, like a throttled one: nothing was attempted, and a record per refusal would
        add database writes exactly when there are too many."""
        kind, caller = kind_of(method), str(call.principal)
        try:
            self._admission.acquire(kind, caller)
        except Overloaded:
            call.throttled = True
            raise
        try:
            yield
        finally:
            self._admission.release(kind, caller)

    def _end(self, call: Call, code: grpc.StatusCode, message: str) -> None:
        self._audits.finish(call.audit, code.name, message[:256], throttled=call.throttled)
        # A stream closed from another thread finishes in another context, where the tokens
        # cannot be reset; the next call on this thread sets both variables afresh anyway.
        with contextlib.suppress(ValueError):
            if call.principal_token is not None:
                _principal.reset(call.principal_token)
            if call.audit_token is not None:
                audit.end(call.audit_token)

    def _wrap_unary(
        self, behaviour: Callable[[Any, Any], Any], method: str, rule: Rule
    ) -> Callable[[Any, Any], Any]:
        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            start = time.perf_counter()
            call = Call.of(context, method, rule)
            code, message = grpc.StatusCode.OK, ""
            with _bound(call, method):
                try:
                    request = self._begin(call, request, context, method, rule)
                    with self._admitted(call, method):
                        return behaviour(request, context)
                except DomainError as exc:
                    code, message = code_for(exc), str(exc)
                    context.abort(code, message)
                except Exception:
                    code, message = grpc.StatusCode.INTERNAL, "internal error"
                    log.exception("rpc_failed", method=method, request_id=call.audit.request_id)
                    context.abort(code, "internal error; see the scheduler log")
                finally:
                    self._end(call, code, message)
                    self._finish(method, call, context, code, start)

        return handle

    def _wrap_stream(
        self, behaviour: Callable[[Any, Any], Iterator[Any]], method: str, rule: Rule
    ) -> Callable[[Any, Any], Iterator[Any]]:
        def handle(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            start = time.perf_counter()
            call = Call.of(context, method, rule)
            code, message = grpc.StatusCode.OK, ""
            # Bound around the whole generator: gRPC drives a stream from one worker thread,
            # which resumes it in the same context each time.
            with _bound(call, method):
                try:
                    request = self._begin(call, request, context, method, rule)
                    with self._admitted(call, method):
                        yield from behaviour(request, context)
                    if not context.is_active():
                        code = grpc.StatusCode.CANCELLED
                except DomainError as exc:
                    code, message = code_for(exc), str(exc)
                    context.abort(code, message)
                except GeneratorExit:
                    code = grpc.StatusCode.CANCELLED
                    raise
                except Exception:
                    code, message = grpc.StatusCode.INTERNAL, "internal error"
                    log.exception("rpc_failed", method=method, request_id=call.audit.request_id)
                    context.abort(code, "internal error; see the scheduler log")
                finally:
                    self._end(call, code, message)
                    self._finish(method, call, context, code, start)

        return handle

    def _finish(
        self,
        method: str,
        call: Call,
        context: grpc.ServicerContext,
        code: grpc.StatusCode,
        start: float,
    ) -> None:
        """The call's log line and its observation; an observer's failure never fails it."""
        name = _log(method, call.principal, call.audit.request_id, context, code, start)
        if self._on_completed is not None:
            try:
                self._on_completed(method, name, time.perf_counter() - start, call.principal)
            except Exception:
                log.exception("rpc_observer_failed")


@contextlib.contextmanager
def _bound(call: Call, method: str) -> Iterator[None]:
    """Binds the request id and method into every log line of the call (structlog
    contextvars), restoring what the worker thread had before."""
    with structlog.contextvars.bound_contextvars(request_id=call.audit.request_id, method=method):
        yield


def _log(
    method: str,
    principal: Principal | None,
    request_id: str,
    context: grpc.ServicerContext,
    code: grpc.StatusCode,
    start: float,
) -> str:
    """Logs the canonical line of the call; returns the code it reports. The line names its
    method and request id itself (as the bound context would): it must not depend on how
    structlog is configured."""
    name: str = code.name
    # A passed deadline counts on its own: gRPC marks the call inactive asynchronously, so
    # is_active() can still say True just after the deadline (a flaky CI run showed it).
    remaining = context.time_remaining()
    expired = remaining is not None and remaining <= 0
    abandoned = code is grpc.StatusCode.OK and (expired or not context.is_active())
    if abandoned:
        # The handler finished but the caller had given up (deadline or cancel): what it
        # committed stands, yet the reply was never delivered. Say so instead of "OK".
        name = "DEADLINE_EXCEEDED" if expired else "CANCELLED"
    if abandoned:
        emit = log.warning
    elif method in _ROUTINE and code is grpc.StatusCode.OK:
        emit = log.debug
    else:
        emit = log.info
    emit(
        "rpc_completed",
        method=method,
        code=name,
        abandoned=abandoned,
        principal=str(principal) if principal else "",
        request_id=request_id,
        peer=context.peer(),
        duration_ms=round((time.perf_counter() - start) * 1000, 2),
    )
    return name
