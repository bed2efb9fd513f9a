"""OutputService on a real SQLite file with a manual clock: hostile appends refused naming the
field, reads scoped to the department, follows that end, and retention by the run's end."""

from __future__ import annotations

from dataclasses import replace

import pytest

from scheduler.domain.errors import InvalidSpec, NotFound
from scheduler.domain.output import CHUNK_BYTES, OutputChunk
from scheduler.domain.states import RunState
from scheduler.service.agent_sync import RunReport
from scheduler.service.output import LogQuery, OutputService
from tests.service.conftest import Pool, node, spec


def _running(pool: Pool) -> tuple[str, str]:
    """A job of 公安局 whose one replica runs on cluster a; (job id, run id)."""
    pool.cluster("a", [node("a", "n1")])
    [job_id] = pool.submit(spec("x"))
    pool.cycle.run_once()
    [lease] = pool.sync("a").start
    pool.sync("a", [RunReport(lease.run.run_id, RunState.RUNNING)])
    return job_id, lease.run.run_id


def _service(pool: Pool, **settings: object) -> OutputService:
    return OutputService(pool.store, pool.clock, replace(pool.settings, **settings))


@pytest.mark.parametrize(
    ("chunk", "field"),
    [
        (OutputChunk("", "stdout", 0, b""), "chunks[0].run_id"),
        (OutputChunk("r" * 65, "stdout", 0, b""), "chunks[0].run_id"),
        (OutputChunk("r1", "stdin", 0, b""), "chunks[0].stream"),
        (OutputChunk("r1", "stdout", -1, b""), "chunks[0].offset"),
        (OutputChunk("r1", "stdout", 2**63 - 1, b""), "chunks[0].offset"),
        (OutputChunk("r1", "stdout", 0, b"x" * (CHUNK_BYTES + 1)), "chunks[0].data"),
    ],
)
def test_hostile_chunks_are_refused_naming_the_field(
    pool: Pool, chunk: OutputChunk, field: str
) -> None:
    """Each malformed chunk is INVALID_ARGUMENT on its own field; nothing is stored."""
    with pytest.raises(InvalidSpec) as err:
        _service(pool).append("a", [chunk])
    assert err.value.field == field


def test_too_many_chunks_or_bytes_per_call_are_refused(pool: Pool) -> None:
    """A call is at most 64 chunks and 1 MiB of data."""
    service = _service(pool)
    with pytest.raises(InvalidSpec, match="at most 64") as err:
        service.append("a", [OutputChunk("r1", "stdout", 0, b"")] * 65)
    assert err.value.field == "chunks"
    big = [OutputChunk("r1", "stdout", i * CHUNK_BYTES, b"x" * CHUNK_BYTES) for i in range(17)]
    with pytest.raises(InvalidSpec, match="1048576"):
        service.append("a", big)


def test_another_department_cannot_read_and_the_follow_ends_with_the_job(pool: Pool) -> None:
    """The owning department reads what was appended; another gets NOT_FOUND; a follow of
    the finished job ends once its streams are complete."""
    job_id, run_id = _running(pool)
    service = _service(pool)
    [cursor] = service.append("a", [OutputChunk(run_id, "stdout", 0, b"hello\n")])
    assert (cursor.next_offset, cursor.stop) == (6, False)
    pieces = list(service.read("公安局", LogQuery(job_id), lambda: True))
    assert [(p.stream, p.data, p.dropped) for p in pieces] == [("stdout", b"hello\n", 0)]
    with pytest.raises(NotFound):
        list(service.read("交通局", LogQuery(job_id), lambda: True))
    pool.sync("a", [RunReport(run_id, RunState.SUCCEEDED, 0)])
    service.append(
        "a",
        [
            OutputChunk(run_id, "stdout", 6, b"", eof=True),
            OutputChunk(run_id, "stderr", 0, b"", eof=True),
        ],
    )
    followed = list(service.read(None, LogQuery(job_id, follow=True), lambda: True))
    assert b"".join(p.data for p in followed) == b"hello\n"


def test_output_is_pruned_after_retention_and_late_appends_are_stopped(pool: Pool) -> None:
    """Output of a run that ended longer than output_retention_s ago is deleted by `prune`,
    and an agent still shipping it is told to stop."""
    job_id, run_id = _running(pool)
    service = _service(pool, output_retention_s=3600.0)
    service.append("a", [OutputChunk(run_id, "stdout", 0, b"kept for an hour\n")])
    pool.sync("a", [RunReport(run_id, RunState.SUCCEEDED, 0)])
    pool.clock.advance(1800)
    assert service.prune() == 0
    pool.clock.advance(1801)
    assert service.prune() == 1
    assert list(service.read("公安局", LogQuery(job_id), lambda: True)) == []
    [cursor] = service.append("a", [OutputChunk(run_id, "stdout", 17, b"late\n")])
    assert cursor.stop


def test_a_resumed_read_sends_only_what_the_client_lacks(pool: Pool) -> None:
    """Resume tokens start each listed stream at its offset (no dropped bytes are reported
    for what the client has); a malformed token is refused naming its field."""
    job_id, run_id = _running(pool)
    service = _service(pool)
    service.append("a", [OutputChunk(run_id, "stdout", 0, b"one\ntwo\n")])
    query = LogQuery(job_id, resume={(run_id, "stdout"): 4})
    pieces = list(service.read("公安局", query, lambda: True))
    assert [(p.offset, p.data, p.dropped) for p in pieces] == [(4, b"two\n", 0)]
    with pytest.raises(InvalidSpec) as err:
        list(
            service.read("公安局", LogQuery(job_id, resume={(run_id, "stdout"): -1}), lambda: True)
        )
    assert err.value.field == "resume[0].offset"
