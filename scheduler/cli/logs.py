"""`suanchou job logs JOB [--replica N] [--stream S] [--follow] [--tail N]`: a job's output.

The output is written as the job wrote it, bytes untouched (binary included): the replicas'
stdout to stdout and their stderr to stderr. A job of several replicas gets a `==> replica N
stdout <==` line, like tail(1) with several files, whenever the source changes. Where the
scheduler dropped output (each stream keeps its first and last part), a notice on stderr says
how many bytes are missing there.

Like `job watch`, a read survives a scheduler restart: on UNAVAILABLE it reconnects with
backoff and resumes each stream after the last byte it printed (ReadLogsRequest.resume), so
nothing is printed twice.
"""

from __future__ import annotations

import argparse
import sys
from typing import BinaryIO

import grpc

from protos.suanchou.v1 import jobs_pb2, jobs_pb2_grpc, types_pb2
from scheduler.cli import watch
from scheduler.cli.connection import CALL_TIMEOUT_SECONDS, RETRYABLE, bearer, open_channel
from scheduler.cli.errors import EXIT_OK, UsageError
from scheduler.cli.settings import Settings

MAX_TAIL_LINES = 100_000
_STREAMS = {
    "stdout": types_pb2.OUTPUT_STREAM_STDOUT,
    "stderr": types_pb2.OUTPUT_STREAM_STDERR,
    "both": types_pb2.OUTPUT_STREAM_UNSPECIFIED,
}


def logs(args: argparse.Namespace, settings: Settings) -> int:
    if args.replica is not None and args.replica < 0:
        raise UsageError("--replica: must be >= 0 (replicas are numbered from 0)")
    if args.tail is not None and not 1 <= args.tail <= MAX_TAIL_LINES:
        raise UsageError(f"--tail: must be 1-{MAX_TAIL_LINES} lines, got {args.tail}")
    request = jobs_pb2.ReadLogsRequest(
        job_id=args.job_id,
        stream=_STREAMS[args.stream],
        tail_lines=args.tail or 0,
        follow=args.follow,
    )
    if args.replica is not None:
        request.replica = args.replica
    metadata = bearer(settings.department_token())
    with open_channel(settings) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        job: types_pb2.Job = stub.GetJob(
            jobs_pb2.GetJobRequest(job_id=args.job_id),
            metadata=metadata,
            timeout=CALL_TIMEOUT_SECONDS,
        )
        printer = LogPrinter(
            sys.stdout.buffer,
            sys.stderr.buffer,
            headers=args.replica is None and job.spec.replicas > 1,
        )
        try:
            read(stub, request, metadata, printer)
        except KeyboardInterrupt:
            return EXIT_OK  # how a follow is meant to end early
    return EXIT_OK


def read(
    stub: jobs_pb2_grpc.JobServiceStub,
    request: jobs_pb2.ReadLogsRequest,
    metadata: tuple[tuple[str, str], ...],
    printer: LogPrinter,
) -> None:
    """Prints the output until the stream ends; reconnects on UNAVAILABLE after the last byte
    printed of each stream."""
    delay, failures = watch.INITIAL_BACKOFF_SECONDS, 0
    while True:
        # A follow ends when the job has ended (or on Ctrl-C); a plain read is bounded.
        call = stub.ReadLogs(
            printer.resume(request),
            metadata=metadata,
            timeout=None if request.follow else CALL_TIMEOUT_SECONDS,
        )
        try:
            for chunk in call:
                printer.write(chunk)
                delay, failures = watch.INITIAL_BACKOFF_SECONDS, 0
            return
        except grpc.RpcError as e:
            if e.code() not in RETRYABLE:
                raise
            failures += 1
            if not request.follow and failures > watch.MAX_RECONNECTS_WITHOUT_FOLLOW:
                raise
            print(
                f"logs: scheduler unavailable ({e.code().name}: {e.details()}); reconnecting "
                f"in {delay:g}s",
                file=sys.stderr,
                flush=True,
            )
            watch.sleep(delay)
            delay = min(delay * 2, watch.MAX_BACKOFF_SECONDS)
        finally:
            call.cancel()


class LogPrinter:
    """Writes each chunk's bytes to `out` (stdout) or `err` (stderr) as they come, and
    remembers where each stream ends (the resume tokens of a reconnect)."""

    def __init__(self, out: BinaryIO, err: BinaryIO, *, headers: bool) -> None:
        self._out, self._err = out, err
        self._headers = headers
        self._source: tuple[int, int] | None = None
        self._ends_line = {id(out): True, id(err): True}
        self.ends: dict[tuple[str, int], int] = {}

    def resume(self, request: jobs_pb2.ReadLogsRequest) -> jobs_pb2.ReadLogsRequest:
        again = jobs_pb2.ReadLogsRequest()
        again.CopyFrom(request)
        for (run_id, stream), offset in self.ends.items():
            again.resume.add(run_id=run_id, stream=stream, offset=offset)
        return again

    def write(self, chunk: jobs_pb2.LogChunk) -> None:
        name = "stderr" if chunk.stream == types_pb2.OUTPUT_STREAM_STDERR else "stdout"
        target = self._err if name == "stderr" else self._out
        where = f"replica {chunk.replica} {name}"
        if self._headers and self._source != (chunk.replica, chunk.stream):
            self._emit(target, f"==> {where} <==\n".encode(), line=True)
        self._source = (chunk.replica, chunk.stream)
        if chunk.dropped_bytes:
            notice = (
                f"suanchou: [{where}] {chunk.dropped_bytes:,} bytes dropped here (the scheduler "
                "keeps the first and the last part of each stream)\n"
            )
            self._emit(self._err, notice.encode(), line=True)
        if chunk.data:
            self._emit(target, chunk.data)
        self.ends[(chunk.run_id, chunk.stream)] = chunk.offset + len(chunk.data)

    def _emit(self, target: BinaryIO, data: bytes, *, line: bool = False) -> None:
        """Writes `data`; a header or notice (`line`) starts on a line of its own."""
        if line and not self._ends_line[id(target)]:
            target.write(b"\n")
        target.write(data)
        target.flush()
        self._ends_line[id(target)] = data.endswith(b"\n")
