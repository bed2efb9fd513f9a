"""run_output, run_output_chunk: the bounded stdout/stderr of each run (JobService.ReadLogs)

Revision ID: 0008_run_output
Revises: 0007_quota_changed_at
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008_run_output"
down_revision = "0007_quota_changed_at"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_output",
        sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("stream", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("dropped", sa.BigInteger(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "stream"),
    )
    op.create_table(
        "run_output_chunk",
        sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("stream", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("byte_offset", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "stream", "byte_offset"),
    )


def downgrade() -> None:
    op.drop_table("run_output_chunk")
    op.drop_table("run_output")
