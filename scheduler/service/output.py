"""Job output: agents append the stdout/stderr of their runs, departments read it.

Design. The agent dials out and has no port of its own, so output travels on its existing
connection: after each Sync it calls AgentService.AppendLogs with the new bytes of each stream
(at most 64 pieces of CHUNK_BYTES and 1 MiB per call; the next call follows at once while it has
more). A separate rpc rather than a field of Sync, so output volume never delays or enlarges
the heartbeat that keeps a cluster alive, and a failing append never makes a cluster look lost.
Every piece names its byte offset and the reply says where each stream continues, so a retry,
a restarted agent (which starts again from 0) or a restarted scheduler neither duplicates nor
loses stored output: appending is idempotent by offset.

The scheduler keeps each stream bounded (scheduler.domain.output: the first head bytes and the
last tail bytes, the middle dropped and counted) in its own tables, deleted `output_retention_s`
after the run ended by `prune` (the housekeeping thread of scheduler.app). ReadLogs streams what
is stored; with follow it waits on the store's change notification (any commit wakes it, else
a poll of WAIT_S for writes of other scheduler processes) and ends once every run of the
attempt has ended and its output is complete, or the client went away.

Secrets: job output is the job's own; neither the agent nor the scheduler scrubs it, and
neither ever writes it to a log line (only sizes and counts are logged).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from scheduler.domain.errors import InvalidSpec
from scheduler.domain.models import Job, Run
from scheduler.domain.output import (
    CHUNK_BYTES,
    STREAMS,
    LogPiece,
    OutputChunk,
    OutputCursor,
    OutputLimits,
    StreamStatus,
)
from scheduler.service.clock import Clock
from scheduler.service.jobs import owned_job
from scheduler.service.settings import SchedulerSettings
from scheduler.state import Store

MAX_CHUNKS = 64
MAX_APPEND_BYTES = 1024 * 1024
MAX_RUN_ID_LEN = 64
# Offsets are BIGINT; far below it so offset + data never overflows.
MAX_OFFSET = 2**62
MAX_TAIL_LINES = 100_000
MAX_REPLICA = 100_000
# A follower re-checks at least this often (writes by another scheduler process on the same
# database do not wake it).
WAIT_S = 1.0
# Pieces read per stream per round, so one busy replica cannot hold back the others.
_PIECES_PER_ROUND = 16
# Runs whose output a retention pass deletes per transaction.
_PRUNE_BATCH = 500


MAX_RESUME = 4096


@dataclass(frozen=True)
class LogQuery:
    job_id: str
    replica: int | None = None
    streams: tuple[str, ...] = STREAMS
    tail_lines: int = 0
    follow: bool = False
    attempt: int = 0
    # (run id, stream) -> the offset to continue from (a reconnecting client's resume tokens).
    resume: Mapping[tuple[str, str], int] = field(default_factory=dict)


class OutputService:
    def __init__(self, store: Store, clock: Clock, settings: SchedulerSettings) -> None:
        self._store = store
        self._clock = clock
        self._limits = OutputLimits(settings.output_head_bytes, settings.output_tail_bytes)
        self._retention = timedelta(seconds=settings.output_retention_s)
        # A run's output is taken as complete this long after it ended even without the
        # agent's end-of-stream (its agent died, or it never started): a follower ends.
        self._grace = timedelta(seconds=settings.lease_timeout_s)

    # -- agents ------------------------------------------------------------------------------

    def append(self, cluster: str, chunks: Sequence[OutputChunk]) -> list[OutputCursor]:
        """Stores the chunks of runs of `cluster`; one cursor per chunk. A chunk of a run that
        is unknown, another cluster's or past retention gets `stop` (and nothing is stored)."""
        _validate(chunks)
        attempts = 0
        while True:
            try:
                return self._append(cluster, chunks)
            except IntegrityError:
                # Two calls created the same stream's first row at once (an agent restarted
                # while its old process's call was in flight): the retry finds the row.
                attempts += 1
                if attempts == 3:
                    raise

    def _append(self, cluster: str, chunks: Sequence[OutputChunk]) -> list[OutputCursor]:
        cursors: list[OutputCursor] = []
        with self._store.unit() as tx:
            now = self._clock.now()
            runs = tx.runs.get_many({c.run_id for c in chunks})
            for chunk in chunks:
                run = runs.get(chunk.run_id)
                if run is None or run.cluster != cluster or self._expired(run, now):
                    cursors.append(OutputCursor(chunk.run_id, chunk.stream, 0, stop=True))
                    continue
                status = tx.output.append(
                    chunk.run_id,
                    chunk.stream,
                    chunk.offset,
                    chunk.data,
                    eof=chunk.eof,
                    now=now,
                    limits=self._limits,
                )
                cursors.append(
                    OutputCursor(chunk.run_id, chunk.stream, status.received, status.complete)
                )
        return cursors

    def _expired(self, run: Run, now: datetime) -> bool:
        return run.finished_at is not None and run.finished_at < now - self._retention

    # -- readers -----------------------------------------------------------------------------

    def read(
        self, department: str | None, query: LogQuery, active: Callable[[], bool]
    ) -> Iterator[LogPiece]:
        """The stored output of the job's runs; with `query.follow`, then new output until the
        runs ended and their output is complete, or `active()` turns False."""
        _validate_query(query)
        positions = dict(query.resume)
        while active():
            version = self._store.version
            with self._store.unit(write=False) as tx:
                job = owned_job(tx, department, query.job_id)
                if query.replica is not None and query.replica >= job.spec.replicas:
                    raise InvalidSpec(
                        f"the job has {job.spec.replicas} replica(s), numbered from 0",
                        field="replica",
                    )
                attempt = query.attempt or job.attempt
                runs = [
                    r
                    for r in tx.runs.for_job(job.job_id, attempt)
                    if query.replica is None or r.replica == query.replica
                ]
                pieces: list[LogPiece] = []
                for run in runs:
                    for stream in query.streams:
                        key = (run.run_id, stream)
                        if key not in positions:
                            positions[key] = (
                                tx.output.tail_start(run.run_id, stream, query.tail_lines)
                                if query.tail_lines
                                else 0
                            )
                        position = positions[key]
                        for piece in tx.output.read(
                            run.run_id, stream, position, _PIECES_PER_ROUND
                        ):
                            pieces.append(
                                LogPiece(
                                    run.run_id,
                                    run.attempt,
                                    run.replica,
                                    stream,
                                    piece.offset,
                                    piece.data,
                                    dropped=piece.offset - position,
                                )
                            )
                            position = piece.end
                        positions[key] = position
                statuses = tx.output.statuses([r.run_id for r in runs])
            # Sent outside the transaction: a slow client must not hold a database snapshot.
            yield from pieces
            if pieces:
                continue
            if not query.follow or self._finished(job, query, runs, statuses):
                return
            self._store.wait_for_change(version, WAIT_S)

    def _finished(
        self,
        job: Job,
        query: LogQuery,
        runs: Sequence[Run],
        statuses: dict[tuple[str, str], StreamStatus],
    ) -> bool:
        """Whether nothing more will come: the job (or the asked-for attempt) has ended and
        each stream of its runs is complete, or its run ended longer than the grace ago."""
        if query.attempt == 0 and not job.state.terminal:
            return False
        now = self._clock.now()
        for run in runs:
            if not run.state.terminal:
                return False
            lapsed = run.finished_at is None or run.finished_at < now - self._grace
            for stream in query.streams:
                status = statuses.get((run.run_id, stream))
                if not lapsed and (status is None or not status.complete):
                    return False
        return True

    def wake(self) -> None:
        """Wakes followers (one whose client has gone ends at once)."""
        self._store.wake()

    # -- housekeeping ------------------------------------------------------------------------

    def prune(self, max_batches: int = 20) -> int:
        """Deletes the output of runs that ended more than `output_retention_s` ago, in
        batches of one transaction each; returns how many runs' output went."""
        total = 0
        for _ in range(max_batches):
            with self._store.unit() as tx:
                done = tx.output.prune(self._clock.now() - self._retention, _PRUNE_BATCH)
            total += done
            if done < _PRUNE_BATCH:
                break
        return total


def _validate(chunks: Sequence[OutputChunk]) -> None:
    if len(chunks) > MAX_CHUNKS:
        raise InvalidSpec(f"{len(chunks)} chunks; at most {MAX_CHUNKS} per call", field="chunks")
    total = 0
    for i, chunk in enumerate(chunks):
        field = f"chunks[{i}]"
        if not chunk.run_id or len(chunk.run_id) > MAX_RUN_ID_LEN:
            raise InvalidSpec(f"must be 1-{MAX_RUN_ID_LEN} characters", field=f"{field}.run_id")
        if chunk.stream not in STREAMS:
            raise InvalidSpec("must be stdout or stderr", field=f"{field}.stream")
        if not 0 <= chunk.offset <= MAX_OFFSET:
            raise InvalidSpec(f"must be 0-{MAX_OFFSET}", field=f"{field}.offset")
        if len(chunk.data) > CHUNK_BYTES:
            raise InvalidSpec(
                f"{len(chunk.data)} bytes; at most {CHUNK_BYTES}", field=f"{field}.data"
            )
        total += len(chunk.data)
    if total > MAX_APPEND_BYTES:
        raise InvalidSpec(
            f"{total} bytes of data; at most {MAX_APPEND_BYTES} per call", field="chunks"
        )


def _validate_query(query: LogQuery) -> None:
    if not 0 <= query.tail_lines <= MAX_TAIL_LINES:
        raise InvalidSpec(f"must be 0-{MAX_TAIL_LINES}", field="tail_lines")
    if query.replica is not None and not 0 <= query.replica < MAX_REPLICA:
        raise InvalidSpec("must be >= 0", field="replica")
    if query.attempt < 0:
        raise InvalidSpec("must be >= 0 (0: the current attempt)", field="attempt")
    if len(query.resume) > MAX_RESUME:
        raise InvalidSpec(f"{len(query.resume)} entries; at most {MAX_RESUME}", field="resume")
    for i, ((run_id, _), offset) in enumerate(query.resume.items()):
        if not run_id or len(run_id) > MAX_RUN_ID_LEN:
            raise InvalidSpec(f"must be 1-{MAX_RUN_ID_LEN} characters", field=f"resume[{i}].run_id")
        if not 0 <= offset <= MAX_OFFSET:
            raise InvalidSpec(f"must be 0-{MAX_OFFSET}", field=f"resume[{i}].offset")
