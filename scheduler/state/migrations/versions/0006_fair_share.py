"""fair share: department.fair_share_weight, fair_share_usage, job.effective_priority

Revision ID: 0006_fair_share
Revises: 0005_preemption
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006_fair_share"
down_revision = "0005_preemption"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("department") as batch:
        batch.add_column(
            sa.Column("fair_share_weight", sa.Integer(), nullable=False, server_default="1")
        )
    with op.batch_alter_table("job") as batch:
        batch.add_column(sa.Column("effective_priority", sa.Integer(), nullable=True))
        batch.create_index("ix_job_state_effective_priority", ["state", "effective_priority"])
    op.create_table(
        "fair_share_usage",
        sa.Column("department", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("decayed_usage", sa.Float(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["department"], ["department.name"]),
        sa.PrimaryKeyConstraint("department"),
    )


def downgrade() -> None:
    op.drop_table("fair_share_usage")
    with op.batch_alter_table("job") as batch:
        batch.drop_index("ix_job_state_effective_priority")
        batch.drop_column("effective_priority")
    with op.batch_alter_table("department") as batch:
        batch.drop_column("fair_share_weight")
