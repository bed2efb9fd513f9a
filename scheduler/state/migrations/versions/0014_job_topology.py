"""job.topology: spread over zones and anti-affinity (JobSpec.topology)

Revision ID: 0014_job_topology
Revises: 0013_node_taints
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_job_topology"
down_revision = "0013_node_taints"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Jobs from before neither spread nor avoid one another: {} is the unset topology.
    with op.batch_alter_table("job") as batch:
        batch.add_column(sa.Column("topology", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.drop_column("topology")
