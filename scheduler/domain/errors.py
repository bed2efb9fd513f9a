"""Typed errors raised by the domain, the store and the use cases.

The API layer maps each class to one gRPC status code, in one table.
"""

from __future__ import annotations

# Errors echo what the caller sent only up to this many characters: a 1 MiB id must not come
# back inside a status trailer (clients then see RESOURCE_EXHAUSTED instead of the error).
QUOTE_LIMIT = 64


def quote(value: str, limit: int = QUOTE_LIMIT) -> str:
    """`repr(value)` of at most `limit` characters of it, marked when cut: for messages."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}…({len(value)} chars)"


def key_path(field: str, key: str, limit: int = QUOTE_LIMIT) -> str:
    """`field[key]` with the key cut like `quote`: for field paths naming a map entry."""
    shown = key[:limit] if key[:limit].isprintable() else repr(key[:limit])[1:-1]
    if len(key) <= limit:
        return f"{field}[{shown}]"
    return f"{field}[{shown}…({len(key)} chars)]"


class DomainError(Exception):
    """Base class: a request that cannot be carried out as asked."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidSpec(DomainError):
    """Bad input; `field` names the offending field."""


class NotFound(DomainError):
    """The named object does not exist (or is not visible to the caller)."""


class AlreadyExists(DomainError):
    """An object with that unique name exists already."""


class PermissionDenied(DomainError):
    """The caller is authenticated but may not do this."""


class Unauthenticated(DomainError):
    """No valid credentials."""


class Throttled(DomainError):
    """Too many failed attempts from this caller; retry after a cool-down."""


class FailedPrecondition(DomainError):
    """The system is not in a state that allows the request (e.g. no cluster could ever run it)."""

    def __init__(self, message: str, *, field: str = "", reason: str = "") -> None:
        super().__init__(message, field=field)
        self.reason = reason


class Overloaded(DomainError):
    """The server is at its concurrency budget for this kind of call; retry with backoff."""


class Unavailable(DomainError):
    """A transient failure of a dependency (the database deadlocked, is unreachable or out of
    connections); nothing was changed and the same call may be retried."""
