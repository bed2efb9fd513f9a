"""Job output (stdout/stderr of each replica) as the scheduler keeps it: the two streams, the
size of a stored piece, and the per-stream caps.

Each stream keeps its first `head_bytes` and its last `tail_bytes`; what lies between is dropped
and counted. Head and tail rather than the tail alone: the head holds what a job said when it
started (its configuration, versions, the first error, which often causes the rest), the tail
how it ended (the final traceback, the exit summary); the middle of a runaway loop is what
matters least. Both caps are server settings (SchedulerSettings.output_*).
"""

from __future__ import annotations

from dataclasses import dataclass

STDOUT = "stdout"
STDERR = "stderr"
STREAMS = (STDOUT, STDERR)
# Largest piece of output in one message (agent to scheduler, scheduler to client) and in one
# stored row: small enough for any reply budget, large enough that rows stay few.
CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class OutputLimits:
    """What one stream of one run may keep: the first `head_bytes` and the last `tail_bytes`."""

    head_bytes: int = 64 * 1024
    tail_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        if self.head_bytes < 0 or self.tail_bytes < 1:
            raise ValueError("output caps: head_bytes must be >= 0 and tail_bytes >= 1")


@dataclass(frozen=True)
class OutputPiece:
    """Stored bytes of one stream, from `offset` (bytes from the stream's start)."""

    offset: int
    data: bytes

    @property
    def end(self) -> int:
        return self.offset + len(self.data)


@dataclass(frozen=True)
class StreamStatus:
    """How far a stream got: bytes received, bytes dropped, and whether it is complete."""

    received: int = 0
    dropped: int = 0
    complete: bool = False


@dataclass(frozen=True)
class OutputChunk:
    """New output of one stream of one run, as an agent ships it."""

    run_id: str
    stream: str
    offset: int
    data: bytes
    eof: bool = False


@dataclass(frozen=True)
class OutputCursor:
    """Where the agent continues a stream; `stop`: ship nothing more for it."""

    run_id: str
    stream: str
    next_offset: int
    stop: bool = False


@dataclass(frozen=True)
class LogPiece:
    """A piece of a replica's output for a reader; `dropped`: bytes not kept just before it."""

    run_id: str
    attempt: int
    replica: int
    stream: str
    offset: int
    data: bytes
    dropped: int = 0
