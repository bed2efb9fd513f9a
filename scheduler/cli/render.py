"""Readable output: aligned tables (CJK-aware), local times, ages, units, and JSON."""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from protos.suanchou.v1 import types_pb2

COLUMN_GAP = "  "
NONE = "-"


def display_width(text: str) -> int:
    """Terminal columns `text` takes: 2 for wide CJK characters (公安局 is 6), 0 for combining."""
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        # Ambiguous-width characters ("A") count as narrow, as in most non-CJK terminal locales.
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def pad(text: str, width: int, *, right: bool = False) -> str:
    fill = " " * max(0, width - display_width(text))
    return fill + text if right else text + fill


def table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], *, right: Collection[int] = ()
) -> str:
    """Columns aligned by display width; columns whose index is in `right` align right."""
    all_rows = [list(headers), *(list(row) for row in rows)]
    widths = [max(display_width(row[i]) for row in all_rows) for i in range(len(headers))]
    lines = [
        COLUMN_GAP.join(
            pad(cell, widths[i], right=i in right) for i, cell in enumerate(row)
        ).rstrip()
        for row in all_rows
    ]
    return "\n".join(lines)


def fields(pairs: Sequence[tuple[str, str]]) -> str:
    """A `label: value` block with the values aligned."""
    width = max((display_width(label) for label, _ in pairs), default=0) + 1
    return "\n".join(pad(f"{label}:", width) + " " + value for label, value in pairs)


def mapping(values: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(values.items())) or NONE


def or_none(text: str) -> str:
    return text or NONE


def timestamp(ts: Timestamp) -> datetime | None:
    """The timestamp as an aware UTC datetime, or None when the field was never set."""
    if ts.seconds == 0 and ts.nanos == 0:
        return None
    return ts.ToDatetime(tzinfo=UTC)


def local_time(ts: Timestamp) -> str:
    moment = timestamp(ts)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else NONE


def age(ts: Timestamp, now: datetime, *, unset: str = "never") -> str:
    """How long ago, coarsely: "3s ago", "5m ago", "2h ago", "4d ago"."""
    moment = timestamp(ts)
    if moment is None:
        return unset
    # A scheduler clock slightly ahead of ours must not print "-2s ago".
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


# State names without their enum prefix; UNSPECIFIED (e.g. the state of a job that was not
# found) reads as "-".
def job_state(value: int) -> str:
    name: str = types_pb2.JobState.Name(value)  # type: ignore[arg-type]
    return name.removeprefix("JOB_STATE_") if value else NONE


def run_state(value: int) -> str:
    name: str = types_pb2.RunState.Name(value)  # type: ignore[arg-type]
    return name.removeprefix("RUN_STATE_") if value else NONE


def cluster_state(value: int) -> str:
    name: str = types_pb2.ClusterState.Name(value)  # type: ignore[arg-type]
    return name.removeprefix("CLUSTER_STATE_") if value else NONE


def message_dict(message: Message) -> dict[str, Any]:
    """The proto3 JSON mapping with the .proto field names (snake_case) and every field shown.

    Enums appear by name, timestamps as RFC 3339 UTC strings and int64 values (event ids,
    resource quantities) as strings, as the proto3 JSON mapping prescribes.
    """
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def dumps(value: object, *, indent: int | None = 2) -> str:
    # ensure_ascii=False keeps department names such as 公安局 readable.
    return json.dumps(value, ensure_ascii=False, indent=indent)


def token_reply(response: Message, as_json: bool, lines: Sequence[str], note: str) -> None:
    """Prints a reply that carries a secret shown only once, with the note that says so.

    In JSON mode the note goes to stderr so that stdout stays one JSON document.
    """
    if as_json:
        print(dumps(message_dict(response)))
        print(note, file=sys.stderr)
        return
    for line in lines:
        print(line)
    print(note)
