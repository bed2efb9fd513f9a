"""Persistence: SQLModel tables, row/domain mapping, repositories and the unit of work."""

from scheduler.state import lease as _lease  # noqa: F401  (registers the lease table)
from scheduler.state.store import Store, Tx

__all__ = ["Store", "Tx"]
