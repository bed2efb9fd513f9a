"""The stored output of runs on SQLite and PostgreSQL: head and tail kept, the middle dropped
and counted, rows bounded, resends ignored, tail lines, and retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from scheduler.domain.models import ClusterSpec, Job, JobSpec, Run
from scheduler.domain.output import CHUNK_BYTES, OutputLimits, OutputPiece
from scheduler.domain.states import JobState, RunState
from scheduler.state import Store
from scheduler.state.tables import RunOutputChunkRow

NOW = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
SMALL = OutputLimits(head_bytes=10, tail_bytes=20)


def _append(store: Store, data: bytes, offset: int, *, limits: OutputLimits = SMALL,
            eof: bool = False, stream: str = "stdout", run_id: str = "r1"):  # fmt: skip
    with store.unit() as tx:
        return tx.output.append(run_id, stream, offset, data, eof=eof, now=NOW, limits=limits)


def _stored(store: Store, run_id: str = "r1", stream: str = "stdout") -> list[OutputPiece]:
    with store.unit(write=False) as tx:
        return tx.output.read(run_id, stream, 0, limit=10_000)


def test_small_output_is_kept_whole_and_resends_are_ignored(store: Store) -> None:
    """Output under the caps is stored as sent; bytes sent again (an agent retry or restart)
    are neither stored twice nor counted."""
    status = _append(store, b"hello\n", 0)
    assert (status.received, status.dropped, status.complete) == (6, 0, False)
    status = _append(store, b"hello\nworld\n", 0)  # a resend from 0 that goes further
    assert (status.received, status.dropped) == (12, 0)
    assert b"".join(p.data for p in _stored(store)) == b"hello\nworld\n"


def test_head_and_tail_are_kept_and_the_middle_counted_as_dropped(store: Store) -> None:
    """Past head + tail bytes, the first head bytes and the last tail bytes stay; a reader sees
    the gap at the tail's offset, and `dropped` equals received minus kept."""
    data = bytes(range(48, 48 + 75))  # 75 distinct printable bytes
    for i in range(0, len(data), 7):  # odd-sized appends: rows get extended and trimmed
        status = _append(store, data[i : i + 7], i)
    pieces = _stored(store)
    kept = b"".join(p.data for p in pieces)
    assert kept == data[:10] + data[-20:]
    assert (status.received, status.dropped) == (75, 75 - 30)
    assert pieces[0].offset == 0
    tail = [p for p in pieces if p.offset >= 10]
    assert tail[0].offset == 75 - 20


def test_rows_stay_bounded_when_an_agent_ships_a_byte_at_a_time(store: Store) -> None:
    """Many tiny appends extend the last row instead of adding rows: two rows hold a small
    head and tail."""
    for i in range(200):
        _append(store, b"x", i)
    with store.unit(write=False) as tx:
        rows = len(tx.session.exec(select(RunOutputChunkRow)).all())
    assert rows <= 2
    assert len(b"".join(p.data for p in _stored(store))) == 30


def test_large_output_keeps_rows_at_most_chunk_size(store: Store) -> None:
    """A stream far past its caps holds about (head + tail) / CHUNK_BYTES rows, none larger
    than CHUNK_BYTES."""
    limits = OutputLimits(head_bytes=CHUNK_BYTES, tail_bytes=2 * CHUNK_BYTES)
    block = b"y" * CHUNK_BYTES
    for i in range(8):
        status = _append(store, block, i * CHUNK_BYTES, limits=limits)
    assert status.dropped == 8 * CHUNK_BYTES - 3 * CHUNK_BYTES
    with store.unit(write=False) as tx:
        sizes = [len(r.data) for r in tx.session.exec(select(RunOutputChunkRow)).all()]
    assert sum(sizes) == 3 * CHUNK_BYTES and max(sizes) <= CHUNK_BYTES and len(sizes) <= 4


def test_a_jump_past_received_counts_as_dropped(store: Store) -> None:
    """An agent that ships from further on leaves a gap, counted as dropped bytes."""
    _append(store, b"abc", 0, limits=OutputLimits(100, 100))
    status = _append(store, b"xyz", 10, limits=OutputLimits(100, 100))
    assert (status.received, status.dropped) == (13, 7)
    assert [(p.offset, p.data) for p in _stored(store)] == [(0, b"abc"), (10, b"xyz")]


def test_eof_completes_the_stream_and_later_appends_are_ignored(store: Store) -> None:
    """After an end-of-stream append the stream is complete; nothing more is stored."""
    _append(store, b"done\n", 0, eof=True)
    status = _append(store, b"late", 5)
    assert (status.received, status.complete) == (5, True)
    with store.unit(write=False) as tx:
        assert tx.output.statuses(["r1"])[("r1", "stdout")].complete
        assert ("r1", "stderr") not in tx.output.statuses(["r1"])


def test_read_from_a_position_inside_a_row(store: Store) -> None:
    """A reader that saw part of a row gets exactly the bytes after it (rows grow in place)."""
    _append(store, b"0123", 0, limits=OutputLimits(0, 100))
    _append(store, b"4567", 4, limits=OutputLimits(0, 100))
    with store.unit(write=False) as tx:
        assert tx.output.read("r1", "stdout", 3) == [OutputPiece(3, b"34567")]
        assert tx.output.read("r1", "stdout", 8) == []


def test_tail_start_counts_lines_from_the_end(store: Store) -> None:
    """The last N lines start after the (N)th newline from the end, a final newline ending
    the last line; asking for more lines than stored starts at the first stored byte."""
    limits = OutputLimits(0, 1000)
    _append(store, b"a\nbb\nccc\n", 0, limits=limits)
    _append(store, b"dddd\n", 9, limits=limits)
    with store.unit(write=False) as tx:
        assert tx.output.tail_start("r1", "stdout", 1) == 9
        assert tx.output.tail_start("r1", "stdout", 2) == 5
        assert tx.output.tail_start("r1", "stdout", 50) == 0
        assert tx.output.tail_start("r1", "stderr", 3) == 0


def _run(store: Store, run_id: str, finished_at: datetime | None) -> None:
    with store.unit() as tx:
        if not tx.departments.all():
            tx.departments.create("交通局", "", NOW)
            tx.clusters.create(ClusterSpec("c", "hz", "", "", 2, False, {}), NOW)
            job = Job(
                "j1", "交通局", JobSpec("c1", ("true",), {"cpu": 100}), JobState.QUEUED, NOW, NOW
            )
            tx.jobs.insert(job)
        state = RunState.RUNNING if finished_at is None else RunState.SUCCEEDED
        run = Run(run_id, "j1", 1, 0, "c", "n", state, NOW, finished_at=finished_at)
        tx.runs.insert([run])


def test_retention_deletes_output_of_runs_that_ended_long_ago(store: Store) -> None:
    """Pruning removes the output of runs that ended before the cutoff, in bounded batches,
    and keeps that of recent and running runs."""
    _run(store, "old-1", NOW - timedelta(days=9))
    _run(store, "old-2", NOW - timedelta(days=8))
    _run(store, "recent", NOW - timedelta(hours=1))
    _run(store, "running", None)
    for run_id in ("old-1", "old-2", "recent", "running"):
        _append(store, b"out", 0, run_id=run_id)
        _append(store, b"err", 0, run_id=run_id, stream="stderr")
    cutoff = NOW - timedelta(days=7)
    with store.unit() as tx:
        assert tx.output.prune(cutoff, limit=1) == 1
    with store.unit() as tx:
        assert tx.output.prune(cutoff, limit=10) == 1
        assert tx.output.prune(cutoff, limit=10) == 0
    with store.unit(write=False) as tx:
        left = {run_id for run_id, _ in tx.output.statuses(["old-1", "old-2", "recent", "running"])}
    assert left == {"recent", "running"}
    assert _stored(store, "old-1") == [] and _stored(store, "old-2", "stderr") == []
    assert _stored(store, "recent", "stderr") == [OutputPiece(0, b"err")]
