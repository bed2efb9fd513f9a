"""Ships the stdout/stderr of the agent's runs to the scheduler (AgentService.AppendLogs).

The agent has no inbound port: output leaves on its own connection, in calls made by the agent
loop after each Sync (and at once again while a call came back full). A separate rpc rather
than part of Sync, so that output volume never delays the heartbeat that keeps the cluster
alive. The shipper reads output only through `Executor.read_output`, so every executor (local
files, Slurm output files, pod logs) is shipped the same way.

Per stream it keeps the offset the scheduler expects next: each reply sets it (so a resend
after a failed call, or a restarted agent starting again from 0, is skipped by the scheduler
and never duplicated), and `stop` ends the stream (complete, or the scheduler does not want
it). Once a run has finished, a read that comes back short reaches the end of its output, and
that chunk carries `eof`.

Bounded: at most MAX_CHUNKS pieces of CHUNK_BYTES and MAX_CALL_BYTES per call, at most
MAX_TRACKED_RUNS runs followed (the oldest are given up first). A job writing faster than
that is shipped late, never skipped: the scheduler keeps its head and its tail.

The output is the job's: the agent does not scrub it (it cannot know what is secret in it)
and never writes it to a log line; only sizes and counts are logged.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

import grpc
import structlog

from agents.executor import OUTPUT_STREAMS, Executor
from agents.protocol import status_code, status_details
from protos.suanchou.v1 import agent_pb2, types_pb2

CHUNK_BYTES = 64 * 1024
MAX_CHUNKS = 64
MAX_CALL_BYTES = 1024 * 1024
MAX_TRACKED_RUNS = 10_000

_TO_PROTO = {
    "stdout": types_pb2.OUTPUT_STREAM_STDOUT,
    "stderr": types_pb2.OUTPUT_STREAM_STDERR,
}

log = structlog.get_logger("suanchou.agent")


class LogClient(Protocol):
    def append_logs(
        self, request: agent_pb2.AppendLogsRequest, timeout: float
    ) -> agent_pb2.AppendLogsResponse: ...


class OutputShipper:
    """Follows the output of the runs it is told about. Use from the agent's thread only."""

    def __init__(
        self,
        client: LogClient,
        executor: Executor,
        *,
        rpc_timeout: float = 5.0,
        max_message_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        self._client = client
        self._executor = executor
        self._rpc_timeout = rpc_timeout
        # A call within half the agent's message size (as the server's replies are), so an
        # agent started with a small --max-message-bytes still ships, in smaller pieces.
        self._call_bytes = min(MAX_CALL_BYTES, max_message_bytes // 2)
        self._chunk_bytes = min(CHUNK_BYTES, self._call_bytes // 4)
        # (run id, stream) -> the offset the scheduler expects next; order = shipping turn.
        self._cursors: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._runs: OrderedDict[str, None] = OrderedDict()
        self._ended: set[str] = set()
        self._disabled = False

    def track(self, run_id: str, *, ended: bool = False) -> None:
        """Starts following a run's output (a run already followed is left as it is)."""
        if run_id in self._runs:
            return
        self._runs[run_id] = None
        for stream in OUTPUT_STREAMS:
            self._cursors[(run_id, stream)] = 0
        if ended:
            self._ended.add(run_id)
        while len(self._runs) > MAX_TRACKED_RUNS:
            oldest, _ = self._runs.popitem(last=False)
            self._drop(oldest)
            log.warning("output_not_shipped", run_id=oldest, reason="too many runs followed")

    def ended(self, run_id: str) -> None:
        """The run finished: what its output holds now is all there will be."""
        if run_id in self._runs:
            self._ended.add(run_id)

    @property
    def following(self) -> int:
        return len(self._runs)

    def ship(self) -> bool:
        """One AppendLogs call with what is new; True if more may be waiting (the call was
        full), so the caller ships again soon. Raises grpc.RpcError when the call fails."""
        if self._disabled or not self._cursors:
            return False
        request = agent_pb2.AppendLogsRequest()
        budget, full, size = self._call_bytes, False, self._chunk_bytes
        for key in list(self._cursors):
            if key not in self._cursors:
                continue  # its run was dropped while reading its other stream
            if len(request.chunks) == MAX_CHUNKS or budget < size:
                full = True
                break
            self._cursors.move_to_end(key)  # next call starts with the streams after it
            run_id, stream = key
            ended = run_id in self._ended  # before the read: output read after it is final
            offset = self._cursors[key]
            data = self._executor.read_output(run_id, stream, offset, size)
            if data is None:
                self._drop(run_id)  # the executor no longer knows it: nothing to ship
                continue
            data = data[:size]
            eof = ended and len(data) < size
            full = full or len(data) == size
            if data or eof:
                request.chunks.add(
                    run_id=run_id, stream=_TO_PROTO[stream], offset=offset, data=data, eof=eof
                )
                budget -= len(data)
        if not request.chunks:
            return False
        try:
            response = self._client.append_logs(request, timeout=self._rpc_timeout)
        except grpc.RpcError as exc:
            if status_code(exc) is grpc.StatusCode.UNIMPLEMENTED:
                # A scheduler older than job output: say so once, then stop trying.
                self._disabled = True
                log.warning("output_shipping_disabled", details=status_details(exc))
                return False
            raise
        for chunk, cursor in zip(request.chunks, response.cursors, strict=False):
            key = (chunk.run_id, "stdout" if chunk.stream == _TO_PROTO["stdout"] else "stderr")
            if key not in self._cursors:
                continue
            if cursor.stop:
                del self._cursors[key]
                if not any((chunk.run_id, s) in self._cursors for s in OUTPUT_STREAMS):
                    self._drop(chunk.run_id)
            else:
                self._cursors[key] = max(0, cursor.next_offset)
        return full

    def ship_guarded(self) -> bool:
        """`ship`, for the agent loop: a failure is logged and waits for the next sync (the
        output is read from the executor again then, so nothing is lost); never raises."""
        try:
            return self.ship()
        except grpc.RpcError as exc:
            log.warning(
                "output_ship_failed", code=status_code(exc).name, details=status_details(exc)
            )
        except Exception:
            log.exception("output_ship_error")
        return False

    def _drop(self, run_id: str) -> None:
        self._runs.pop(run_id, None)
        self._ended.discard(run_id)
        for stream in OUTPUT_STREAMS:
            self._cursors.pop((run_id, stream), None)
