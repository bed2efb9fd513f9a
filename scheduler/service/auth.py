"""Who is calling: tokens resolved to principals."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from scheduler.domain.errors import Unauthenticated
from scheduler.service.tokens import hash_token, same_token
from scheduler.state import Store


class Role(StrEnum):
    ADMIN = "admin"
    DEPARTMENT = "department"
    AGENT = "agent"


@dataclass(frozen=True)
class Principal:
    role: Role
    name: str  # department or cluster name; "admin" for the admin

    def __str__(self) -> str:
        return f"{self.role}:{self.name}"


class Authenticator:
    def __init__(self, store: Store, admin_token: str) -> None:
        if len(admin_token) < 16:
            raise ValueError("the admin token must be at least 16 characters")
        self._store = store
        self._admin_token = admin_token

    def authenticate(self, token: str, role: Role) -> Principal:
        if not token:
            raise Unauthenticated("missing bearer token in the 'authorization' metadata")
        if role is Role.ADMIN:
            if same_token(token, self._admin_token):
                return Principal(Role.ADMIN, "admin")
            raise Unauthenticated("invalid admin token")
        digest = hash_token(token)
        with self._store.unit(write=False) as tx:
            if role is Role.DEPARTMENT:
                dept = tx.departments.by_token_hash(digest)
                if dept is not None:
                    return Principal(Role.DEPARTMENT, dept.name)
                raise Unauthenticated("invalid department token")
            cluster = tx.clusters.by_token_hash(digest)
            if cluster is not None:
                return Principal(Role.AGENT, cluster.name)
            raise Unauthenticated("invalid agent token (is the cluster still registered?)")
