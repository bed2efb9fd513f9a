"""kill -9 of the scheduler, again and again, under continuous submits: nothing acknowledged is
lost, nothing is recorded twice, no replica runs twice, and no live agent is declared lost.

The scheduler runs as a real `suanchou server` process on a fixed loopback port (so agents and
clients find it again after each restart); agents are real processes; every replica appends its
job id and run id to one file, so a second execution shows even if the database never saw it.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlmodel import select

from protos.suanchou.v1 import jobs_pb2, jobs_pb2_grpc, types_pb2
from scheduler.domain.models import ClusterSpec
from scheduler.service.admin import AdminService
from scheduler.service.clock import SystemClock
from scheduler.service.settings import SchedulerSettings
from scheduler.state import Store
from scheduler.state.tables import JobEventRow, JobRow, RunRow
from tests.conftest import postgres_url, reset_postgres
from tests.integration.conftest import REPO, md

KILLS = 5
LEASE_TIMEOUT_S = 10
BATCH = 4
ADMIN_TOKEN = "kill-test-admin-token-0123456789"
_CHANNEL = (("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 1000))
_RETRY = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.CANCELLED,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Scheduler:
    """A `suanchou server` process that can be killed with SIGKILL and started again."""

    def __init__(self, tmp: Path, db_url: str, lease_timeout_s: float = LEASE_TIMEOUT_S) -> None:
        self.address = f"127.0.0.1:{_free_port()}"
        self._lease_timeout_s = lease_timeout_s
        self._tmp = tmp
        self._db_url = db_url
        self._proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        env = dict(
            os.environ,
            SUANCHOU_ADMIN_TOKEN=ADMIN_TOKEN,
            SUANCHOU_SYNC_INTERVAL_S="0.3",
        )
        with (self._tmp / f"server-{self.starts}.log").open("wb") as out:
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "scheduler.cli.main",
                    "server",
                    "--listen",
                    self.address,
                    "--database-url",
                    self._db_url,
                    "--lease-timeout",
                    str(self._lease_timeout_s),
                    "--cycle-interval",
                    "0.2",
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        deadline = time.monotonic() + 60
        with grpc.insecure_channel(self.address, options=_CHANNEL) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                assert self._proc.poll() is None, self.log_tail()
                try:
                    if (
                        health.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                        == health_pb2.HealthCheckResponse.SERVING
                    ):
                        return
                except grpc.RpcError:
                    time.sleep(0.1)
        raise AssertionError(f"scheduler did not come up: {self.log_tail()}")

    def kill(self) -> None:
        assert self._proc is not None
        self._proc.kill()
        self._proc.wait(10)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)

    def log_tail(self) -> str:
        return (self._tmp / f"server-{self.starts}.log").read_text(errors="replace")[-3000:]


def _seed(db_url: str, tmp: Path) -> tuple[str, dict[str, str]]:
    """One department and two clusters, written straight to the database before the server
    runs; returns the department token and each cluster's agent token."""
    store = Store(db_url)
    now = SystemClock().now()
    admin = AdminService(store, SystemClock(), SchedulerSettings(), now)
    _, token = admin.create_department("公安局", "Public Security")
    agents = {}
    for name in ("gov-a", "gov-b"):
        _, agents[name] = admin.register_cluster(
            ClusterSpec(name=name, region="hz", security_level=3)
        )
        nodes = [{"name": "n", "count": 2, "capacity": {"cpu": 8, "memory": "16Gi"}}]
        (tmp / f"{name}.yaml").write_text(yaml.safe_dump({"nodes": nodes}))
    store.dispose()
    return token, agents


def _start_agent(tmp: Path, address: str, cluster: str, token: str) -> subprocess.Popen[bytes]:
    with (tmp / f"agent-{cluster}.log").open("wb") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agents",
                "--scheduler",
                address,
                "--nodes",
                str(tmp / f"{cluster}.yaml"),
                "--workdir",
                str(tmp / f"work-{cluster}"),
                "--interval",
                "0.3",
                "--kill-grace",
                "1",
            ],
            env=dict(os.environ, SUANCHOU_AGENT_TOKEN=token),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )


class Submitter(threading.Thread):
    """Submits batches without pause (at most `batches`); a batch whose reply did not arrive is
    sent again with the same client ids, to the next of `addresses` when there are several,
    until one answers, as a careful client would. Each job appends its job and run id to
    `ledger` and then runs `run_s` seconds."""

    def __init__(
        self,
        addresses: list[str],
        token: str,
        ledger: Path,
        *,
        prefix: str = "b",
        batch: int = BATCH,
        batches: int = 400,
        run_s: float = 0.5,
    ) -> None:
        super().__init__(daemon=True)
        self._addresses = addresses
        self._token = token
        self._ledger = ledger
        self._prefix, self._batch, self._batches, self._run_s = prefix, batch, batches, run_s
        self.stop = threading.Event()
        self.acked: dict[str, str] = {}  # client_id -> job_id
        self.retries = 0
        self.error: BaseException | None = None

    def _spec(self, client_id: str) -> types_pb2.JobSpec:
        code = (
            "import os, time\n"
            f"with open({str(self._ledger)!r}, 'a') as f:\n"
            "    f.write(os.environ['SUANCHOU_JOB_ID'] + ' ' + os.environ['SUANCHOU_RUN_ID'] + "
            "'\\n')\n"
            f"time.sleep({self._run_s})\n"
        )
        return types_pb2.JobSpec(
            client_id=client_id,
            resources=types_pb2.Resources(quantities={"cpu": 500, "memory": 64}),
            command=[sys.executable, "-c", code],
            max_runtime_seconds=120,
        )

    def run(self) -> None:
        channels = [grpc.insecure_channel(a, options=_CHANNEL) for a in self._addresses]
        try:
            stubs = [jobs_pb2_grpc.JobServiceStub(c) for c in channels]
            target = 0
            for batch in range(self._batches):
                if self.stop.is_set():
                    break
                ids = [f"{self._prefix}{batch}-{i}" for i in range(self._batch)]
                request = jobs_pb2.SubmitJobsRequest(items=[self._spec(c) for c in ids])
                while True:
                    try:
                        reply = stubs[target].SubmitJobs(
                            request, metadata=md(self._token), timeout=10
                        )
                        break
                    except grpc.RpcError as exc:
                        if exc.code() not in _RETRY:
                            raise
                        self.retries += 1
                        target = (target + 1) % len(stubs)
                        time.sleep(0.1)
                for result in reply.results:
                    assert not result.HasField("error"), result
                    previous = self.acked.setdefault(result.client_id, result.job_id)
                    assert previous == result.job_id
                time.sleep(0.05)
        except BaseException as exc:  # reported by the test, not lost in a thread
            self.error = exc
        finally:
            for c in channels:
                c.close()


def drain(
    db_url: str, log_tail: Callable[[], str], timeout_s: float = 180
) -> tuple[list[JobRow], list[RunRow], list[JobEventRow]]:
    """Waits until no job is queued, leased or running, then reads every job, run and event."""
    store = Store(db_url, migrate=False)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            with store.unit(write=False) as tx:
                rows = tx.session.exec(select(JobRow)).all()
                open_jobs = [r for r in rows if r.state in ("QUEUED", "LEASED", "RUNNING")]
            if not open_jobs:
                break
            assert time.monotonic() < deadline, (
                f"{len(open_jobs)} jobs still open, e.g. {open_jobs[0].state} "
                f"{open_jobs[0].reason}: {open_jobs[0].message}\n{log_tail()}"
            )
            time.sleep(0.5)
        with store.unit(write=False) as tx:
            return (
                list(tx.session.exec(select(JobRow)).all()),
                list(tx.session.exec(select(RunRow)).all()),
                list(tx.session.exec(select(JobEventRow)).all()),
            )
    finally:
        store.dispose()


def check_books(
    jobs: list[JobRow], runs: list[RunRow], ledger: Path, submitters: list[Submitter]
) -> None:
    """0 acknowledged jobs lost or stored twice, every job SUCCEEDED, 0 replicas executed twice,
    and every execution in the ledger is a run the database knows."""
    assert [c for c, n in Counter(j.client_id for j in jobs).items() if n > 1] == []
    stored = {j.client_id: j.job_id for j in jobs}
    for s in submitters:
        assert {c: stored.get(c) for c in s.acked} == s.acked
    assert {j.state for j in jobs} == {"SUCCEEDED"}, Counter(j.state for j in jobs)
    executions = [line.split() for line in ledger.read_text().splitlines()]
    per_run = Counter(run_id for _, run_id in executions)
    assert [r for r, n in per_run.items() if n > 1] == []
    assert set(per_run) == {r.run_id for r in runs}


def _kill_under_load(tmp: Path, db_url: str) -> None:
    token, agent_tokens = _seed(db_url, tmp)
    scheduler = Scheduler(tmp, db_url)
    scheduler.start()
    ledger = tmp / "executions.txt"
    ledger.touch()
    agents = [_start_agent(tmp, scheduler.address, c, t) for c, t in agent_tokens.items()]
    submitter = Submitter([scheduler.address], token, ledger)
    rng = random.Random(8)
    try:
        submitter.start()
        for _ in range(KILLS):
            time.sleep(rng.uniform(1.0, 2.5))
            scheduler.kill()
            scheduler.start()
        time.sleep(1.0)
        submitter.stop.set()
        submitter.join(60)
        assert submitter.error is None, repr(submitter.error)
        assert submitter.acked, "nothing was acknowledged"
        jobs, runs, events = drain(db_url, scheduler.log_tail)
        lost_events = [e for e in events if e.reason == "LEASE_LOST"]
    finally:
        submitter.stop.set()
        for agent in agents:
            agent.terminate()
        for agent in agents:
            try:
                agent.wait(15)
            except subprocess.TimeoutExpired:
                agent.kill()
        scheduler.stop()
    check_books(jobs, runs, ledger, [submitter])
    # No live agent was declared lost.
    assert [r.run_id for r in runs if r.state == "LOST"] == []
    assert lost_events == []
    assert scheduler.starts == KILLS + 1
    print(
        f"{datetime.now(UTC):%H:%M:%S} kills={KILLS} jobs={len(jobs)} runs={len(runs)} "
        f"client_retries={submitter.retries}"
    )


@pytest.mark.slow
def test_scheduler_kill9_under_submits_sqlite(tmp_path: Path) -> None:
    """Five kill -9s of a scheduler on SQLite under continuous submits lose and repeat nothing."""
    _kill_under_load(tmp_path, f"sqlite:///{tmp_path / 'suanchou.db'}")


@pytest.mark.slow
@pytest.mark.postgres
def test_scheduler_kill9_under_submits_postgres(tmp_path: Path) -> None:
    """The same on PostgreSQL."""
    url = postgres_url()
    reset_postgres(url)
    _kill_under_load(tmp_path, url)


@pytest.mark.slow
def test_outage_twice_the_lease_timeout_loses_no_cluster(tmp_path: Path) -> None:
    """The scheduler is down for 20 s with a 10 s lease timeout while replicas run: when it is
    back, the agents return in time, no cluster is lost and no replica runs twice."""
    db_url = f"sqlite:///{tmp_path / 'suanchou.db'}"
    token, agent_tokens = _seed(db_url, tmp_path)
    scheduler = Scheduler(tmp_path, db_url, lease_timeout_s=10)
    scheduler.start()
    ledger = tmp_path / "executions.txt"
    ledger.touch()
    agents = [_start_agent(tmp_path, scheduler.address, c, t) for c, t in agent_tokens.items()]
    code = (
        "import os, time\n"
        f"with open({str(ledger)!r}, 'a') as f:\n"
        "    f.write(os.environ['SUANCHOU_JOB_ID'] + ' ' + os.environ['SUANCHOU_RUN_ID'] + '\\n')\n"
        "time.sleep(35)\n"
    )
    specs = [
        types_pb2.JobSpec(
            client_id=f"long-{i}",
            resources=types_pb2.Resources(quantities={"cpu": 1000, "memory": 64}),
            command=[sys.executable, "-c", code],
        )
        for i in range(4)
    ]
    store = Store(db_url, migrate=False)
    try:
        with grpc.insecure_channel(scheduler.address, options=_CHANNEL) as channel:
            stub = jobs_pb2_grpc.JobServiceStub(channel)
            stub.SubmitJobs(jobs_pb2.SubmitJobsRequest(items=specs), metadata=md(token), timeout=10)

        def states() -> Counter[str]:
            with store.unit(write=False) as tx:
                return Counter(r.state for r in tx.session.exec(select(JobRow)).all())

        deadline = time.monotonic() + 60
        while states() != Counter({"RUNNING": 4}):
            assert time.monotonic() < deadline, states()
            time.sleep(0.2)
        scheduler.kill()
        time.sleep(20)
        scheduler.start()
        deadline = time.monotonic() + 120
        while states() != Counter({"SUCCEEDED": 4}):
            assert time.monotonic() < deadline, f"{states()}\n{scheduler.log_tail()}"
            assert "LOST" not in {r for r in states()}
            time.sleep(0.5)
        with store.unit(write=False) as tx:
            runs = tx.session.exec(select(RunRow)).all()
    finally:
        store.dispose()
        for agent in agents:
            agent.terminate()
            agent.wait(15)
        scheduler.stop()
    assert sorted(r.state for r in runs) == ["SUCCEEDED"] * 4
    per_run = Counter(line.split()[1] for line in ledger.read_text().splitlines())
    assert sorted(per_run.values()) == [1, 1, 1, 1]
