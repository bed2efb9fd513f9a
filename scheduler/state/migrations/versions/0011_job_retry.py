"""job.max_attempts, job.retry and run.failure: retries by failure category

Revision ID: 0011_job_retry
Revises: 0010_job_max_runtime_changed
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0011_job_retry"
down_revision = "0010_job_max_runtime_changed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Jobs from before keep the scheduler's max_attempts and the default categories.
    with op.batch_alter_table("job") as batch:
        batch.add_column(
            sa.Column("max_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("retry", sa.JSON(), nullable=False, server_default="{}"))
    # Runs from before have no cause recorded: their messages are read instead.
    with op.batch_alter_table("run") as batch:
        batch.add_column(
            sa.Column(
                "failure",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.drop_column("failure")
    with op.batch_alter_table("job") as batch:
        batch.drop_column("retry")
        batch.drop_column("max_attempts")
