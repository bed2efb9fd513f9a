"""job.max_runtime_changed_at: when JobService.UpdateJob last changed a job's max runtime

Revision ID: 0010_job_max_runtime_changed
Revises: 0009_job_image
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010_job_max_runtime_changed"
down_revision = "0009_job_image"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL: never changed, so agents are sent no limit update for the job's runs.
    with op.batch_alter_table("job") as batch:
        batch.add_column(
            sa.Column("max_runtime_changed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.drop_column("max_runtime_changed_at")
