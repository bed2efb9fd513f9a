"""The one max message size and the byte budget every reply is built within.

A reply larger than the client's receive limit is lost whole: the agent of issue 8 could not
apply a 12 MB Sync reply and its cluster was declared lost. So every reply that lists things
(leases, cancels, jobs, clusters, departments) is filled item by item and stops before the
next item would take it past the budget; the rest comes with the next call (`more`, or a page
token).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from google.protobuf.message import Message

# Server, CLI and agent default alike (`max_message_bytes`, `--max-message-bytes`).
DEFAULT_MAX_MESSAGE_BYTES = 8 * 1024 * 1024
# Room kept in every reply for its fixed fields (cluster name, intervals, page token).
ENVELOPE_BYTES = 4096
# A field's tag and length prefix around each repeated element: at most 1 + 5 bytes below 4 GiB.
PER_ITEM_OVERHEAD = 6

T = TypeVar("T")
M = TypeVar("M", bound=Message)


def reply_budget(max_message_bytes: int) -> int:
    """Bytes a reply may fill: half the max message size, less its envelope.

    Half, so that a client configured with an older or smaller limit (gRPC's default is 4 MiB)
    still receives every reply of a server at the default 8 MiB.
    """
    return max_message_bytes // 2 - ENVELOPE_BYTES


class Budget:
    """Bytes left in one reply, shared by its repeated fields; `full` once something was left
    out (for lack of bytes or past an item cap)."""

    def __init__(self, max_bytes: int) -> None:
        self.bytes_left = max_bytes
        self.full = False

    def take(self, size: int) -> bool:
        """Reserves `size` bytes for one more item; False (and full) if it does not fit."""
        size += PER_ITEM_OVERHEAD
        if size > self.bytes_left:
            self.full = True
            return False
        self.bytes_left -= size
        return True


def fill(
    items: Iterable[T], encode: Callable[[T], M], budget: Budget, max_items: int | None = None
) -> list[M]:
    """Encodes items in order until the next would not fit or `max_items` are in."""
    out: list[M] = []
    for item in items:
        if max_items is not None and len(out) == max_items:
            budget.full = True
            break
        message = encode(item)
        if not budget.take(message.ByteSize()):
            break
        out.append(message)
    return out


def fill_strings(items: Iterable[str], budget: Budget, max_items: int | None = None) -> list[str]:
    """Like `fill` for plain strings (run ids)."""
    out: list[str] = []
    for item in items:
        if max_items is not None and len(out) == max_items:
            budget.full = True
            break
        if not budget.take(len(item.encode())):
            break
        out.append(item)
    return out
