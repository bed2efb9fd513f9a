"""GPU shares: devices counted in thousandths of one device, and run.devices

Job resources, node capacities and quota numbers of `nvidia.com/gpu` and `huawei.com/ascend`
were whole devices; the domain now counts thousandths (scheduler.domain.resources), so stored
values are multiplied by 1000. run.devices holds the device ids the cycle chose.

Revision ID: 0012_gpu_shares
Revises: 0011_job_retry
Create Date: 2026-12-04
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0012_gpu_shares"
down_revision = "0011_job_retry"
branch_labels = None
depends_on = None

# Fixed here, not imported: a migration must mean the same whatever the code says later.
_DEVICES = ("nvidia.com/gpu", "huawei.com/ascend")
_SCALE = 1000


def _scale_json(table: str, keys: tuple[str, ...], column: str, up: bool) -> None:
    t = sa.table(table, *(sa.column(k) for k in keys), sa.column(column, sa.JSON))
    bind = op.get_bind()
    for *row_key, value in bind.execute(sa.select(*(t.c[k] for k in keys), t.c[column])).all():
        if not isinstance(value, dict) or not any(name in value for name in _DEVICES):
            continue
        scaled: dict[str, Any] = dict(value)
        for name in _DEVICES:
            if name in scaled:
                n = int(scaled[name])
                scaled[name] = n * _SCALE if up else -(-n // _SCALE)
        match = [t.c[k] == v for k, v in zip(keys, row_key, strict=True)]
        bind.execute(sa.update(t).where(*match).values({column: scaled}))


def _scale_quotas(up: bool) -> None:
    quota = sa.table(
        "quota",
        sa.column("resource"),
        sa.column("nominal"),
        sa.column("borrowing_limit"),
        sa.column("lending_limit"),
    )
    devices = quota.c.resource.in_(_DEVICES)
    for name in ("nominal", "borrowing_limit", "lending_limit"):
        c = quota.c[name]
        value = c * _SCALE if up else (c + _SCALE - 1) / _SCALE
        op.get_bind().execute(sa.update(quota).where(devices, c.is_not(None)).values({name: value}))


def upgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.add_column(
            sa.Column(
                "devices",
                sqlmodel.sql.sqltypes.AutoString(length=512),
                nullable=False,
                server_default="",
            )
        )
    _scale_json("job", ("job_id",), "resources", up=True)
    _scale_json("node", ("cluster", "name"), "capacity", up=True)
    _scale_quotas(up=True)


def downgrade() -> None:
    _scale_quotas(up=False)
    _scale_json("node", ("cluster", "name"), "capacity", up=False)
    _scale_json("job", ("job_id",), "resources", up=False)
    with op.batch_alter_table("run") as batch:
        batch.drop_column("devices")
