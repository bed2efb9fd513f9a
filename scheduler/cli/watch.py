"""`suanchou job watch`: stream job events, surviving scheduler restarts.

Event ids increase strictly and WatchEvents resends only events after `after_event_id`, so on
UNAVAILABLE (scheduler restarting, network blip) the watch reconnects with exponential backoff
from the last id it printed: nothing is lost and nothing is printed twice.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import grpc

from protos.suanchou.v1 import jobs_pb2, jobs_pb2_grpc, types_pb2
from scheduler.cli import render
from scheduler.cli.connection import RETRYABLE, Metadata, bearer, open_channel
from scheduler.cli.errors import EXIT_OK
from scheduler.cli.settings import Settings

INITIAL_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 15.0
# Without --follow the watch is a bounded read (often in a script): give up after this many
# failed reconnects in a row instead of waiting forever for a scheduler that is gone.
MAX_RECONNECTS_WITHOUT_FOLLOW = 5
# Module attribute so tests can replace it and not actually wait.
sleep: Callable[[float], None] = time.sleep

# Fixed widths: a stream cannot measure its rows in advance. Longer values just push the line.
_COLUMNS = (("TIME", 19), ("EVENT", 7), ("JOB_ID", 36), ("STATE", 9), ("CLUSTER/NODE", 18),
            ("REASON", 21), ("EXIT", 4))  # fmt: skip
_RIGHT = {"EVENT", "EXIT"}


def watch(args: argparse.Namespace, settings: Settings) -> int:
    request = jobs_pb2.WatchEventsRequest(
        after_event_id=args.after,
        job_set=args.job_set or "",
        job_id=args.job_id or "",
        follow=not args.no_follow,
    )
    metadata = bearer(settings.department_token())
    if not args.json:
        print(_line([name for name, _ in _COLUMNS] + ["MESSAGE"]), flush=True)
    with open_channel(settings) as channel:
        try:
            stream_events(jobs_pb2_grpc.JobServiceStub(channel), request, metadata, args.json)
        except KeyboardInterrupt:
            # Ctrl-C is how a follow watch is meant to end.
            return EXIT_OK
    return EXIT_OK


def stream_events(
    stub: Any, request: jobs_pb2.WatchEventsRequest, metadata: Metadata, as_json: bool
) -> None:
    """Prints events until the stream ends; reconnects on UNAVAILABLE from the last event id."""
    # A copy: its after_event_id advances as events arrive and is the resume token.
    resume = jobs_pb2.WatchEventsRequest()
    resume.CopyFrom(request)
    request = resume
    delay = INITIAL_BACKOFF_SECONDS
    failures = 0
    while True:
        call = stub.WatchEvents(request, metadata=metadata)
        try:
            for event in call:
                print(_format(event, as_json), flush=True)
                request.after_event_id = event.event_id
                delay, failures = INITIAL_BACKOFF_SECONDS, 0
            return
        except grpc.RpcError as e:
            if e.code() not in RETRYABLE:
                raise
            failures += 1
            if not request.follow and failures > MAX_RECONNECTS_WITHOUT_FOLLOW:
                raise
            print(
                f"watch: scheduler unavailable ({e.code().name}: {e.details()}); reconnecting in "
                f"{delay:g}s "
                f"after event {request.after_event_id}",
                file=sys.stderr,
                flush=True,
            )
            sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)
        finally:
            call.cancel()


def _line(cells: list[str]) -> str:
    padded = [
        render.pad(cell, width, right=name in _RIGHT)
        for (name, width), cell in zip(_COLUMNS, cells, strict=False)
    ]
    return render.COLUMN_GAP.join([*padded, *cells[len(_COLUMNS) :]]).rstrip()


def _format(event: types_pb2.JobEvent, as_json: bool) -> str:
    if as_json:
        return render.dumps(render.message_dict(event), indent=None)
    where = "/".join(part for part in (event.cluster, event.node) if part)
    return _line(
        [
            render.local_time(event.created_at),
            str(event.event_id),
            event.job_id,
            render.job_state(event.state),
            render.or_none(where),
            render.or_none(event.reason),
            str(event.exit_code) if event.HasField("exit_code") else render.NONE,
            event.message,
        ]
    )
