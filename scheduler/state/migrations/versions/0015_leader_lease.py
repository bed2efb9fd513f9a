"""leader_lease: which scheduler process runs the cycle, and its fencing epoch

One row (id 1), free at first. Used on PostgreSQL, where several scheduler processes may share
the database (scheduler.state.lease); created on SQLite too so both schemas stay alike.

Revision ID: 0015_leader_lease
Revises: 0014_job_topology
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0015_leader_lease"
down_revision = "0014_job_topology"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leader_lease",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO leader_lease (id, holder, epoch, expires_at) VALUES (1, '', 0, 0)")


def downgrade() -> None:
    op.drop_table("leader_lease")
