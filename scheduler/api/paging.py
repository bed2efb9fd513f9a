"""Page tokens and page sizes of the listing rpcs (ListJobs, ListClusters, ListDepartments).

A token names where the previous page ended (a job's submit sequence, or a name). Tokens are
opaque to clients but not secret; one the server did not issue is refused as INVALID_ARGUMENT
on `page_token` before it reaches the database (an overflowing sequence once gave INTERNAL).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import TypeVar

from google.protobuf.message import Message

from scheduler.api.budget import Budget, fill
from scheduler.domain.errors import InvalidSpec

T = TypeVar("T")
M = TypeVar("M", bound=Message)

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 100


def encode_page_token(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode()


# Sequence numbers are BIGINT: a forged token past it would overflow in the database driver.
_MAX_SEQ = 2**63 - 1


def decode_page_token(token: str) -> int | None:
    if not token:
        return None
    if len(token) <= 64:
        try:
            kind, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        except (ValueError, UnicodeError):
            kind, value = "", ""
        digits = value.isdecimal() and value.isascii() and len(value) <= 19
        if kind == "seq" and digits and 0 < int(value) <= _MAX_SEQ:
            return int(value)
    raise InvalidSpec("is not a token this server issued", field="page_token")


def encode_name_token(name: str) -> str:
    return base64.urlsafe_b64encode(f"name:{name}".encode()).decode()


def decode_name_token(token: str) -> str | None:
    """The name a ListClusters/ListDepartments page ended at; None for the first page."""
    if not token:
        return None
    if len(token) <= 512:
        try:
            kind, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        except (ValueError, UnicodeError):
            kind, value = "", ""
        # Printable only: a NUL decoded from base64 would reach PostgreSQL, which refuses it.
        if kind == "name" and value and value.isprintable():
            return value
    raise InvalidSpec("is not a token this server issued", field="page_token")


def page_size(value: int) -> int:
    """A request's page_size: 0 means 100; 1-500 otherwise."""
    if value == 0:
        return DEFAULT_PAGE_SIZE
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise InvalidSpec(
            f"must be 1-{MAX_PAGE_SIZE} (0 means {DEFAULT_PAGE_SIZE}), got {value}",
            field="page_size",
        )
    return value


def page(
    found: Sequence[T],
    encode: Callable[[T], M],
    reply_bytes: int,
    limit: int,
    token_of: Callable[[T], str],
) -> tuple[list[M], str]:
    """The items of `found` (at most `limit` read) that fit `reply_bytes`, and the token that
    continues after the last one sent ("" when nothing is left). A page holds at least one item,
    so a listing always advances."""
    budget = Budget(reply_bytes)
    out = [encode(item) for item in found[:1]]
    if out:
        budget.take(out[0].ByteSize())
    out += fill(found[1:], encode, budget)
    more = len(out) < len(found) or len(found) == limit
    return out, token_of(found[len(out) - 1]) if out and more else ""
