"""Output shipping against the real scheduler: an agent restarted mid-shipment starts again
from offset 0 and the scheduler keeps every byte once; a stream is complete only at eof; the
agent cannot append to another cluster's runs."""

from __future__ import annotations

import signal
from pathlib import Path

from agents.agent import Agent
from agents.capacity import StaticCapacity
from agents.client import AgentClient
from agents.executor import LocalExecutor
from agents.output import OutputShipper
from protos.suanchou.v1 import agent_pb2, jobs_pb2, types_pb2
from tests.integration.conftest import Pool, md, node, py_job

LINES = b"".join(f"line {i}\n".encode() for i in range(50))


def _finished_run(pool: Pool, tmp_path: Path) -> tuple[str, str, AgentClient, LocalExecutor]:
    """A job run to its end by an in-process agent that ships no output itself."""
    pool.department("交通局")
    token = pool.cluster("gov-a", [node("n1")], start_agent=False)
    executor = LocalExecutor(tmp_path / "work", kill_grace=1)
    client = AgentClient(pool.address, token)
    agent = Agent(client, StaticCapacity.from_yaml(tmp_path / "gov-a.yaml"), executor)
    code = "for i in range(50): print(f'line {i}')"
    [result] = pool.submit("交通局", py_job("lines", code))

    def ended() -> bool:
        agent.sync_once()  # starts the lease, then reports its end
        return pool.get("交通局", result.job_id).state == types_pb2.JOB_STATE_SUCCEEDED

    pool.wait_for(ended, 30, "the job to succeed")
    [run] = pool.get("交通局", result.job_id).runs
    return result.job_id, run.run_id, client, executor


def _stdout(pool: Pool, job_id: str, follow: bool = False) -> bytes:
    chunks = pool.jobs.ReadLogs(
        jobs_pb2.ReadLogsRequest(job_id=job_id, follow=follow),
        metadata=md(pool.tokens["交通局"]),
        timeout=30,
    )
    return b"".join(c.data for c in chunks if c.stream == types_pb2.OUTPUT_STREAM_STDOUT)


def test_a_restarted_agent_resends_from_zero_and_nothing_is_duplicated(
    pool: Pool, tmp_path: Path
) -> None:
    """The first shipper does not know the run ended (no eof); a second one, as after a
    restart, ships again from 0 with eof: the stored output is the job's once, the stream is
    complete (a follow ends) and the shipper stops following the run."""
    job_id, run_id, client, executor = _finished_run(pool, tmp_path)
    first = OutputShipper(client, executor)
    first.track(run_id)
    assert first.ship() is False  # everything fits one call
    assert _stdout(pool, job_id) == LINES
    again = OutputShipper(client, executor)
    again.track(run_id, ended=True)
    again.ship()
    assert again.following == 0
    assert _stdout(pool, job_id, follow=True) == LINES
    client.close()


def test_appending_to_another_clusters_run_is_refused_quietly(pool: Pool, tmp_path: Path) -> None:
    """An agent naming a run of another cluster (or no run at all) is told to stop, and
    nothing is stored for that run."""
    job_id, run_id, client, _ = _finished_run(pool, tmp_path)
    other = AgentClient(pool.address, pool.cluster("gov-b", [node("n1")], start_agent=False))
    reply = other.append_logs(
        agent_pb2.AppendLogsRequest(
            chunks=[
                agent_pb2.OutputChunk(
                    run_id=run_id, stream=types_pb2.OUTPUT_STREAM_STDOUT, data=b"forged\n"
                ),
                agent_pb2.OutputChunk(
                    run_id="no-such-run", stream=types_pb2.OUTPUT_STREAM_STDERR, data=b"x"
                ),
            ]
        ),
        timeout=10,
    )
    assert [(c.stop, c.next_offset) for c in reply.cursors] == [(True, 0), (True, 0)]
    assert _stdout(pool, job_id) == b""
    other.close()
    client.close()


def test_output_written_while_the_agent_was_down_is_shipped_after_its_restart(
    pool: Pool, tmp_path: Path
) -> None:
    """The agent process is frozen, its replica writes more, then the agent is killed (its
    replica dies with it): the restarted agent finds the run in its journal and ships the rest
    of the output, so the attempt's output is whole and complete."""
    pool.department("交通局")
    pool.cluster("gov-a", [node("n1")])
    go, marker = tmp_path / "go", tmp_path / "second-attempt"
    code = f"""
import os, time
if os.path.exists({str(marker)!r}):
    print("second attempt", flush=True)
    raise SystemExit(0)
open({str(marker)!r}, "w").close()
print("before", flush=True)
while not os.path.exists({str(go)!r}):
    time.sleep(0.05)
print("late", flush=True)
time.sleep(600)
"""
    [result] = pool.submit("交通局", py_job("restart", code))
    job_id = result.job_id
    pool.wait_for(lambda: _stdout(pool, job_id) == b"before\n", 30, "the first line")
    [run] = pool.get("交通局", job_id).runs
    agent = pool.agents[0]
    agent.proc.send_signal(signal.SIGSTOP)  # ships nothing more from here on
    go.touch()
    out = tmp_path / "work-gov-a" / run.run_id / "stdout.log"
    pool.wait_for(lambda: out.read_bytes() == b"before\nlate\n", 30, "the replica's late line")
    agent.kill()  # SIGKILL works on a stopped process; PDEATHSIG ends the replica
    pool.start_agent("gov-a")
    chunks = pool.jobs.ReadLogs(
        jobs_pb2.ReadLogsRequest(job_id=job_id, attempt=1, follow=True),
        metadata=md(pool.tokens["交通局"]),
        timeout=60,
    )
    assert b"".join(c.data for c in chunks) == b"before\nlate\n"
    pool.wait_state("交通局", job_id, {types_pb2.JOB_STATE_SUCCEEDED}, timeout=60)
    assert _stdout(pool, job_id, follow=True) == b"second attempt\n"
