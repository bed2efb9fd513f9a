"""Proto <-> domain conversion of job output (AppendLogs, ReadLogs)."""

from __future__ import annotations

from protos.suanchou.v1 import agent_pb2, jobs_pb2, types_pb2
from scheduler.domain.errors import InvalidSpec
from scheduler.domain.output import STDERR, STDOUT, STREAMS, LogPiece, OutputChunk, OutputCursor
from scheduler.service.output import LogQuery

_TO_PROTO = {STDOUT: types_pb2.OUTPUT_STREAM_STDOUT, STDERR: types_pb2.OUTPUT_STREAM_STDERR}
_FROM_PROTO = {v: k for k, v in _TO_PROTO.items()}


def stream_from_proto(value: int, field: str, *, both_allowed: bool = False) -> tuple[str, ...]:
    """The stream(s) a request names; UNSPECIFIED means both where `both_allowed`."""
    if value == types_pb2.OUTPUT_STREAM_UNSPECIFIED and both_allowed:
        return STREAMS
    if value in _FROM_PROTO:
        return (_FROM_PROTO[value],)  # type: ignore[index]
    raise InvalidSpec(
        f"must be OUTPUT_STREAM_STDOUT or OUTPUT_STREAM_STDERR, got {value}", field=field
    )


def chunks_from_proto(request: agent_pb2.AppendLogsRequest) -> list[OutputChunk]:
    out = []
    for i, msg in enumerate(request.chunks):
        (stream,) = stream_from_proto(msg.stream, f"chunks[{i}].stream")
        out.append(OutputChunk(msg.run_id, stream, msg.offset, msg.data, msg.eof))
    return out


def cursors_to_proto(cursors: list[OutputCursor]) -> agent_pb2.AppendLogsResponse:
    return agent_pb2.AppendLogsResponse(
        cursors=[
            agent_pb2.OutputCursor(
                run_id=c.run_id,
                stream=_TO_PROTO[c.stream],
                next_offset=c.next_offset,
                stop=c.stop,
            )
            for c in cursors
        ]
    )


def log_query_from_proto(request: jobs_pb2.ReadLogsRequest) -> LogQuery:
    resume: dict[tuple[str, str], int] = {}
    for i, position in enumerate(request.resume):
        (stream,) = stream_from_proto(position.stream, f"resume[{i}].stream")
        resume[(position.run_id, stream)] = position.offset
    return LogQuery(
        resume=resume,
        job_id=request.job_id,
        replica=request.replica if request.HasField("replica") else None,
        streams=stream_from_proto(request.stream, "stream", both_allowed=True),
        tail_lines=request.tail_lines,
        follow=request.follow,
        attempt=request.attempt,
    )


def log_piece_to_proto(piece: LogPiece) -> jobs_pb2.LogChunk:
    return jobs_pb2.LogChunk(
        run_id=piece.run_id,
        replica=piece.replica,
        stream=_TO_PROTO[piece.stream],
        offset=piece.offset,
        data=piece.data,
        dropped_bytes=piece.dropped,
        attempt=piece.attempt,
    )
