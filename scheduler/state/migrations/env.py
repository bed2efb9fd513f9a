"""Alembic environment: runs against the engine the Store hands over."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import scheduler.state.tables  # noqa: F401  (registers the tables on SQLModel.metadata)

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        sqlite = connection.dialect.name == "sqlite"
        raw = connection.connection.driver_connection if sqlite else None
        if raw is not None:
            # Batch migrations rebuild a table (copy, drop, rename). With foreign keys on, the
            # drop of a table that others reference deletes, or counts as violating, every row
            # that points at it. The pragma only takes effect outside a transaction, hence the
            # raw (autocommit) connection; the check below proves nothing was left dangling.
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with context.begin_transaction():
                context.run_migrations()
                if sqlite:
                    dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if dangling:
                        raise RuntimeError(f"migration left dangling references: {dangling[:5]}")
            connection.commit()
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


run_migrations_online()
