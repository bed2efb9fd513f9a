"""Named principals and the token table, in domain terms. Never commits (see Store.unit)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from scheduler.domain.errors import AlreadyExists, NotFound
from scheduler.domain.security import NamedPrincipal, Principal, Role, TokenInfo
from scheduler.state.mapping import utc
from scheduler.state.tables import PrincipalRow, TokenRow

MAX_LISTED_TOKENS = 1000


class Principals:
    def __init__(self, session: Session) -> None:
        self._s = session

    def create(self, name: str, role: Role, now: datetime, created_by: str) -> NamedPrincipal:
        if self._s.get(PrincipalRow, name) is not None:
            raise AlreadyExists(f"principal {name!r} already exists", field="name")
        row = PrincipalRow(name=name, role=role.value, created_at=now, created_by=created_by)
        self._s.add(row)
        self._s.flush()
        return _principal(row)

    def get(self, name: str) -> NamedPrincipal | None:
        row = self._s.get(PrincipalRow, name)
        return None if row is None else _principal(row)

    def all(self) -> list[NamedPrincipal]:
        rows = self._s.exec(select(PrincipalRow).order_by(col(PrincipalRow.name))).all()
        return [_principal(r) for r in rows]


class Tokens:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(
        self, token_id: str, holder: Principal, token_hash: str, now: datetime, created_by: str
    ) -> TokenInfo:
        row = TokenRow(
            token_id=token_id,
            kind=holder.role.value,
            principal=holder.name,
            token_hash=token_hash,
            created_at=now,
            created_by=created_by,
        )
        self._s.add(row)
        self._s.flush()
        return _token(row)

    def holder(self, token_hash: str) -> Principal | None:
        """Who holds the valid (unrevoked) token with this hash."""
        row = self._s.exec(
            select(TokenRow).where(
                TokenRow.token_hash == token_hash, col(TokenRow.revoked_at).is_(None)
            )
        ).first()
        return None if row is None else Principal(Role(row.kind), row.principal)

    def get(self, token_id: str) -> TokenInfo:
        row = self._s.get(TokenRow, token_id)
        if row is None:
            raise NotFound(f"token {token_id[:40]!r} not found", field="token_id")
        return _token(row)

    def find(
        self, *, kind: Role | None = None, principal: str = "", include_revoked: bool = False
    ) -> list[TokenInfo]:
        query = select(TokenRow)
        if kind is not None:
            query = query.where(TokenRow.kind == kind.value)
        if principal:
            query = query.where(TokenRow.principal == principal)
        if not include_revoked:
            query = query.where(col(TokenRow.revoked_at).is_(None))
        query = query.order_by(
            col(TokenRow.kind), col(TokenRow.principal), col(TokenRow.created_at)
        ).limit(MAX_LISTED_TOKENS)
        return [_token(r) for r in self._s.exec(query).all()]

    def revoke(self, token_id: str, now: datetime) -> TokenInfo:
        """Revokes the token if it is valid; a revoked token keeps its first revocation time."""
        self._s.execute(
            update(TokenRow)
            .where(col(TokenRow.token_id) == token_id, col(TokenRow.revoked_at).is_(None))
            .values(revoked_at=now)
        )
        self._s.expire_all()
        return self.get(token_id)

    def revoke_all(self, holder: Principal, now: datetime) -> None:
        """Revokes every token of `holder` (a deregistered cluster's agent)."""
        self._s.execute(
            update(TokenRow)
            .where(
                col(TokenRow.kind) == holder.role.value,
                col(TokenRow.principal) == holder.name,
                col(TokenRow.revoked_at).is_(None),
            )
            .values(revoked_at=now)
        )


def _principal(row: PrincipalRow) -> NamedPrincipal:
    return NamedPrincipal(row.name, Role(row.role), utc(row.created_at), row.created_by)


def _token(row: TokenRow) -> TokenInfo:
    return TokenInfo(
        token_id=row.token_id,
        kind=Role(row.kind),
        principal=row.principal,
        created_at=utc(row.created_at),
        created_by=row.created_by,
        revoked_at=None if row.revoked_at is None else utc(row.revoked_at),
    )
