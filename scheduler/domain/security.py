"""Roles, principals, tokens and audit records: who may call, and what they did."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from scheduler.domain.errors import InvalidSpec


class Role(StrEnum):
    """What a caller may do; the authorization table in scheduler.api.authz maps rpcs to roles."""

    ADMIN = "admin"  # clusters and departments
    SECURITY_ADMIN = "security-admin"  # principals and tokens
    AUDITOR = "auditor"  # the audit log, nothing else
    OPERATOR = "operator"  # read-only: every cluster, every department's jobs
    DEPARTMENT = "department"  # its own jobs
    AGENT = "agent"  # AgentService.Sync for its cluster
    # The server's bootstrap token: may only create named principals.
    BOOTSTRAP = "bootstrap"


# Roles a security-admin (or the bootstrap token) gives to named principals. Departments and
# agents are created with their department and cluster.
NAMED_ROLES = (Role.ADMIN, Role.SECURITY_ADMIN, Role.AUDITOR, Role.OPERATOR)
# Roles whose tokens live in the token table (everything but the bootstrap token).
TOKEN_KINDS = (*NAMED_ROLES, Role.DEPARTMENT, Role.AGENT)

_PRINCIPAL_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its role and its name (principal, department or cluster)."""

    role: Role
    name: str

    def __str__(self) -> str:
        return f"{self.role}:{self.name}"


@dataclass(frozen=True)
class NamedPrincipal:
    name: str
    role: Role
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class TokenInfo:
    """A token's metadata; the secret is never stored, only its SHA-256."""

    token_id: str
    kind: Role
    principal: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None


def parse_role(text: str, field: str, allowed: tuple[Role, ...]) -> Role:
    names = ", ".join(r.value for r in allowed)
    try:
        role = Role(text)
    except ValueError:
        raise InvalidSpec(f"unknown role {text[:32]!r} (one of {names})", field=field) from None
    if role not in allowed:
        raise InvalidSpec(f"role {role.value!r} not allowed here (one of {names})", field=field)
    return role


def validate_principal_name(name: str, field: str = "name") -> str:
    if not _PRINCIPAL_NAME.match(name):
        raise InvalidSpec(
            f"{name[:32]!r} is not 1-64 characters of [a-z0-9._-] starting with a letter or digit",
            field=field,
        )
    return name


@dataclass(frozen=True)
class AuditEntry:
    """What the API knows about a call when it is recorded."""

    time: datetime
    principal: str
    role: str
    peer: str
    rpc: str
    targets: tuple[str, ...]
    outcome: str
    message: str
    request_id: str


@dataclass(frozen=True)
class AuditRecord:
    """A stored, chained entry."""

    seq: int
    entry: AuditEntry
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainCheck:
    """Result of recomputing the audit hash chain."""

    ok: bool
    checked: int
    first_broken_seq: int
    message: str
    anchor_seq: int
