"""The composition root: config -> store -> services -> cycle -> gRPC server."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

import structlog
from sqlalchemy.exc import SQLAlchemyError

from scheduler import __version__, logs
from scheduler.api.server import build_server
from scheduler.config import ConfigError, ServerConfig, load
from scheduler.service.admin import AdminService
from scheduler.service.agent_sync import AgentSyncService
from scheduler.service.auth import Authenticator
from scheduler.service.clock import Clock, SystemClock
from scheduler.service.cycle import CycleRunner, SchedulingCycle
from scheduler.service.jobs import JobsService
from scheduler.state import Store

log = structlog.get_logger("suanchou.app")


class App:
    """A running scheduler. `start()` returns once the server accepts calls."""

    def __init__(self, config: ServerConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        settings = config.scheduler
        self.store = Store(config.database_url)
        started_at = self.clock.now()
        self.cycle = SchedulingCycle(self.store, self.clock, settings, started_at)
        self.runner = CycleRunner(self.cycle, settings.cycle_interval_s)
        self.jobs = JobsService(self.store, self.clock, settings, on_submit=self.runner.trigger)
        self.admin = AdminService(self.store, self.clock, settings, started_at)
        self.agents = AgentSyncService(self.store, self.clock, settings)
        self.server, self.port, self._health = build_server(
            config.listen,
            auth=Authenticator(self.store, config.admin_token),
            jobs=self.jobs,
            admin=self.admin,
            agents=self.agents,
            max_message_bytes=config.max_message_bytes,
        )
        host = config.listen.rsplit(":", 1)[0]
        self.address = f"{host}:{self.port}"

    def start(self, *, run_cycles: bool = True) -> None:
        self.server.start()
        if run_cycles:
            self.runner.start()
        log.info(
            "scheduler_started",
            address=self.address,
            version=__version__,
            database=_redact(self.config.database_url),
        )

    def stop(self, grace: float = 2.0) -> None:
        self._health.enter_graceful_shutdown()
        self.runner.stop()
        self.server.stop(grace).wait()
        self.store.dispose()
        log.info("scheduler_stopped", address=self.address)


def _one_line(exc: BaseException, database_url: str) -> str:
    """A startup failure as one line: which database or address, and the cause."""
    if isinstance(exc, ImportError):
        # SQLAlchemy imports the URL's driver lazily: a missing one surfaces here.
        return (
            f"database {_redact(database_url)}: its driver is not installed ({exc}); "
            "PostgreSQL URLs need `postgresql+psycopg://` with the psycopg package"
        )
    if isinstance(exc, SQLAlchemyError):
        cause = getattr(exc, "orig", None) or exc
        text = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        return f"database {_redact(database_url)}: {text}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _redact(url: str) -> str:
    """Database URL without its password, for logs."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="suanchou server", description="Run the scheduler.")
    p.add_argument("--config", help="TOML file with a [server] table (env SUANCHOU_CONFIG)")
    p.add_argument("--listen", help="HOST:PORT to serve gRPC on (default 127.0.0.1:50051)")
    p.add_argument("--database-url", help="SQLAlchemy URL (default sqlite:///suanchou.db)")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    p.add_argument(
        "--max-message-bytes",
        type=int,
        metavar="N",
        help="largest request accepted; replies stay within half of it (default 8388608)",
    )
    p.add_argument(
        "--lease-timeout",
        type=float,
        dest="lease_timeout_s",
        help="seconds of agent silence before its cluster is lost (default 30)",
    )
    p.add_argument(
        "--cycle-interval",
        type=float,
        dest="cycle_interval_s",
        help="seconds between scheduling cycles (default 1)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = load(
            args.config,
            {
                "listen": args.listen,
                "database_url": args.database_url,
                "log_level": args.log_level,
                "lease_timeout_s": args.lease_timeout_s,
                "cycle_interval_s": args.cycle_interval_s,
                "max_message_bytes": args.max_message_bytes,
            },
        )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not config.admin_token:
        print(
            "error: set the admin token with SUANCHOU_ADMIN_TOKEN or admin_token in the "
            "[server] table of the config file (at least 16 characters)",
            file=sys.stderr,
        )
        return 2
    logs.configure(config.log_level, json=config.log_json)
    try:
        app = App(config)
    except (ValueError, OSError, ImportError, SQLAlchemyError) as exc:
        print(f"error: {_one_line(exc, config.database_url)}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    app.start()
    stop.wait()
    app.stop()
    return 0
