"""The server under test: a `suanchou server` process on a fresh database, and what the
benchmark reads of it.

A subprocess rather than an in-process `scheduler.app.App`: the load generators and the server
must not share a GIL, or the clients' Python would be counted as the server's latency. It
listens on 127.0.0.1:0 (the OS picks the port; the server's `scheduler_started` log line names
it), logs JSON at info as an operator runs it, and each measurement group gets a database of
its own (a SQLite file, or a new database on the PostgreSQL server of --postgres-url) so one
group's queue never weighs on the next. The departments, clusters and their tokens are written
through the service layer before the server starts, as benchmarks.pool_load does.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import sqlalchemy as sa
from grpc_health.v1 import health_pb2, health_pb2_grpc

from scheduler.domain.models import ClusterSpec
from scheduler.service.admin import AdminService
from scheduler.service.clock import SystemClock
from scheduler.service.settings import SchedulerSettings
from scheduler.state import Store

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 60.0
# Agents are simulated in the benchmark's process, which a loaded machine can stall for
# seconds: a long lease timeout keeps their clusters from being declared lost meanwhile.
LEASE_TIMEOUT_S = 600.0
_CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Pool:
    """What the seeding wrote: department tokens and cluster name -> agent token."""

    departments: tuple[tuple[str, str], ...]  # (name, token)
    agents: tuple[tuple[str, str], ...]  # (cluster, token)


class Databases:
    """Fresh databases: SQLite files under `work`, or new databases on a PostgreSQL server
    (`postgres_url` names one the benchmark may connect to and CREATE DATABASE from)."""

    def __init__(self, work: Path, postgres_url: str | None) -> None:
        self.work, self.postgres_url = work, postgres_url
        self._created: list[str] = []

    @property
    def kind(self) -> str:
        return "sqlite" if self.postgres_url is None else "postgresql"

    def fresh(self, group: str) -> str:
        if self.postgres_url is None:
            return f"sqlite:///{self.work / f'{group}-{uuid.uuid4().hex[:6]}.db'}"
        name = f"bench_{group.replace('-', '_')}_{uuid.uuid4().hex[:6]}"
        with self._admin() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        self._created.append(name)
        return str(sa.engine.make_url(self.postgres_url).set(database=name))

    def drop_all(self) -> None:
        for name in self._created:
            try:
                with self._admin() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            except sa.exc.SQLAlchemyError as exc:
                print(f"could not drop {name}: {str(exc)[:120]}", file=sys.stderr)
        self._created.clear()

    @contextmanager
    def _admin(self) -> Iterator[sa.Connection]:
        assert self.postgres_url is not None
        engine = sa.create_engine(self.postgres_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            engine.dispose()


def seed(url: str, departments: int, clusters: int) -> Pool:
    """Creates the schema, `departments` departments and `clusters` clusters; returns tokens."""
    store = Store(url)
    try:
        admin = AdminService(store, SystemClock(), SchedulerSettings(), SystemClock().now())
        depts = tuple(
            (f"dept-{i}", admin.create_department(f"dept-{i}", f"dept {i}")[1])
            for i in range(departments)
        )
        agents = tuple(
            (
                f"gov-{i}",
                admin.register_cluster(ClusterSpec(name=f"gov-{i}", region="hz", security_level=3))[
                    1
                ],
            )
            for i in range(clusters)
        )
    finally:
        store.dispose()
    return Pool(depts, agents)


class JobCounter:
    """Reads job counts straight from the database: exact (the metrics endpoint's counts are
    reused for seconds) and no load on the server's own threads."""

    def __init__(self, url: str) -> None:
        self._engine = sa.create_engine(url)

    def by_state(self) -> dict[str, int]:
        with self._engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT state, count(*) FROM job GROUP BY state"))
            return {str(state): int(n) for state, n in rows}

    def leased_at(self) -> dict[str, float]:
        """job_id -> epoch seconds of its first LEASED event (the cycle's commit)."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT job_id, min(created_at) FROM job_event WHERE state = 'LEASED' "
                    "GROUP BY job_id"
                )
            )
            return {str(job): _epoch(at) for job, at in rows}

    def close(self) -> None:
        self._engine.dispose()


def _epoch(value: object) -> float:
    """A stored timestamp as epoch seconds; naive ones are UTC (how the store writes them)."""
    from datetime import UTC, datetime

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime), f"not a timestamp: {value!r:.40}"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


class ServerProcess:
    """`suanchou server` on 127.0.0.1:0 and `url`; with `profile`, under
    benchmarks.api.profiled, which writes per-thread cProfile stats there at exit."""

    def __init__(self, work: Path, url: str, name: str, profile: Path | None = None) -> None:
        self.log = work / f"server-{name}.log"
        self.url, self.profile = url, profile
        self.address = ""
        argv = (
            ["-m", "benchmarks.api.profiled", str(profile)]
            if profile
            else ["-m", "scheduler.cli.main", "server"]
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("SUANCHOU_")}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, *argv, "--listen", "127.0.0.1:0", "--database-url", url,
                 "--lease-timeout", str(LEASE_TIMEOUT_S), "--log-level", "info"],
                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
            )  # fmt: skip
        try:
            self._await_start()
        except BaseException:
            self.stop()
            raise

    def _await_start(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.address:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start; see {self.log}")
            for entry in self.entries(0)[0]:
                if entry.get("event") == "scheduler_started":
                    self.address = str(entry["address"])
            time.sleep(0.1)
        with grpc.insecure_channel(self.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while True:
                try:
                    health.Check(health_pb2.HealthCheckRequest(), timeout=2)
                    return
                except grpc.RpcError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the server is not healthy; see {self.log}") from None
                    time.sleep(0.1)

    def entries(self, offset: int) -> tuple[list[dict[str, object]], int]:
        """JSON log lines from byte `offset` to the last complete line, and the next offset."""
        with self.log.open("rb") as f:
            f.seek(offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        out = []
        for line in data[:end].splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                out.append(entry)
        return out, offset + end

    def cycles_ms(self, offset: int) -> tuple[list[float], str]:
        """total_ms of the cycles completed since `offset`, and the median of each phase
        (`phases_ms` of the cycle's report: reap, snapshot, build, solve, ...) as text."""
        entries, _ = self.entries(offset)
        done = [e for e in entries if e.get("event") == "cycle_completed"]
        phases: dict[str, list[float]] = {}
        for e in done:
            reported = e.get("phases_ms")
            for name, ms in (reported if isinstance(reported, dict) else {}).items():
                phases.setdefault(str(name), []).append(float(ms))
        medians = " ".join(f"{k}:{statistics.median(v):.0f}" for k, v in phases.items())
        return [float(str(e["total_ms"])) for e in done], medians

    def log_size(self) -> int:
        return self.log.stat().st_size

    def memory_mib(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) of the server process, MiB."""
        fields = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
        return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)

    def cpu_s(self) -> float:
        """User + system CPU seconds the server process has used (all its threads)."""
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT_S)
