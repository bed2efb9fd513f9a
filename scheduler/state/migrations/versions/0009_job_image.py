"""job.image: the container image of a job (Kubernetes executor)

Revision ID: 0009_job_image
Revises: 0008_run_output
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009_job_image"
down_revision = "0008_run_output"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Jobs from before images name none: the agent's --image runs them.
    with op.batch_alter_table("job") as batch:
        batch.add_column(
            sa.Column(
                "image",
                sqlmodel.sql.sqltypes.AutoString(length=512),
                nullable=False,
                server_default="",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.drop_column("image")
