"""python -m benchmarks.pool_load: a real scheduler under a submit storm, killed now and then.

Starts `suanchou server` as a process (SQLite in a temporary directory, or --database-url, e.g.
the test PostgreSQL), real agent processes whose clusters are small (so the queue grows and the
cycles get big, as in a city's busy hour), and submitter threads that send batches at a target
rate with client retries on the same client_ids. The scheduler is killed with SIGKILL --kills
times and restarted at once. Then it prints what an operator would want to know: submits
acknowledged per second, how long the server took for the agents' Syncs and for its cycles (from
its own `rpc_completed` / `cycle_completed` log lines), calls abandoned by their caller, clusters
declared lost, runs lost, and duplicate jobs. Every loop is bounded by --seconds; every address
is loopback.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import grpc
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlmodel import select

from protos.suanchou.v1 import jobs_pb2, jobs_pb2_grpc, types_pb2
from scheduler.domain.models import ClusterSpec
from scheduler.service.admin import AdminService
from scheduler.service.clock import SystemClock
from scheduler.service.settings import SchedulerSettings
from scheduler.state import Store
from scheduler.state.tables import JobRow, RunRow

REPO = Path(__file__).resolve().parents[1]
_CHANNEL = (("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 1000))
# Resent with the same client_ids: a reply lost to a kill comes back as duplicates, not new jobs.
_RETRY = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    def __init__(self, work: Path, db_url: str, lease_timeout: float) -> None:
        self.address = f"127.0.0.1:{_free_port()}"
        self.work, self.db_url, self.lease_timeout = work, db_url, lease_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.logs: list[Path] = []

    def start(self) -> float:
        """Starts the process; returns the seconds until it answered its health check."""
        log = self.work / f"server-{len(self.logs)}.log"
        self.logs.append(log)
        begin = time.monotonic()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SUANCHOU_")}
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "scheduler.cli.main", "server", "--listen", self.address,
                 "--database-url", self.db_url, "--lease-timeout", str(self.lease_timeout)],
                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
            )  # fmt: skip
        with grpc.insecure_channel(self.address, options=_CHANNEL) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() - begin < 120:
                try:
                    health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    return time.monotonic() - begin
                except grpc.RpcError:
                    time.sleep(0.1)
        raise RuntimeError(f"the scheduler did not start; see {log}")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


def seed(db_url: str, work: Path, clusters: int) -> tuple[list[str], dict[str, str]]:
    """Four departments and `clusters` clusters of one 4-core node each, written to the
    database before the server runs: department tokens and agent tokens."""
    store = Store(db_url)
    admin = AdminService(store, SystemClock(), SchedulerSettings(), SystemClock().now())
    departments = [admin.create_department(f"dept-{i}", f"dept {i}")[1] for i in range(4)]
    agents = {}
    for i in range(clusters):
        name = f"gov-{i}"
        agents[name] = admin.register_cluster(
            ClusterSpec(name=name, region="hz", security_level=3)
        )[1]
        nodes = {"nodes": [{"name": "n", "capacity": {"cpu": 4, "memory": "8Gi"}}]}
        (work / f"{name}.yaml").write_text(yaml.safe_dump(nodes))
    store.dispose()
    return departments, agents


def start_agent(work: Path, address: str, cluster: str, token: str) -> subprocess.Popen[bytes]:
    token_file = work / f"{cluster}.token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    with (work / f"agent-{cluster}.log").open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "agents", "--scheduler", address,
             "--nodes", str(work / f"{cluster}.yaml"), "--workdir", str(work / f"run-{cluster}"),
             "--token-file", str(token_file), "--kill-grace", "1"],
            stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
        )  # fmt: skip


class Submitter(threading.Thread):
    """Sends batches at `rate` jobs per second until `stop`; a batch is resent with the same
    client_ids until a reply arrives."""

    def __init__(self, address: str, token: str, name: str, rate: float, batch: int) -> None:
        super().__init__(daemon=True)
        self.address, self.token, self.name = address, token, name
        self.interval = batch / rate
        self.batch = batch
        self.stop = threading.Event()
        self.acked = 0
        self.retries: Counter[str] = Counter()

    def run(self) -> None:
        resources = types_pb2.Resources(quantities={"cpu": 1000, "memory": 64})
        metadata = (("authorization", f"Bearer {self.token}"),)
        with grpc.insecure_channel(self.address, options=_CHANNEL) as channel:
            stub = jobs_pb2_grpc.JobServiceStub(channel)
            n = 0
            next_at = time.monotonic()
            while not self.stop.is_set():
                items = [
                    types_pb2.JobSpec(
                        client_id=f"{self.name}-{n}-{i}",
                        command=["sleep", "2"],
                        max_runtime_seconds=60,
                        resources=resources,
                    )
                    for i in range(self.batch)
                ]
                request = jobs_pb2.SubmitJobsRequest(items=items)
                while not self.stop.is_set():
                    try:
                        stub.SubmitJobs(request, metadata=metadata, timeout=10)
                        self.acked += self.batch
                        break
                    except grpc.RpcError as exc:
                        self.retries[exc.code().name] += 1
                        if exc.code() not in _RETRY:
                            raise
                        time.sleep(0.1)
                n += 1
                next_at += self.interval
                self.stop.wait(max(0.0, next_at - time.monotonic()))


def _log_lines(paths: Sequence[Path]) -> list[dict[str, object]]:
    lines = []
    for path in paths:
        for text in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(text)
            except ValueError:
                continue
            if isinstance(entry, dict):
                lines.append(entry)
    return lines


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="suanchou-load-"))
    db_url = args.database_url or f"sqlite:///{work / 'suanchou.db'}"
    departments, agent_tokens = seed(db_url, work, args.clusters)
    server = Server(work, db_url, args.lease_timeout)
    startups = [server.start()]
    agents = [start_agent(work, server.address, c, t) for c, t in agent_tokens.items()]
    per = args.rate / (len(departments) * 2)
    submitters = [
        Submitter(server.address, token, f"s{d}-{k}", per, args.batch)
        for d, token in enumerate(departments)
        for k in range(2)
    ]
    begin = time.monotonic()
    for s in submitters:
        s.start()
    try:
        for kill in range(args.kills):
            target = begin + args.seconds * (kill + 1) / (args.kills + 1)
            time.sleep(max(0.0, target - time.monotonic()))
            server.kill()
            startups.append(server.start())
        time.sleep(max(0.0, begin + args.seconds - time.monotonic()))
        for s in submitters:
            s.stop.set()
        for s in submitters:
            s.join(30)
        elapsed = time.monotonic() - begin
        # Read before the agents stop: runs they stop on shutdown are LOST by design.
        store = Store(db_url, migrate=False)
        with store.unit(write=False) as tx:
            jobs = tx.session.exec(select(JobRow.client_id)).all()
            lost_runs = len(tx.session.exec(select(RunRow).where(RunRow.state == "LOST")).all())
        store.dispose()
    finally:
        for s in submitters:
            s.stop.set()
        for agent in agents:
            agent.terminate()
        for agent in agents:
            agent.wait(30)
        server.stop()
    logs = _log_lines(server.logs)
    syncs = [
        float(str(e["duration_ms"])) for e in logs if str(e.get("method", "")).endswith("/Sync")
    ]
    cycles = [float(str(e["total_ms"])) for e in logs if e.get("event") == "cycle_completed"]
    abandoned = sum(1 for e in logs if e.get("abandoned") is True)
    lost = sum(1 for e in logs if e.get("event") == "cluster_lost")
    acked = sum(s.acked for s in submitters)
    retries = sum((s.retries for s in submitters), Counter())
    duplicates = sum(n - 1 for n in Counter(jobs).values() if n > 1)
    print(f"database            {db_url.split('@')[-1]}")
    print(f"load average (1 m)  {os.getloadavg()[0]:.2f} at the end")
    print(f"duration            {elapsed:.0f} s, {args.kills} kill -9 of the scheduler")
    print(f"restart to healthy  {', '.join(f'{s:.1f}' for s in startups[1:])} s")
    print(f"submits acked       {acked} ({acked / elapsed:.0f}/s; target {args.rate:.0f}/s)")
    print(f"client retries      {dict(retries)}")
    print(f"jobs stored         {len(jobs)}, duplicates {duplicates}")
    print(f"Sync server ms      p50 {_pct(syncs, 0.5):.1f}  p95 {_pct(syncs, 0.95):.1f}  "
          f"max {max(syncs, default=0):.1f}  (n={len(syncs)})")  # fmt: skip
    print(f"cycle total ms      p50 {_pct(cycles, 0.5):.1f}  p95 {_pct(cycles, 0.95):.1f}  "
          f"max {max(cycles, default=0):.1f}  (n={len(cycles)}, mean "
          f"{statistics.fmean(cycles) if cycles else 0:.1f})")  # fmt: skip
    print(f"abandoned calls     {abandoned}")
    print(f"clusters lost       {lost}; runs LOST {lost_runs}")
    print(f"work directory      {work}")
    return 1 if lost or lost_runs or duplicates else 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.pool_load", description=__doc__)
    p.add_argument("--database-url", help="default: SQLite in a temporary directory")
    p.add_argument("--rate", type=float, default=200.0, help="jobs submitted per second")
    p.add_argument("--batch", type=int, default=5, help="jobs per SubmitJobs call")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--kills", type=int, default=3)
    p.add_argument("--clusters", type=int, default=3)
    p.add_argument("--lease-timeout", type=float, default=10.0)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
