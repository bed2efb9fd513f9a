"""Domain errors -> gRPC status codes: the one table."""

from __future__ import annotations

import grpc

from scheduler.domain.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidSpec,
    NotFound,
    Overloaded,
    PermissionDenied,
    Throttled,
    Unauthenticated,
    Unavailable,
)

STATUS: dict[type[DomainError], grpc.StatusCode] = {
    InvalidSpec: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    Overloaded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    Throttled: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def code_for(error: DomainError) -> grpc.StatusCode:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return grpc.StatusCode.INVALID_ARGUMENT


def code_name(error: DomainError) -> str:
    return str(code_for(error).name)
