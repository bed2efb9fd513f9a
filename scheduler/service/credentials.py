"""Security-admin use cases: named principals and the tokens of every kind of principal."""

from __future__ import annotations

from scheduler.domain.errors import FailedPrecondition, InvalidSpec, NotFound
from scheduler.domain.security import (
    NAMED_ROLES,
    TOKEN_KINDS,
    NamedPrincipal,
    Principal,
    Role,
    TokenInfo,
    parse_role,
    validate_principal_name,
)
from scheduler.service import audit
from scheduler.service.clock import Clock
from scheduler.service.tokens import issue_token
from scheduler.state import Store, Tx


class CredentialsService:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def create_principal(self, name: str, role: str) -> tuple[NamedPrincipal, str, TokenInfo]:
        """The principal, its first token (shown once) and that token's metadata."""
        validate_principal_name(name)
        parsed = parse_role(role, "role", NAMED_ROLES)
        audit.add_targets(name)
        with self._store.unit() as tx:
            now = self._clock.now()
            principal = tx.principals.create(name, parsed, now, audit.actor())
            token, info = issue_token(tx, Principal(parsed, name), now, audit.actor())
            audit.add_targets(info.token_id)
        return principal, token, info

    def list_principals(self) -> list[NamedPrincipal]:
        with self._store.unit(write=False) as tx:
            return tx.principals.all()

    def issue(self, kind: str, name: str) -> tuple[str, TokenInfo]:
        holder = Principal(parse_role(kind, "kind", TOKEN_KINDS), name)
        audit.add_targets(name)
        with self._store.unit() as tx:
            self._check_holder(tx, holder)
            token, info = issue_token(tx, holder, self._clock.now(), audit.actor())
            audit.add_targets(info.token_id)
        return token, info

    def list_tokens(self, kind: str, principal: str, include_revoked: bool) -> list[TokenInfo]:
        parsed = parse_role(kind, "kind", TOKEN_KINDS) if kind else None
        with self._store.unit(write=False) as tx:
            return tx.tokens.find(
                kind=parsed, principal=principal[:128], include_revoked=include_revoked
            )

    def rotate(self, token_id: str) -> tuple[str, TokenInfo, TokenInfo]:
        """A new token for the same holder and the old one revoked, in one transaction."""
        _check_id(token_id)
        audit.add_targets(token_id)
        with self._store.unit() as tx:
            old = tx.tokens.get(token_id)
            if old.revoked_at is not None:
                raise FailedPrecondition(
                    f"token {token_id} is already revoked; issue a new one", field="token_id"
                )
            now = self._clock.now()
            holder = Principal(old.kind, old.principal)
            self._check_holder(tx, holder)
            token, info = issue_token(tx, holder, now, audit.actor())
            revoked = tx.tokens.revoke(token_id, now)
            audit.add_targets(info.token_id, old.principal)
        return token, info, revoked

    def revoke(self, token_id: str) -> TokenInfo:
        _check_id(token_id)
        audit.add_targets(token_id)
        with self._store.unit() as tx:
            info = tx.tokens.revoke(token_id, self._clock.now())
            audit.add_targets(info.principal)
            return info

    @staticmethod
    def _check_holder(tx: Tx, holder: Principal) -> None:
        if holder.role is Role.DEPARTMENT:
            exists = tx.departments.exists(holder.name)
        elif holder.role is Role.AGENT:
            exists = tx.clusters.exists(holder.name)
        else:
            named = tx.principals.get(holder.name)
            exists = named is not None and named.role is holder.role
        if not exists:
            raise NotFound(f"no {holder.role.value} named {holder.name[:64]!r}", field="principal")


def _check_id(token_id: str) -> None:
    if not token_id:
        raise InvalidSpec("is required", field="token_id")
