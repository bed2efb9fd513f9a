"""preemption: index job_event (reason, created_at) for the per-minute preemption budget

Revision ID: 0005_preemption
Revises: 0004_governance
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0005_preemption"
down_revision = "0004_governance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every cycle counts the PREEMPTED events of the last minute; without the index that is a
    # scan of the whole event log.
    op.create_index("ix_job_event_reason_created", "job_event", ["reason", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_job_event_reason_created", table_name="job_event")
