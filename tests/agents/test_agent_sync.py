"""The Agent against a real gRPC server running a scripted AgentService."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from agent_helpers import TOKEN, Server, pid_gone, python_cmd, run_state, wait_until
from structlog.testing import capture_logs

from agents.agent import EXIT_OK, EXIT_REJECTED, Agent
from agents.backoff import Backoff
from agents.capacity import NodeInfo, StaticCapacity
from agents.client import AgentClient
from agents.executor import LocalExecutor
from protos.suanchou.v1 import agent_pb2, types_pb2

NODES = [
    NodeInfo("gpu-1", {"cpu": 32000, "memory": 262144, "nvidia.com/gpu": 8}, {"gpu.model": "A100"}),
    NodeInfo("cpu-1", {"cpu": 4000, "memory": 8192}, {"arch": "x86_64"}),
]
AgentFactory = Callable[..., Agent]


@pytest.fixture
def make_agent(scheduler: Server, tmp_path: Path) -> Iterator[AgentFactory]:
    """Builds agents wired to the test server; their clients and runs are cleaned up after."""
    cleanup: list[Callable[[], object]] = []

    def make(token: str = TOKEN, **kwargs: object) -> Agent:
        client = AgentClient(scheduler.target, token)
        executor = LocalExecutor(tmp_path / "work", kill_grace=2)
        cleanup.extend([client.close, executor.shutdown])
        kwargs.setdefault("backoff", Backoff(initial=0.05, maximum=0.2))
        return Agent(client, StaticCapacity(NODES), executor, agent_id="test-agent", **kwargs)  # type: ignore[arg-type]

    yield make
    for action in reversed(cleanup):
        action()


def sync_until(
    agent: Agent, scheduler: Server, predicate: Callable[[agent_pb2.SyncRequest], bool]
) -> agent_pb2.SyncRequest:
    """Calls sync_once until the request the server received satisfies `predicate`."""
    found: list[agent_pb2.SyncRequest] = []

    def synced() -> bool:
        agent.sync_once()
        if predicate(scheduler.servicer.last()):
            found.append(scheduler.servicer.last())
        return bool(found)

    wait_until(synced, what="a matching sync")
    return found[0]


def state_is(run_id: str, state: int) -> Callable[[agent_pb2.SyncRequest], bool]:
    def check(request: agent_pb2.SyncRequest) -> bool:
        report = run_state(request, run_id)
        return report is not None and report.state == state

    return check


def wait_cmd(go: Path, exit_code: int, starts: Path | None = None) -> list[str]:
    """A replica that records its start and pid, waits for `go` to exist, then exits."""
    record = f"open({str(starts)!r}, 'a').write(f'{{os.getpid()}}\\n')\n" if starts else ""
    return python_cmd(
        f"import os, sys, time\n{record}"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.01)\nsys.exit({exit_code})"
    )


def test_first_sync_reports_nodes_and_adopts_the_interval(
    scheduler: Server, make_agent: AgentFactory
) -> None:
    """The first Sync carries every node with capacity and labels; the reply sets the interval."""
    agent = make_agent(interval=1.0)
    agent.sync_once()
    request = scheduler.servicer.last()
    assert request.agent_id == "test-agent"
    assert [n.name for n in request.nodes] == ["gpu-1", "cpu-1"]
    assert dict(request.nodes[0].capacity.quantities) == dict(NODES[0].capacity)
    assert dict(request.nodes[0].labels) == {"gpu.model": "A100"}
    assert list(request.runs) == []
    assert (agent.cluster, agent.interval) == ("test-cluster", 0.05)


def test_lease_runs_and_is_reported_running_then_succeeded(
    scheduler: Server, make_agent: AgentFactory, tmp_path: Path
) -> None:
    """A leased replica is started, reported RUNNING, then SUCCEEDED with exit code 0."""
    agent = make_agent()
    go = tmp_path / "go"
    scheduler.servicer.lease("r1", wait_cmd(go, 0), node="cpu-1")
    running = sync_until(agent, scheduler, state_is("r1", types_pb2.RUN_STATE_RUNNING))
    assert not run_state(running, "r1").HasField("exit_code")  # type: ignore[union-attr]
    go.touch()
    done = sync_until(agent, scheduler, state_is("r1", types_pb2.RUN_STATE_SUCCEEDED))
    assert run_state(done, "r1").exit_code == 0  # type: ignore[union-attr]
    assert (tmp_path / "work" / "r1" / "stdout.log").exists()


def test_finished_run_is_reported_until_acknowledged(
    scheduler: Server, make_agent: AgentFactory
) -> None:
    """A finished run is in every Sync until acknowledged, then dropped and never restarted."""
    agent = make_agent()
    scheduler.servicer.ack = False
    scheduler.servicer.lease("r1", python_cmd("raise SystemExit(5)"))
    sync_until(agent, scheduler, state_is("r1", types_pb2.RUN_STATE_FAILED))
    for _ in range(3):
        agent.sync_once()
        report = run_state(scheduler.servicer.last(), "r1")
        assert report is not None and (report.state, report.exit_code) == (
            types_pb2.RUN_STATE_FAILED,
            5,
        )
    scheduler.servicer.ack = True
    agent.sync_once()  # reports it once more and gets the acknowledgement
    agent.sync_once()  # the lease is still re-sent by the server: it must not run again
    agent.sync_once()
    assert list(scheduler.servicer.last().runs) == []
    assert agent.runs() == {}


def test_cancel_stops_the_run_and_a_resent_lease_is_not_started(
    scheduler: Server, make_agent: AgentFactory, tmp_path: Path
) -> None:
    """A cancelled run is stopped, reported CANCELLED, forgotten, and never started again."""
    agent = make_agent()
    starts = tmp_path / "starts"
    scheduler.servicer.ack = False
    scheduler.servicer.lease("r1", wait_cmd(tmp_path / "never", 0, starts))
    sync_until(agent, scheduler, state_is("r1", types_pb2.RUN_STATE_RUNNING))
    wait_until(lambda: starts.exists() and starts.read_text().endswith("\n"))
    pid = int(starts.read_text())

    scheduler.servicer.cancel.add("r1")
    sync_until(agent, scheduler, state_is("r1", types_pb2.RUN_STATE_CANCELLED))
    assert pid_gone(pid)
    agent.sync_once()  # still in `cancel`: the finished run is forgotten
    scheduler.servicer.cancel.clear()  # the lease alone keeps being re-sent
    for _ in range(3):
        agent.sync_once()
    assert list(scheduler.servicer.last().runs) == []
    assert starts.read_text().count("\n") == 1


def test_lease_started_and_cancelled_in_one_reply_never_runs(
    scheduler: Server, make_agent: AgentFactory, tmp_path: Path
) -> None:
    """A run id listed both to start and to cancel is not started."""
    agent = make_agent()
    starts = tmp_path / "starts"
    scheduler.servicer.lease("r1", wait_cmd(tmp_path / "go", 0, starts))
    scheduler.servicer.cancel.add("r1")
    for _ in range(2):
        agent.sync_once()
    assert list(scheduler.servicer.last().runs) == []
    assert agent.runs() == {}
    assert not starts.exists()


def test_duplicate_starts_of_one_run_id_start_one_process(
    scheduler: Server, make_agent: AgentFactory, tmp_path: Path
) -> None:
    """The same lease twice in one reply, and again in later replies, runs exactly once."""
    agent = make_agent()
    starts, go = tmp_path / "starts", tmp_path / "go"
    scheduler.servicer.duplicate_starts = True
    scheduler.servicer.lease("r1", wait_cmd(go, 0, starts))
    sync_until(agent, scheduler, state_is("r1", types_pb2.RUN_STATE_RUNNING))
    for _ in range(3):
        agent.sync_once()
    assert [r.run_id for r in scheduler.servicer.last().runs] == ["r1"]
    wait_until(lambda: starts.exists() and starts.read_text().endswith("\n"))
    go.touch()
    sync_until(agent, scheduler, state_is("r1", types_pb2.RUN_STATE_SUCCEEDED))
    assert starts.read_text().count("\n") == 1


def test_lease_for_a_node_not_offered_fails(scheduler: Server, make_agent: AgentFactory) -> None:
    """A lease naming a node this agent does not offer is reported FAILED, not run."""
    agent = make_agent()
    scheduler.servicer.lease("r1", python_cmd("pass"), node="elsewhere")
    request = sync_until(agent, scheduler, state_is("r1", types_pb2.RUN_STATE_FAILED))
    assert "not offered by this agent" in run_state(request, "r1").message  # type: ignore[union-attr]


def test_only_syncs_that_change_something_are_logged(
    scheduler: Server, make_agent: AgentFactory
) -> None:
    """Repeated identical syncs log one `synced` line, not one per heartbeat."""
    agent = make_agent()
    with capture_logs() as logs:
        for _ in range(3):
            agent.sync_once()
    synced = [e for e in logs if e["event"] == "synced"]
    assert len(synced) == 1
    assert synced[0]["nodes"] == 2 and synced[0]["cluster"] == "test-cluster"


def start_loop(agent: Agent) -> tuple[threading.Event, threading.Thread, list[int]]:
    stop, result = threading.Event(), []
    thread = threading.Thread(target=lambda: result.append(agent.run(stop)), daemon=True)
    thread.start()
    return stop, thread, result


def test_agent_survives_scheduler_restart_without_losing_a_result(
    scheduler: Server, make_agent: AgentFactory, tmp_path: Path
) -> None:
    """With the scheduler down, runs continue and results are held; after it returns they sync."""
    go, starts = tmp_path / "go", tmp_path / "starts"
    scheduler.servicer.lease("r1", wait_cmd(go, 7, starts))
    with capture_logs() as logs:
        agent = make_agent()
        stop, thread, result = start_loop(agent)
        scheduler.servicer.wait_for(state_is("r1", types_pb2.RUN_STATE_RUNNING))

        scheduler.stop()
        wait_until(lambda: any(e["event"] == "sync_failed" for e in logs), what="a failed sync")
        go.touch()  # the run ends while the scheduler is away
        wait_until(lambda: agent.runs()["r1"].exit_code == 7, what="the run to end")
        failures = sum(e["event"] == "sync_failed" for e in logs)
        wait_until(lambda: sum(e["event"] == "sync_failed" for e in logs) > failures)

        scheduler.start()  # same port
        report = run_state(
            scheduler.servicer.wait_for(state_is("r1", types_pb2.RUN_STATE_FAILED)), "r1"
        )
        assert report is not None and report.exit_code == 7
        scheduler.servicer.wait_for(lambda r: not r.runs)  # acknowledged, then forgotten
        stop.set()
        thread.join(timeout=10)
    assert result == [EXIT_OK]
    assert starts.read_text().count("\n") == 1  # never restarted by the re-sent lease
    assert any(e["event"] == "scheduler_reachable" for e in logs)


def test_stop_cancels_runs_and_withdraws_the_nodes(
    scheduler: Server, make_agent: AgentFactory, tmp_path: Path
) -> None:
    """On stop the agent ends its runs and sends a last Sync with no nodes and no stopped runs."""
    starts = tmp_path / "starts"
    scheduler.servicer.lease("r1", wait_cmd(tmp_path / "never", 0, starts))
    agent = make_agent()
    stop, thread, result = start_loop(agent)
    scheduler.servicer.wait_for(state_is("r1", types_pb2.RUN_STATE_RUNNING))
    wait_until(lambda: starts.exists() and starts.read_text().endswith("\n"))
    stop.set()
    thread.join(timeout=10)
    assert result == [EXIT_OK]
    last = scheduler.servicer.last()
    assert (list(last.nodes), list(last.runs)) == ([], [])
    assert pid_gone(int(starts.read_text()))


def test_wrong_token_stops_the_agent(scheduler: Server, make_agent: AgentFactory) -> None:
    """UNAUTHENTICATED is not retried: run() logs it and returns EXIT_REJECTED."""
    agent = make_agent(token="wrong-token")
    with capture_logs() as logs:
        _, thread, result = start_loop(agent)
        thread.join(timeout=10)
    assert result == [EXIT_REJECTED]
    rejected = [e for e in logs if e["event"] == "agent_rejected"]
    assert rejected and rejected[0]["code"] == "UNAUTHENTICATED"


def test_backoff_grows_to_the_cap_and_resets() -> None:
    """Retry delays double up to the maximum, within the jitter, and restart after a reset."""
    backoff = Backoff(initial=1, maximum=4, jitter=0.1)
    delays = [backoff.next() for _ in range(5)]
    for delay, expected in zip(delays, [1, 2, 4, 4, 4], strict=True):
        assert expected * 0.9 <= delay <= expected * 1.1
    backoff.reset()
    assert 0.9 <= backoff.next() <= 1.1


def test_a_new_limit_is_applied_once_and_stops_a_run_past_it(
    make_agent: AgentFactory, scheduler: Server
) -> None:
    """A limit repeated in every reply is handed to the executor once; cut below the run's
    age it ends the run FAILED naming the new limit."""
    agent = make_agent()
    scheduler.servicer.lease(
        "r1", python_cmd("import time; time.sleep(60)"), max_runtime_seconds=600
    )
    sync_until(agent, scheduler, state_is("r1", types_pb2.RUN_STATE_RUNNING))
    scheduler.servicer.limits["r1"] = 1
    with capture_logs() as logs:
        request = sync_until(agent, scheduler, state_is("r1", types_pb2.RUN_STATE_FAILED))
    report = next(r for r in request.runs if r.run_id == "r1")
    assert report.message == "max runtime 1s exceeded"
    applied = [e for e in logs if e["event"] == "run_max_runtime_changed"]
    assert [(e["run_id"], e["max_runtime_seconds"]) for e in applied] == [("r1", 1)]
