"""node.taints: the taints an agent reports for each node

Revision ID: 0013_node_taints
Revises: 0012_gpu_shares
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_node_taints"
down_revision = "0012_gpu_shares"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nodes reported before taints had none; the next sync replaces them anyway.
    with op.batch_alter_table("node") as batch:
        batch.add_column(sa.Column("taints", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("node") as batch:
        batch.drop_column("taints")
