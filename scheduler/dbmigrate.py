"""`suanchou migrate`: brings the database to this version's schema and exits.

The server migrates at start too, which is enough for one process; a deployment of several
replicas runs this first, once (the Helm chart's pre-install/pre-upgrade hook Job), so replicas
never race each other through Alembic and a failed migration stops the rollout before any pod of
the new version starts. Reads the database URL as the server does: flag, then
SUANCHOU_DATABASE_URL, then the `[server]` table of --config / SUANCHOU_CONFIG.
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.exc import SQLAlchemyError

# The server's own startup-error line and URL redaction, so both commands fail alike.
from scheduler.app import _one_line as one_line_error
from scheduler.app import _redact as redact_url
from scheduler.config import ConfigError, load
from scheduler.state import Store
from scheduler.state.migrate import current_revision


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="suanchou migrate",
        description="Migrate the database to the schema of this version, then exit.",
    )
    p.add_argument("--config", help="TOML file with a [server] table (env SUANCHOU_CONFIG)")
    p.add_argument("--database-url", help="SQLAlchemy URL (env SUANCHOU_DATABASE_URL)")
    args = p.parse_args(argv)
    try:
        config = load(args.config, {"database_url": args.database_url})
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        store = Store(config.database_url)
        try:
            revision = current_revision(store.engine)
        finally:
            store.dispose()
    except (ValueError, OSError, ImportError, SQLAlchemyError) as exc:
        print(f"error: {one_line_error(exc, config.database_url)}", file=sys.stderr)
        return 1
    print(f"database {redact_url(config.database_url)} is at revision {revision}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
