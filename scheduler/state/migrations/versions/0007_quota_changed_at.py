"""quota.changed_at: when a quota triple last changed, for the reclaim delay

Revision ID: 0007_quota_changed_at
Revises: 0006_fair_share
Create Date: 2026-12-03
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007_quota_changed_at"
down_revision = "0006_fair_share"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quota") as batch:
        batch.add_column(
            sa.Column("changed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
    # Existing quotas count as changed at the upgrade: one already below what runs is then
    # reclaimed only a full delay later, never the moment the new version starts. A parameter
    # of the column's type, not CURRENT_TIMESTAMP, so both databases store it as the ORM does.
    update = sa.text("UPDATE quota SET changed_at = :now WHERE changed_at IS NULL").bindparams(
        sa.bindparam("now", type_=sqlmodel.sql.sqltypes.UTCDateTime())
    )
    op.get_bind().execute(update, {"now": datetime.now(UTC)})
    with op.batch_alter_table("quota") as batch:
        batch.alter_column(
            "changed_at", existing_type=sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("quota") as batch:
        batch.drop_column("changed_at")
