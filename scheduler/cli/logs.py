"""`suanchou job logs JOB [--replica N] [--stream S] [--follow] [--tail N]`: a job's output.

The output is written as the job wrote it, bytes untouched (binary included): the replicas'
stdout to stdout and their stderr to stderr. A job of several replicas gets a `==> replica N
stdout <==` line, like tail(1) with several files, whenever the source changes. Where the
scheduler dropped output (each stream keeps its first and last part), a notice on stderr says
how many bytes are missing there.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, BinaryIO

from protos.suanchou.v1 import jobs_pb2, jobs_pb2_grpc, types_pb2
from scheduler.cli.connection import CALL_TIMEOUT_SECONDS, bearer, open_channel
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
        headers = args.replica is None and job.spec.replicas > 1
        # A follow ends when the job has ended (or on Ctrl-C); a plain read is bounded.
        call = stub.ReadLogs(
            request, metadata=metadata, timeout=None if args.follow else CALL_TIMEOUT_SECONDS
        )
        try:
            write_chunks(call, sys.stdout.buffer, sys.stderr.buffer, headers=headers)
        except KeyboardInterrupt:
            return EXIT_OK
        finally:
            call.cancel()
    return EXIT_OK


def write_chunks(chunks: Any, out: BinaryIO, err: BinaryIO, *, headers: bool) -> None:
    """Writes each chunk's bytes to `out` (stdout) or `err` (stderr) as they come."""
    source: tuple[int, int] | None = None
    ends_line = {id(out): True, id(err): True}
    for chunk in chunks:
        name = "stderr" if chunk.stream == types_pb2.OUTPUT_STREAM_STDERR else "stdout"
        target = err if name == "stderr" else out
        where = f"replica {chunk.replica} {name}"
        if headers and source != (chunk.replica, chunk.stream):
            lead = b"" if ends_line[id(target)] else b"\n"
            target.write(lead + f"==> {where} <==\n".encode())
            ends_line[id(target)] = True
        source = (chunk.replica, chunk.stream)
        if chunk.dropped_bytes:
            if not ends_line[id(err)]:
                err.write(b"\n")
            err.write(
                f"suanchou: [{where}] {chunk.dropped_bytes:,} bytes dropped here (the scheduler "
                "keeps the first and the last part of each stream)\n".encode()
            )
            ends_line[id(err)] = True
            err.flush()
        if chunk.data:
            target.write(chunk.data)
            ends_line[id(target)] = chunk.data.endswith(b"\n")
            target.flush()
