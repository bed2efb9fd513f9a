"""Who is calling: a bearer token resolved to a principal, and the department scope of job reads.

Which role may call which rpc is the authorization table in scheduler.api.authz.
"""

from __future__ import annotations

from scheduler.domain.errors import PermissionDenied, Unauthenticated
from scheduler.domain.security import Principal, Role
from scheduler.service.tokens import MAX_TOKEN_LEN, hash_token, same_token
from scheduler.state import Store

BOOTSTRAP = Principal(Role.BOOTSTRAP, "bootstrap")
MIN_BOOTSTRAP_LEN = 16

__all__ = ["BOOTSTRAP", "Authenticator", "Principal", "Role", "job_scope"]


class Authenticator:
    """Resolves tokens on every call, straight from the token table: a revoked token is refused
    on the next call, with no cache to invalidate and no restart."""

    def __init__(self, store: Store, bootstrap_token: str = "") -> None:
        if bootstrap_token and len(bootstrap_token) < MIN_BOOTSTRAP_LEN:
            raise ValueError(
                f"the bootstrap admin token must be at least {MIN_BOOTSTRAP_LEN} characters"
            )
        self._store = store
        self._bootstrap = bootstrap_token

    def authenticate(self, token: str) -> Principal:
        if not token:
            raise Unauthenticated("missing bearer token in the 'authorization' metadata")
        if len(token) > MAX_TOKEN_LEN:
            raise Unauthenticated("invalid token")
        if self._bootstrap and same_token(token, self._bootstrap):
            return BOOTSTRAP
        with self._store.unit(write=False) as tx:
            holder = tx.tokens.holder(hash_token(token))
        if holder is None:
            raise Unauthenticated("invalid or revoked token")
        return holder


def job_scope(caller: Principal, requested: str) -> str | None:
    """The department whose jobs `caller` reads: its own for a department (naming another is
    PERMISSION_DENIED), the requested one or None (every department) for an operator."""
    if caller.role is Role.DEPARTMENT:
        if requested and requested != caller.name:
            raise PermissionDenied(
                "a department token reads only its own department's jobs", field="department"
            )
        return caller.name
    if caller.role is Role.OPERATOR:
        return requested or None
    raise PermissionDenied(f"role {caller.role.value} may not read jobs")
