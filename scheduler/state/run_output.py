"""The stored output of runs, bounded per stream (see scheduler.domain.output for the policy).

A stream is a status row (bytes received, bytes dropped, complete) and at most about
(head_bytes + tail_bytes) / CHUNK_BYTES + 2 chunk rows: an append extends the last row of its
zone until it holds CHUNK_BYTES, so an agent shipping a byte at a time cannot multiply rows,
and trimming the tail cuts the oldest tail row at the byte. Like the other repositories it
never commits; the caller's unit of work does.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import datetime

from sqlalchemy import delete, func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from scheduler.domain.output import CHUNK_BYTES, OutputLimits, OutputPiece, StreamStatus
from scheduler.state.tables import RunOutputChunkRow, RunOutputRow, RunRow

# Rows read per query when walking a stream backwards (tail lines).
_BATCH = 16


class RunOutputs:
    def __init__(self, session: Session) -> None:
        self._s = session

    def append(
        self,
        run_id: str,
        stream: str,
        offset: int,
        data: bytes,
        *,
        eof: bool,
        now: datetime,
        limits: OutputLimits,
    ) -> StreamStatus:
        """Stores `data` found at `offset` of the stream; returns where the stream now stands.

        Bytes before what was received already are a resend and ignored; a jump past it counts
        as dropped. After `eof` the stream is complete and further appends are ignored.
        """
        row = self._s.exec(
            select(RunOutputRow)
            .where(RunOutputRow.run_id == run_id, RunOutputRow.stream == stream)
            .with_for_update()
        ).first()
        if row is None:
            row = RunOutputRow(
                run_id=run_id, stream=stream, received=0, dropped=0, complete=False, updated_at=now
            )
            self._s.add(row)
        if row.complete:
            return _status(row)
        if offset > row.received:
            row.dropped += offset - row.received
            row.received = offset
        skip = row.received - offset
        if skip < len(data):
            fresh, start = data[skip:], row.received
            head_room = max(0, min(len(fresh), limits.head_bytes - start))
            if head_room:
                self._put(run_id, stream, start, fresh[:head_room], (0, limits.head_bytes))
            if head_room < len(fresh):
                self._put(
                    run_id, stream, start + head_room, fresh[head_room:], (limits.head_bytes, None)
                )
            row.received = start + len(fresh)
            cut = max(limits.head_bytes, row.received - limits.tail_bytes)
            row.dropped += self._trim(run_id, stream, limits.head_bytes, cut)
        if eof:
            row.complete = True
        row.updated_at = now
        self._s.flush()
        return _status(row)

    def _put(
        self, run_id: str, stream: str, start: int, data: bytes, zone: tuple[int, int | None]
    ) -> None:
        """Appends within one zone (head or tail): fills its last row, then new rows."""
        low, high = zone
        query = self._chunks(run_id, stream).where(col(RunOutputChunkRow.byte_offset) >= low)
        if high is not None:
            query = query.where(col(RunOutputChunkRow.byte_offset) < high)
        last = self._s.exec(query.order_by(col(RunOutputChunkRow.byte_offset).desc())).first()
        if last is not None and last.byte_offset + len(last.data) == start:
            room = CHUNK_BYTES - len(last.data)
            if room > 0:
                last.data = last.data + data[:room]
                data, start = data[room:], start + room
        for i in range(0, len(data), CHUNK_BYTES):
            self._s.add(
                RunOutputChunkRow(
                    run_id=run_id,
                    stream=stream,
                    byte_offset=start + i,
                    data=data[i : i + CHUNK_BYTES],
                )
            )
        self._s.flush()

    def _trim(self, run_id: str, stream: str, floor: int, cut: int) -> int:
        """Drops the tail's bytes below `cut`; returns how many were dropped."""
        if cut <= floor:
            return 0
        old = self._s.exec(
            self._chunks(run_id, stream)
            .where(col(RunOutputChunkRow.byte_offset) >= floor)
            .where(col(RunOutputChunkRow.byte_offset) < cut)
            .order_by(col(RunOutputChunkRow.byte_offset))
        ).all()
        dropped = 0
        for chunk in old:
            end = chunk.byte_offset + len(chunk.data)
            dropped += min(end, cut) - chunk.byte_offset
            kept = chunk.data[cut - chunk.byte_offset :] if end > cut else b""
            self._s.delete(chunk)
            if kept:
                self._s.flush()  # the delete first: the kept part may not reuse its key
                self._s.add(
                    RunOutputChunkRow(run_id=run_id, stream=stream, byte_offset=cut, data=kept)
                )
        self._s.flush()
        return dropped

    def read(self, run_id: str, stream: str, position: int, limit: int = 16) -> list[OutputPiece]:
        """Up to `limit` stored pieces holding bytes at or after `position`, in order; the
        first starts at `position` unless those bytes were dropped (then later)."""
        offset = col(RunOutputChunkRow.byte_offset)
        rows = self._s.exec(
            self._chunks(run_id, stream)
            # The first bound lets the primary key narrow the scan (no row is longer than
            # CHUNK_BYTES); the second is exact.
            .where(offset > position - CHUNK_BYTES)
            .where(offset + func.length(col(RunOutputChunkRow.data)) > position)
            .order_by(offset)
            .limit(limit)
        ).all()
        pieces: list[OutputPiece] = []
        for row in rows:
            skip = max(0, position - row.byte_offset)
            pieces.append(OutputPiece(row.byte_offset + skip, row.data[skip:]))
        return pieces

    def tail_start(self, run_id: str, stream: str, lines: int) -> int:
        """The offset where the last `lines` stored lines of the stream begin (a final newline
        ends the last line rather than starting another); the first stored offset if fewer
        lines are stored."""
        first = 0
        at_end = True
        for piece in self._backwards(run_id, stream):
            first = piece.offset
            data = piece.data
            if at_end and data.endswith(b"\n"):
                data = data[:-1]
            at_end = False
            index = len(data)
            while (index := data.rfind(b"\n", 0, index)) >= 0:
                lines -= 1
                if lines == 0:
                    return piece.offset + index + 1
        return first

    def _backwards(self, run_id: str, stream: str) -> Iterator[OutputPiece]:
        before: int | None = None
        while True:
            query = self._chunks(run_id, stream)
            if before is not None:
                query = query.where(col(RunOutputChunkRow.byte_offset) < before)
            rows = self._s.exec(
                query.order_by(col(RunOutputChunkRow.byte_offset).desc()).limit(_BATCH)
            ).all()
            for row in rows:
                yield OutputPiece(row.byte_offset, row.data)
            if len(rows) < _BATCH:
                return
            before = rows[-1].byte_offset

    def statuses(self, run_ids: Collection[str]) -> dict[tuple[str, str], StreamStatus]:
        """(run id, stream) -> status, for the streams of these runs that received anything."""
        if not run_ids:
            return {}
        rows = self._s.exec(
            select(RunOutputRow).where(col(RunOutputRow.run_id).in_(list(run_ids)))
        ).all()
        return {(r.run_id, r.stream): _status(r) for r in rows}

    def prune(self, ended_before: datetime, limit: int = 500) -> int:
        """Deletes the output of up to `limit` runs that ended before `ended_before`; returns
        how many runs' output went."""
        ids = list(
            self._s.exec(
                select(RunOutputRow.run_id)
                .join(RunRow, col(RunRow.run_id) == col(RunOutputRow.run_id))
                .where(col(RunRow.finished_at).is_not(None))
                .where(col(RunRow.finished_at) < ended_before)
                .distinct()
                .limit(limit)
            ).all()
        )
        if ids:
            self._s.execute(delete(RunOutputChunkRow).where(col(RunOutputChunkRow.run_id).in_(ids)))
            self._s.execute(delete(RunOutputRow).where(col(RunOutputRow.run_id).in_(ids)))
        return len(ids)

    @staticmethod
    def _chunks(run_id: str, stream: str) -> SelectOfScalar[RunOutputChunkRow]:
        return select(RunOutputChunkRow).where(
            RunOutputChunkRow.run_id == run_id, RunOutputChunkRow.stream == stream
        )


def _status(row: RunOutputRow) -> StreamStatus:
    return StreamStatus(row.received, row.dropped, row.complete)
