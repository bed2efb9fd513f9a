"""governance: department.parent and priority_classes, quota, priority_class, job.priority_class

Revision ID: 0004_governance
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004_governance"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("department") as batch:
        batch.add_column(
            sa.Column(
                "parent",
                sqlmodel.sql.sqltypes.AutoString(length=64),
                nullable=False,
                server_default="",
            )
        )
        batch.add_column(
            sa.Column("priority_classes", sa.JSON(), nullable=False, server_default="[]")
        )
    with op.batch_alter_table("job") as batch:
        batch.add_column(
            sa.Column(
                "priority_class",
                sqlmodel.sql.sqltypes.AutoString(length=63),
                nullable=False,
                server_default="",
            )
        )
    op.create_table(
        "quota",
        sa.Column("department", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("cluster_selector", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("resource", sqlmodel.sql.sqltypes.AutoString(length=63), nullable=False),
        sa.Column("nominal", sa.BigInteger(), nullable=False),
        sa.Column("borrowing_limit", sa.BigInteger(), nullable=True),
        sa.Column("lending_limit", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["department"], ["department.name"]),
        sa.PrimaryKeyConstraint("department", "cluster_selector", "resource"),
    )
    op.create_table(
        "priority_class",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=63), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("preemptible", sa.Boolean(), nullable=False),
        sa.Column("may_preempt", sa.Boolean(), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("priority_class")
    op.drop_table("quota")
    with op.batch_alter_table("job") as batch:
        batch.drop_column("priority_class")
    with op.batch_alter_table("department") as batch:
        batch.drop_column("priority_classes")
        batch.drop_column("parent")
