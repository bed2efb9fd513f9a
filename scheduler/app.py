"""The composition root: config -> store -> services -> cycle -> gRPC server."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

import grpc
import structlog
from grpc_health.v1 import health_pb2
from sqlalchemy.exc import SQLAlchemyError

from scheduler import __version__, logs
from scheduler.api.admission import Admission, budgets_for
from scheduler.api.server import build_health_server, build_server
from scheduler.api.transport import ServerTls, checked_credentials
from scheduler.config import ConfigError, ServerConfig, load, metrics_address
from scheduler.observe.endpoint import MetricsEndpoint
from scheduler.observe.metrics import Metrics
from scheduler.service.admin import AdminService
from scheduler.service.agent_sync import AgentSyncService
from scheduler.service.audit import AuditService
from scheduler.service.auth import Authenticator
from scheduler.service.clock import Clock, SystemClock
from scheduler.service.credentials import CredentialsService
from scheduler.service.cycle import SchedulingCycle
from scheduler.service.cycle_runner import CycleRunner
from scheduler.service.governance import GovernanceService
from scheduler.service.jobs import JobsService
from scheduler.service.leadership import LEADER_HEALTH_SERVICE, leadership_for
from scheduler.service.liveness import Liveness
from scheduler.service.output import OutputService
from scheduler.service.throttle import AuthThrottle
from scheduler.state import Store

log = structlog.get_logger("suanchou.app")
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class App:
    """A running scheduler. `start()` returns once the server accepts calls."""

    def __init__(self, config: ServerConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        settings = config.scheduler
        self.tls = ServerTls(config.tls_cert, config.tls_key, config.tls_client_ca, config.insecure)
        # A TLS or listen mistake fails here, before the database is created or migrated.
        checked_credentials(config.listen, self.tls)
        # Before the store: a second scheduler on an SQLite file stops here, before migrating.
        self.leadership = leadership_for(config.database_url, settings)
        self.store = Store(config.database_url)
        started_at = self.clock.now()
        # One record of when each agent last called, shared by the Sync handler (which notes
        # it before touching the database), the reaper and the views.
        self.liveness = Liveness()
        # Prometheus metrics on this App's own registry, fed by the hooks installed below;
        # served only when metrics_listen is set (start()).
        self.metrics = Metrics(self.store, self.liveness, self.clock, __version__)
        self.store.after_commit = self.metrics.committed
        self.metrics.watch_leadership(self.leadership.is_leader)
        self.cycle = SchedulingCycle(
            self.store,
            self.clock,
            settings,
            started_at,
            self.liveness,
            self.metrics.planned,
            fence=self.leadership,
        )
        self.runner = CycleRunner(
            self.cycle,
            settings.cycle_interval_s,
            on_error=self.metrics.cycle_failed,
            on_cycle=self.metrics.cycle_completed,
            may_run=self.leadership.is_leader,
            max_duty=settings.cycle_max_duty,
        )
        self.jobs = JobsService(self.store, self.clock, settings, on_submit=self._submitted)
        self.admin = AdminService(self.store, self.clock, settings, started_at, self.liveness)
        self.governance = GovernanceService(self.store, self.clock, settings.quota_reclaim_delay_s)
        self.agents = AgentSyncService(
            self.store,
            self.clock,
            settings,
            self.liveness,
            on_agent_error=self.metrics.agent_reported_error,
        )
        self.output = OutputService(self.store, self.clock, settings)
        security = config.security
        self.audits = AuditService(self.store, self.clock, security.audit_retention_days)
        # A call's audit record joins the transaction of its change (see service.audit).
        self.store.before_commit = self.audits.append_pending
        self.credentials = CredentialsService(self.store, self.clock)
        self.throttle = AuthThrottle(
            max_failures=security.auth_max_failures,
            window_s=security.auth_failure_window_s,
            lockout_s=security.auth_lockout_s,
            max_peers=security.auth_max_tracked_peers,
        )
        bootstrap = config.bootstrap_token()
        if config.admin_token and not config.admin_token_file:
            log.warning(
                "admin_token_in_environment",
                hint="SUANCHOU_ADMIN_TOKEN / admin_token leak to child processes and config "
                "readers; use --admin-token-file",
            )
        # Concurrency budgets of the RPC threads (api.admission), kept here to be observable.
        self.admission = Admission(budgets_for(64))
        self.server, self.port, self._health = build_server(
            config.listen,
            auth=Authenticator(self.store, bootstrap),
            jobs=self.jobs,
            admin=self.admin,
            governance=self.governance,
            agents=self.agents,
            output=self.output,
            tls=self.tls,
            credentials=self.credentials,
            audits=self.audits,
            throttle=self.throttle,
            max_message_bytes=config.max_message_bytes,
            admission=self.admission,
            on_completed=self.metrics.rpc_completed,
        )
        # Plaintext grpc.health.v1 only, for probes that cannot speak TLS (api.server).
        self.health_server: grpc.Server | None = None
        self.health_port = 0
        if config.health_listen:
            self.health_server, self.health_port = build_health_server(
                config.health_listen, self._health
            )
        self.metrics_endpoint: MetricsEndpoint | None = None
        if config.metrics_listen:
            # Bound here, last, like the gRPC port: a port in use fails construction with one
            # line (main), and nothing else is left to fail after it started serving.
            host, port = metrics_address(config.metrics_listen)
            self.metrics_endpoint = MetricsEndpoint(host, port, self.metrics.registry)
            self.metrics_endpoint.start()
        self._has_bootstrap = bool(bootstrap)
        self._stopping = threading.Event()
        self._pruner = threading.Thread(target=self._prune_loop, name="housekeeping", daemon=True)
        host = config.listen.rsplit(":", 1)[0]
        self.address = f"{host}:{self.port}"

    def start(self, *, run_cycles: bool = True) -> None:
        self.server.start()
        if self.health_server is not None:
            self.health_server.start()
        if run_cycles:
            self.leadership.start(on_wake=self.runner.trigger, on_change=self._leading)
            self.runner.start()
            self._pruner.start()
        if not self._has_bootstrap and not self.credentials.list_principals():
            log.warning(
                "no_principals",
                hint="start once with --admin-token-file to create the first principals",
            )
        log.info(
            "scheduler_started",
            address=self.address,
            version=__version__,
            database=_redact(self.config.database_url),
            tls=self.tls.mode,
            metrics=self.metrics_endpoint.address if self.metrics_endpoint else "",
        )

    def stop(self, grace: float = 2.0) -> None:
        self._health.enter_graceful_shutdown()
        self._stopping.set()
        self.runner.stop()
        if self._pruner.is_alive():
            self._pruner.join(10)
        self.leadership.stop()
        self.server.stop(grace).wait()
        if self.health_server is not None:
            self.health_server.stop(0).wait()
        if self.metrics_endpoint is not None:
            self.metrics_endpoint.stop()
        self.store.dispose()
        log.info("scheduler_stopped", address=self.address)

    def is_leader(self) -> bool:
        """Whether this process runs the cycle, the reaper and housekeeping (for metrics)."""
        return self.leadership.is_leader()

    def _submitted(self) -> None:
        """A submit wakes the cycle: here on the leader, through the database on a follower."""
        if self.leadership.is_leader():
            self.runner.trigger()
        else:
            self.leadership.wake_leader()

    def _prune(self) -> None:
        try:
            self.audits.prune()
        except Exception:
            log.exception("audit_prune_failed")
        try:
            if pruned := self.output.prune():
                log.info("run_output_pruned", runs=pruned)
        except Exception:
            log.exception("run_output_prune_failed")

    def _leading(self, leader: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if leader else _NOT_SERVING
        self._health.set(LEADER_HEALTH_SERVICE, status)

    def _prune_loop(self) -> None:
        """Housekeeping: applies audit and job output retention at start and then every
        audit_prune_interval_s (an hour by default; both retentions are days long). On the
        leader only (service.leadership)."""
        while True:
            if self.leadership.is_leader():
                self._prune()
            if self._stopping.wait(self.config.security.audit_prune_interval_s):
                return


_SWITCH_INTERVAL_S = 0.0005


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
        "--metrics-listen",
        metavar="HOST:PORT",
        help="serve Prometheus metrics over plain HTTP there (e.g. 127.0.0.1:9464; port 0: "
        "any free port); default: no metrics endpoint",
    )
    p.add_argument(
        "--admin-token-file",
        metavar="PATH",
        help="file holding the bootstrap admin token, which may only create named principals "
        "(`suanchou principal create`); not needed once they exist",
    )
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
    p.add_argument(
        "--cycle-max-duty",
        type=float,
        dest="cycle_max_duty",
        help="most of the wall time cycles woken by submits may take, 0-1 (default 0.5)",
    )
    p.add_argument(
        "--min-runtime",
        type=float,
        dest="min_runtime_s",
        help="seconds a preemptible job runs before it may be preempted (default 300)",
    )
    p.add_argument(
        "--max-preemptions-per-cycle",
        type=int,
        metavar="N",
        help="jobs one scheduling cycle may preempt; 0 turns preemption off (default 10)",
    )
    p.add_argument(
        "--max-preemptions-per-minute",
        type=int,
        metavar="N",
        help="jobs preempted in any minute, counted from stored events (default 30)",
    )
    p.add_argument(
        "--quota-reclaim-delay",
        type=float,
        dest="quota_reclaim_delay_s",
        help="seconds after a quota is lowered below its use before the excess is preempted "
        "(default 600)",
    )
    p.add_argument(
        "--health-listen",
        metavar="HOST:PORT",
        help="also serve grpc.health.v1, and nothing else, in plaintext on HOST:PORT: for "
        "probes that cannot speak TLS, such as Kubernetes' gRPC probes (default: none)",
    )
    tls = p.add_argument_group("TLS (without --tls-cert the port is plaintext, loopback only)")
    tls.add_argument("--tls-cert", metavar="PATH", help="server certificate chain, PEM")
    tls.add_argument("--tls-key", metavar="PATH", help="private key of --tls-cert, PEM")
    tls.add_argument(
        "--tls-client-ca",
        metavar="PATH",
        help="CA bundle, PEM: every client must present a certificate it issued (mTLS); "
        "an agent's must name its cluster (CN or SAN)",
    )
    tls.add_argument(
        "--insecure",
        action="store_true",
        default=None,
        help="allow plaintext on a non-loopback address (tokens travel unencrypted)",
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
                "cycle_max_duty": args.cycle_max_duty,
                "min_runtime_s": args.min_runtime_s,
                "max_preemptions_per_cycle": args.max_preemptions_per_cycle,
                "max_preemptions_per_minute": args.max_preemptions_per_minute,
                "quota_reclaim_delay_s": args.quota_reclaim_delay_s,
                "tls_cert": args.tls_cert,
                "tls_key": args.tls_key,
                "tls_client_ca": args.tls_client_ca,
                "insecure": args.insecure,
                "admin_token_file": args.admin_token_file,
                "max_message_bytes": args.max_message_bytes,
                "health_listen": args.health_listen,
                "metrics_listen": args.metrics_listen,
            },
        )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logs.configure(config.log_level, json=config.log_json)
    # The scheduling cycle is CPU-bound Python in the same interpreter as the RPC threads, and
    # an RPC gives the interpreter up at every database call: at the default 5-ms switch
    # interval each return waited up to 5 ms behind the cycle, so a read of ten statements
    # took tens of ms while a cycle ran (issue 11, GetJob p99). 0.5 ms lets I/O-bound threads
    # back in ten times sooner, for a little more switching in the cycle.
    sys.setswitchinterval(_SWITCH_INTERVAL_S)
    try:
        app = App(config)
    except (ValueError, OSError, ImportError, SQLAlchemyError) as exc:  # incl. AnotherScheduler
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
