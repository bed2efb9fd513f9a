"""Two `suanchou server` processes on one PostgreSQL: exactly one leads (runs the cycle), both
serve the API. Under continuous submits to both, the leader is killed with SIGKILL or cut off
from the database: the follower leads within 15 s, nothing acknowledged is lost, no job is
leased twice and no replica runs twice.

The agents talk to the follower (the survivor), as they would reach a surviving replica behind
a Kubernetes Service; every replica appends its job id and run id to one file, so a second
execution shows even if the database never saw it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import select

from protos.suanchou.v1 import types_pb2
from scheduler.service.leadership import LEADER_HEALTH_SERVICE
from scheduler.service.settings import SchedulerSettings
from scheduler.state import Store
from scheduler.state.tables import JobRow
from tests.conftest import postgres_url, reset_postgres
from tests.integration.conftest import REPO, Pool, node, py_job
from tests.integration.test_scheduler_kill import (
    Submitter,
    _free_port,
    _seed,
    _start_agent,
    check_books,
    drain,
)

TAKEOVER_LIMIT_S = 15.0
BATCH = 3
# Each submitter: batches of BATCH jobs, at most 300 batches, each job running 0.3 s.
_LOAD: dict[str, Any] = {"batch": BATCH, "batches": 300, "run_s": 0.3}
_CHANNEL = (("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 1000))
# Refusals a careful client retries (on the other replica): the server is gone, or its database.
_RETRY = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.INTERNAL,
}
SERVING = health_pb2.HealthCheckResponse.SERVING


class Replica:
    """One `suanchou server` process of the pair, logging JSON lines to its own file."""

    def __init__(self, name: str, tmp: Path, db_url: str) -> None:
        self.name = name
        self.address = f"127.0.0.1:{_free_port()}"
        self.log = tmp / f"server-{name}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "scheduler.cli.main",
                    "server",
                    "--listen",
                    self.address,
                    "--database-url",
                    db_url,
                    "--lease-timeout",
                    "10",
                    "--cycle-interval",
                    "0.5",
                ],
                env=dict(os.environ, SUANCHOU_SYNC_INTERVAL_S="0.3"),
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        self.channel = grpc.insecure_channel(self.address, options=_CHANNEL)
        wait_for(lambda: self.health("") == SERVING, 60, f"{name} to serve", self)

    def health(self, service: str) -> int:
        assert self.proc.poll() is None, self.tail()
        try:
            reply = health_pb2_grpc.HealthStub(self.channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=2
            )
        except grpc.RpcError:
            return -1
        status: int = reply.status
        return status

    def leads(self) -> bool:
        return self.health(LEADER_HEALTH_SERVICE) == SERVING

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        self.channel.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, *logs: Replica) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n" + "\n".join(
            r.tail() for r in logs
        )
        time.sleep(0.1)


class Pair:
    """Replica `one` (started first, so it leads), replica `two`, agents talking to `two`,
    and a submitter on each replica."""

    def __init__(self, tmp: Path, seed_url: str, urls: tuple[str, str]) -> None:
        self.tmp = tmp
        self.seed_url = seed_url
        self.token, agent_tokens = _seed(seed_url, tmp)
        self.ledger = tmp / "executions.txt"
        self.ledger.touch()
        self.one = Replica("one", tmp, urls[0])
        self.replicas = [self.one]
        wait_for(self.one.leads, 60, "replica one to lead", self.one)
        self.two = Replica("two", tmp, urls[1])
        self.replicas.append(self.two)
        self.agents = [_start_agent(tmp, self.two.address, c, t) for c, t in agent_tokens.items()]
        self.submitters = [
            Submitter(
                [self.one.address, self.two.address],
                self.token,
                self.ledger,
                **_LOAD,
                prefix="one-",
            ),
            Submitter(
                [self.two.address, self.one.address],
                self.token,
                self.ledger,
                **_LOAD,
                prefix="two-",
            ),
        ]
        for s in self.submitters:
            s.start()

    def succeeded(self) -> int:
        store = Store(self.seed_url, migrate=False)
        try:
            with store.unit(write=False) as tx:
                rows = tx.session.exec(select(JobRow).where(JobRow.state == "SUCCEEDED"))
                return len(rows.all())
        finally:
            store.dispose()

    def finish_and_check(self) -> None:
        """Stops submitting, waits for every job to end, and checks the books."""
        for s in self.submitters:
            s.stop.set()
        for s in self.submitters:
            s.join(120)
            assert s.error is None, repr(s.error)
            assert s.acked, "nothing was acknowledged"
        jobs, runs, events = drain(self.seed_url, self.two.tail)
        check_books(jobs, runs, self.ledger, self.submitters)
        leased = [e for e in events if e.state == "LEASED"]
        # 0 jobs leased twice: one LEASED event and one run per job (each has one replica).
        assert [j for j, n in Counter(e.job_id for e in leased).items() if n > 1] == []
        assert [j for j, n in Counter(r.job_id for r in runs).items() if n > 1] == []
        assert len(leased) == len(jobs) == len(runs)
        print(
            f"jobs={len(jobs)} runs={len(runs)} "
            f"client_retries={sum(s.retries for s in self.submitters)}"
        )

    def close(self) -> None:
        for s in self.submitters:
            s.stop.set()
        for agent in self.agents:
            agent.terminate()
        for agent in self.agents:
            try:
                agent.wait(15)
            except subprocess.TimeoutExpired:
                agent.kill()
        for r in self.replicas:
            r.stop()


def _takeover(pair: Pair, cut: Callable[[], None]) -> float:
    """Lets work flow, cuts replica one off (`cut`), and returns the seconds until replica
    two leads."""
    wait_for(lambda: pair.succeeded() >= 10, 120, "work to flow", *pair.replicas)
    assert not pair.two.leads()
    cut()
    began = time.monotonic()
    wait_for(pair.two.leads, 60, "replica two to lead", pair.two)
    took = time.monotonic() - began
    # Submits keep coming to both replicas (the follower's wake the new leader).
    done = pair.succeeded()
    wait_for(lambda: pair.succeeded() >= done + 10, 120, "work to flow again", pair.two)
    return took


def test_the_sqlite_scheduler_reports_itself_leader(pool: Pool) -> None:
    """The one scheduler of an SQLite file leads: its leader health service is SERVING."""
    assert pool.app is not None and pool.app.is_leader()
    reply = health_pb2_grpc.HealthStub(pool.channel).Check(
        health_pb2.HealthCheckRequest(service=LEADER_HEALTH_SERVICE), timeout=10
    )
    assert reply.status == SERVING


@pytest.mark.postgres
def test_a_submit_on_the_follower_wakes_the_leader(tmp_path: Path, pg: str) -> None:
    """Two in-process replicas with a two-minute cycle interval: a job submitted to the
    follower is placed by the leader at once, woken through the database."""
    settings = SchedulerSettings(sync_interval_s=0.2, lease_timeout_s=5, cycle_interval_s=120)
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one = Pool(tmp=tmp_path / "one", db_url=pg, settings=settings)
    two = Pool(tmp=tmp_path / "two", db_url=pg, settings=settings)
    try:
        one.start()
        assert one.app is not None
        Pool.wait_for(one.app.is_leader, 60, "replica one to lead")
        Pool.wait_for(lambda: one.app is not None and one.app.runner.cycles >= 1, 60, "a cycle")
        two.admin_token = one.admin_token
        two.start()
        assert two.app is not None and not two.app.is_leader()
        one.cluster("gov-a", [node("n1")])  # returns once its agent reported the node
        two.tokens["d"] = one.department("d")
        [result] = two.submit("d", py_job("woken", "pass"))
        placed = {types_pb2.JOB_STATE_LEASED, types_pb2.JOB_STATE_RUNNING}
        two.wait_state("d", result.job_id, placed | {types_pb2.JOB_STATE_SUCCEEDED})
    finally:
        for agent in one.agents:
            agent.stop()
        two.stop()
        one.stop()


@pytest.fixture
def pg() -> Iterator[str]:
    url = postgres_url()
    reset_postgres(url)
    yield url


@pytest.mark.slow
@pytest.mark.postgres
def test_kill9_of_the_leader_under_submits(tmp_path: Path, pg: str) -> None:
    """kill -9 of the leading replica: the follower leads within 15 s and the books hold."""
    pair = Pair(tmp_path, pg, (pg, pg))
    try:
        took = _takeover(pair, pair.one.proc.kill)
        pair.finish_and_check()
    finally:
        pair.close()
    print(f"takeover after kill -9: {took:.1f} s")
    assert took <= TAKEOVER_LIMIT_S
    # Replica two gained leadership once and kept it until it stopped (and handed it back).
    changes = [e["event"] for e in pair.two.events() if e.get("event", "").startswith("leader")]
    assert changes == ["leadership_gained", "leadership_released"]


@pytest.mark.slow
@pytest.mark.postgres
def test_leader_cut_off_from_the_database_steps_down(tmp_path: Path, pg: str) -> None:
    """The leader's connections are terminated and it may not reconnect: the follower leads
    within 15 s; the old leader steps down, runs no cycle afterwards even once it can reach the
    database again, and the books hold."""
    admin = create_engine(pg, isolation_level="AUTOCOMMIT")
    user = make_url(pg).username
    roles = ("suanchou_ha_one", "suanchou_ha_two")
    with admin.connect() as conn:
        for role in roles:
            conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
            # Members of the tables' owner: a login of their own, the same rights.
            conn.execute(text(f"CREATE ROLE {role} LOGIN IN ROLE {user}"))
    urls = (
        make_url(pg).set(username=roles[0]).render_as_string(hide_password=False),
        make_url(pg).set(username=roles[1]).render_as_string(hide_password=False),
    )

    def cut() -> None:
        with admin.connect() as conn:
            conn.execute(text(f"ALTER ROLE {roles[0]} NOLOGIN"))
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r"),
                {"r": roles[0]},
            )

    pair = Pair(tmp_path, pg, urls)
    try:
        took = _takeover(pair, cut)
        wait_for(
            lambda: any(e.get("event") == "leadership_lost" for e in pair.one.events()),
            60,
            "replica one to step down",
            pair.one,
        )
        with admin.connect() as conn:
            conn.execute(text(f"ALTER ROLE {roles[0]} LOGIN"))
        # Back on the database, replica one serves again as a follower.
        done = pair.succeeded()
        wait_for(lambda: pair.succeeded() >= done + 10, 120, "work after the cut", pair.one)
        assert not pair.one.leads() and pair.two.leads()
        pair.finish_and_check()
    finally:
        pair.close()
        with admin.connect() as conn:
            conn.execute(text(f"ALTER ROLE {roles[0]} LOGIN"))
        admin.dispose()
    print(f"takeover after the cut: {took:.1f} s")
    assert took <= TAKEOVER_LIMIT_S
    events = [e["event"] for e in pair.one.events()]
    lost = events.index("leadership_lost")
    assert "cycle_completed" not in events[lost:]
    assert "leadership_gained" not in events[lost:]
