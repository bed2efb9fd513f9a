"""principals, one token table for every kind, the hash-chained audit log

Moves the token hashes of departments and clusters into the token table (created_by
"migration") and drops their token_hash columns.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_str = sqlmodel.sql.sqltypes.AutoString
_time = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "principal",
        sa.Column("name", _str(length=64), nullable=False),
        sa.Column("role", _str(length=32), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("created_by", _str(length=128), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    token = op.create_table(
        "token",
        sa.Column("token_id", _str(length=32), nullable=False),
        sa.Column("kind", _str(length=32), nullable=False),
        sa.Column("principal", _str(length=64), nullable=False),
        sa.Column("token_hash", _str(length=64), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("created_by", _str(length=128), nullable=False),
        sa.Column("revoked_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("token_id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_token_kind_principal", "token", ["kind", "principal"])
    op.create_table(
        "audit_record",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("time", _time(), nullable=False),
        sa.Column("principal", _str(length=128), nullable=False),
        sa.Column("role", _str(length=32), nullable=False),
        sa.Column("peer", _str(length=128), nullable=False),
        sa.Column("rpc", _str(length=128), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("outcome", _str(length=32), nullable=False),
        sa.Column("message", _str(length=256), nullable=False),
        sa.Column("request_id", _str(length=64), nullable=False),
        sa.Column("prev_hash", _str(length=64), nullable=False),
        sa.Column("hash", _str(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_audit_record_time", "audit_record", ["time"])
    op.create_index("ix_audit_record_principal", "audit_record", ["principal"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", _str(length=64), nullable=False),
        sa.Column("anchor_seq", sa.BigInteger(), nullable=False),
        sa.Column("anchor_hash", _str(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": "", "anchor_seq": 0, "anchor_hash": ""}])

    conn = op.get_bind()
    now = datetime.now(UTC)
    moved = []
    for kind, table in (("department", "department"), ("agent", "cluster")):
        rows = conn.execute(
            sa.text(f"SELECT name, token_hash FROM {table} WHERE token_hash IS NOT NULL")
        )
        for name, digest in rows:
            moved.append(
                {
                    "token_id": "tok_" + secrets.token_hex(8),
                    "kind": kind,
                    "principal": name,
                    "token_hash": digest,
                    "created_at": now,
                    "created_by": "migration",
                    "revoked_at": None,
                }
            )
    if moved:
        op.bulk_insert(token, moved)
    for table in ("department", "cluster"):
        # The column's unique constraint goes with it (PostgreSQL drops it; SQLite's batch
        # mode rebuilds the table without it).
        with op.batch_alter_table(table) as batch:
            batch.drop_column("token_hash")


def downgrade() -> None:
    # Each department and cluster gets back its newest valid token; its other tokens are lost.
    conn = op.get_bind()
    for kind, table in (("department", "department"), ("agent", "cluster")):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("token_hash", _str(length=64), nullable=True))
        rows = conn.execute(
            sa.text(
                "SELECT principal, token_hash FROM token WHERE kind = :kind "
                "AND revoked_at IS NULL ORDER BY created_at"
            ),
            {"kind": kind},
        )
        for name, digest in rows:
            conn.execute(
                sa.text(f"UPDATE {table} SET token_hash = :digest WHERE name = :name"),
                {"digest": digest, "name": name},
            )
    op.drop_table("audit_head")
    op.drop_index("ix_audit_record_principal", "audit_record")
    op.drop_index("ix_audit_record_time", "audit_record")
    op.drop_table("audit_record")
    op.drop_index("ix_token_kind_principal", "token")
    op.drop_table("token")
    op.drop_table("principal")
