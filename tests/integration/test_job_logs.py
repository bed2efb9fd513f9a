"""Job output end to end: a real scheduler, a real agent process running jobs that print, and
JobService.ReadLogs / `suanchou job logs` reading it during and after the run."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from protos.suanchou.v1 import jobs_pb2, types_pb2
from scheduler.cli.main import main
from scheduler.service.settings import SchedulerSettings
from tests.conftest import postgres_url, reset_postgres
from tests.integration.conftest import REPO, TERMINAL, Pool, md, node, py_job

STDOUT, STDERR = types_pb2.OUTPUT_STREAM_STDOUT, types_pb2.OUTPUT_STREAM_STDERR

# Prints five lines and a warning, then waits for the test's go-ahead before the last line.
WAITING_JOB = """
import os, sys, time
for i in range(5):
    print(f"line {i}", flush=True)
print("warning: careful", file=sys.stderr, flush=True)
while not os.path.exists(GO):
    time.sleep(0.05)
print("done", flush=True)
"""

# Each replica prints 200 numbered lines (far past the small caps of `small_pool`).
CHATTY_JOB = """
import os
r = os.environ["SUANCHOU_REPLICA"]
for i in range(200):
    print(f"r{r} line {i:03d}")
"""


def _read(pool: Pool, token: str, **request: object) -> list[jobs_pb2.LogChunk]:
    return list(
        pool.jobs.ReadLogs(jobs_pb2.ReadLogsRequest(**request), metadata=md(token), timeout=60)
    )


def _text(chunks: list[jobs_pb2.LogChunk], stream: int = STDOUT, replica: int = 0) -> bytes:
    return b"".join(c.data for c in chunks if c.stream == stream and c.replica == replica)


def test_follow_streams_output_while_the_job_runs_and_ends_with_it(
    pool: Pool, tmp_path: Path
) -> None:
    """A follower sees the first lines while the job is still running (it waits for us), then
    the rest, and its stream ends by itself once the job ended; a later read gives the same."""
    pool.department("交通局")
    pool.cluster("gov-a", [node("n1")])
    go = tmp_path / "go"
    code = f"GO = {str(go)!r}\n{WAITING_JOB}"
    [result] = pool.submit("交通局", py_job("printer", code))
    token = pool.tokens["交通局"]
    stream = pool.jobs.ReadLogs(
        jobs_pb2.ReadLogsRequest(job_id=result.job_id, follow=True), metadata=md(token), timeout=60
    )
    received: queue.Queue[jobs_pb2.LogChunk | None] = queue.Queue()

    def drain() -> None:
        try:
            for chunk in stream:
                received.put(chunk)
        finally:
            received.put(None)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    seen: list[jobs_pb2.LogChunk] = []
    while b"line 4\n" not in _text(seen):
        chunk = received.get(timeout=30)
        assert chunk is not None, "the follow ended before the job printed its lines"
        seen.append(chunk)
    # The job cannot have finished: it waits for `go`.
    assert pool.get("交通局", result.job_id).state == types_pb2.JOB_STATE_RUNNING
    go.touch()
    while (chunk := received.get(timeout=60)) is not None:
        seen.append(chunk)
    reader.join(10)
    assert _text(seen) == b"".join(f"line {i}\n".encode() for i in range(5)) + b"done\n"
    assert _text(seen, STDERR) == b"warning: careful\n"
    assert pool.get("交通局", result.job_id).state == types_pb2.JOB_STATE_SUCCEEDED
    after = _read(pool, token, job_id=result.job_id)
    assert _text(after) == _text(seen) and _text(after, STDERR) == _text(seen, STDERR)
    assert all(c.dropped_bytes == 0 for c in after)


@pytest.fixture(params=["sqlite", "postgres"])
def small_pool(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pool]:
    """A scheduler that keeps the first 16 and the last 64 bytes of each stream, on SQLite and
    on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 's.db'}"
    else:
        url = postgres_url()
        reset_postgres(url)
    settings = SchedulerSettings(
        sync_interval_s=0.2,
        lease_timeout_s=2.0,
        cycle_interval_s=0.2,
        output_head_bytes=16,
        output_tail_bytes=64,
    )
    p = Pool(tmp=tmp_path, db_url=url, settings=settings)
    p.start()
    yield p
    for agent in p.agents:
        agent.stop()
    p.stop()


def _finished_job(pool: Pool) -> str:
    pool.department("交通局")
    pool.department("公安局")
    pool.cluster("gov-a", [node("n1")])
    [result] = pool.submit("交通局", py_job("chatty", CHATTY_JOB, replicas=2))
    job = pool.wait_state("交通局", result.job_id, TERMINAL)
    assert job.state == types_pb2.JOB_STATE_SUCCEEDED
    # A follow ends once the output of both replicas is complete.
    _read(pool, pool.tokens["交通局"], job_id=result.job_id, follow=True)
    return result.job_id


def _expected(replica: int) -> bytes:
    return b"".join(f"r{replica} line {i:03d}\n".encode() for i in range(200))


def test_truncated_output_keeps_head_and_tail_and_says_what_was_dropped(
    small_pool: Pool,
) -> None:
    """Past the caps a stream keeps its first 16 and last 64 bytes; the chunk after the gap
    says how many bytes were dropped, and kept plus dropped is everything the job printed."""
    job_id = _finished_job(small_pool)
    token = small_pool.tokens["交通局"]
    for replica in (0, 1):
        chunks = _read(small_pool, token, job_id=job_id, replica=replica, stream=STDOUT)
        assert {c.replica for c in chunks} == {replica}
        full = _expected(replica)
        kept = _text(chunks, STDOUT, replica)
        dropped = sum(c.dropped_bytes for c in chunks)
        assert kept == full[:16] + full[-64:]
        assert dropped == len(full) - 80
        [gap] = [c for c in chunks if c.dropped_bytes]
        assert gap.offset == len(full) - 64


def test_tail_replica_and_departments(small_pool: Pool) -> None:
    """--tail gives the last lines of one replica; another department cannot read the job's
    output (NOT_FOUND, as if it did not exist) while an operator can."""
    job_id = _finished_job(small_pool)
    token = small_pool.tokens["交通局"]
    chunks = _read(small_pool, token, job_id=job_id, replica=1, tail_lines=2)
    assert _text(chunks, STDOUT, 1) == b"r1 line 198\nr1 line 199\n"
    assert _text(chunks, STDERR, 1) == b""
    with pytest.raises(grpc.RpcError) as err:
        _read(small_pool, small_pool.tokens["公安局"], job_id=job_id)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        _read(small_pool, token, job_id=job_id, replica=2)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "replica" in (err.value.details() or "")
    operator = small_pool.principal("ops", "operator")
    chunks = _read(small_pool, operator, job_id=job_id, replica=0, tail_lines=1)
    assert _text(chunks, STDOUT, 0) == b"r0 line 199\n"


def test_cli_job_logs(
    small_pool: Pool, capfdbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`suanchou job logs` prints the kept bytes as they were written, a header per replica,
    and the truncation notice with the number of bytes dropped on stderr; --tail and
    --replica narrow it down."""
    job_id = _finished_job(small_pool)
    monkeypatch.setenv("SUANCHOU_SCHEDULER", small_pool.address)
    monkeypatch.setenv("SUANCHOU_TOKEN", small_pool.tokens["交通局"])
    monkeypatch.delenv("SUANCHOU_CONFIG", raising=False)
    capfdbinary.readouterr()
    assert main(["job", "logs", job_id, "--replica", "1", "--tail", "3"]) == 0
    out, err = capfdbinary.readouterr()
    # stderr also holds the in-process scheduler's log lines; no notice is among them.
    assert out == b"r1 line 197\nr1 line 198\nr1 line 199\n" and b"dropped" not in err
    assert main(["job", "logs", job_id, "--stream", "stdout"]) == 0
    out, err = capfdbinary.readouterr()
    dropped = len(_expected(0)) - 80
    for replica in (0, 1):
        full = _expected(replica)
        section = f"==> replica {replica} stdout <==\n".encode() + full[:16]
        assert section in out and full[-64:] in out
        assert f"[replica {replica} stdout] {dropped:,} bytes dropped here".encode() in err
    assert main(["job", "logs", job_id, "--tail", "0"]) == 2


def test_follow_ends_when_the_client_cancels_or_the_job_ends_unrun(pool: Pool) -> None:
    """Follows of a job no cluster can run hold their stream slots only until the client
    cancels them (a further read then gets a slot), and a follow of a job cancelled before it
    ran ends by itself with no output."""
    pool.department("交通局")
    pool.cluster("silent", [node("n1")], start_agent=False)  # registered, never reports nodes
    [result] = pool.submit("交通局", py_job("waits", "pass"))
    assert result.state == types_pb2.JOB_STATE_QUEUED
    token = pool.tokens["交通局"]
    request = jobs_pb2.ReadLogsRequest(job_id=result.job_id, follow=True)
    # As many follows as one caller may hold at once (api.admission: 4 of 16 stream slots).
    calls = [pool.jobs.ReadLogs(request, metadata=md(token)) for _ in range(4)]

    def admitted() -> bool:
        try:
            return _read(pool, token, job_id=result.job_id) == []
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            return False

    pool.wait_for(lambda: not admitted(), 30, "the follows to hold every slot of the caller")
    for call in calls:
        call.cancel()
    pool.wait_for(admitted, 30, "a stream slot after the follows were cancelled")
    follow = pool.jobs.ReadLogs(request, metadata=md(token), timeout=60)
    pool.jobs.CancelJobs(jobs_pb2.CancelJobsRequest(job_ids=[result.job_id]), metadata=md(token))
    assert list(follow) == []


def test_cli_follow_resumes_after_a_scheduler_restart_without_repeating(
    pool: Pool, tmp_path: Path
) -> None:
    """`suanchou job logs --follow` (a real CLI process) keeps following across a scheduler
    restart: it reconnects and resumes after the last byte it printed, so the output is whole
    and nothing is printed twice; it exits 0 when the job has ended."""
    pool.department("交通局")
    pool.cluster("gov-a", [node("n1")])
    go = tmp_path / "go"
    code = f"""
import os, time
print("one", flush=True)
while not os.path.exists({str(go)!r}):
    time.sleep(0.05)
print("two", flush=True)
"""
    [result] = pool.submit("交通局", py_job("restart-follow", code))
    env = dict(os.environ, SUANCHOU_SCHEDULER=pool.address, SUANCHOU_TOKEN=pool.tokens["交通局"])
    env.pop("SUANCHOU_CONFIG", None)
    errors = tmp_path / "cli-stderr"
    with (
        errors.open("wb") as err,
        subprocess.Popen(
            [sys.executable, "-m", "scheduler.cli.main", "job", "logs", result.job_id, "--follow"],
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
            cwd=REPO,
        ) as cli,
    ):
        assert cli.stdout is not None
        out = cli.stdout
        lines: queue.Queue[bytes] = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(x) for x in out], daemon=True)
        reader.start()
        assert lines.get(timeout=60) == b"one\n"
        pool.stop()
        pool.start()  # same port, same database
        go.touch()
        assert cli.wait(timeout=120) == 0, errors.read_text()
        reader.join(10)
    rest = []
    while not lines.empty():
        rest.append(lines.get())
    assert rest == [b"two\n"]
    assert "reconnecting" in errors.read_text()
