"""job.spec_digest (client_id reuse with another spec) and cluster.agent_error

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Empty for jobs recorded before this revision: the digest is then computed from the row.
    with op.batch_alter_table("job") as batch:
        batch.add_column(
            sa.Column(
                "spec_digest",
                sqlmodel.sql.sqltypes.AutoString(length=64),
                nullable=False,
                server_default="",
            )
        )
    with op.batch_alter_table("cluster") as batch:
        batch.add_column(
            sa.Column(
                "agent_error",
                sqlmodel.sql.sqltypes.AutoString(length=1024),
                nullable=False,
                server_default="",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("cluster") as batch:
        batch.drop_column("agent_error")
    with op.batch_alter_table("job") as batch:
        batch.drop_column("spec_digest")
