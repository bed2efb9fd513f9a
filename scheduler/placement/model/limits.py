"""The bounds of every `Problem` field (limits the engines rely on), and the generic checks
that test a field as a whole and, only when that fails, name its first culprit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import chain
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scheduler.placement.model.problem import Problem

# Generous bounds that still catch unit mistakes (bytes where MiB were meant) and keep every
# product the evaluator forms small enough for its int64 scaling (evaluator.py).
MAX_QUANTITY = 1 << 40  # demands, capacities, safety levels, reserved usage
MAX_PRICE = 1 << 30  # group_cost per unit of resource
MAX_COST = 1 << 40  # move, preemption, opening and override costs
MAX_WEIGHT = 1 << 30  # load weights, balance targets and weights, service move weight
MAX_REPLICAS = 1 << 14
MAX_PRIORITY = 1000
MAX_RESOURCES = 64
MAX_DEVICES = 1 << 10
# resource_value: the values sum to at most this, as MAX_RESOURCES values of 1 would (the
# default), so a job's size, and with it the total work, keeps the bound below.
MAX_RESOURCE_VALUE = MAX_RESOURCES
# Total replicas in one problem; with the bounds above it keeps the total work below 2^52, which
# leaves the automatic work weight of the evaluator at least 2^10 inside int64.
MAX_TOTAL_REPLICAS = 1 << 26
MAX_INDEX = (1 << 31) - 1  # department ids, node types, domain ids
MAX_ORDER = 1 << 62
SHARES_PER_DEVICE = 1000

INTS = frozenset({int})
BOOLS = frozenset({bool})
TUPLES = frozenset({tuple})


class InvalidProblem(ValueError):
    """The problem data is inconsistent; the message names the offending index."""


def fail(message: str) -> InvalidProblem:
    return InvalidProblem(message)


def int_ok(value: object, low: int, high: int) -> bool:
    # bool is an int subclass; True as a quantity is always a builder bug.
    return type(value) is int and low <= value <= high


def bad_int(value: object, where: str, low: int, high: int) -> InvalidProblem:
    if type(value) is not int:
        return fail(f"{where} must be an integer, got {value!r}")
    assert isinstance(value, int)
    if value < low:
        return fail(f"{where} must be >= {low}, got {value}")
    return fail(f"{where} must be <= {high}, got {value}")


def check_int(value: object, where: str, low: int, high: int) -> None:
    if not int_ok(value, low, high):
        raise bad_int(value, where, low, high)


def as_tuple(value: object, field: str) -> tuple[object, ...]:
    if not isinstance(value, tuple):
        raise fail(f"problem: {field} must be a tuple, got {type(value).__name__}")
    return value


def length(values: object, count: int, field: str, unit: str, optional: bool) -> bool:
    """Checks that `values` is a tuple of `count` entries; False if optional and empty."""
    seq = as_tuple(values, field)
    if optional and not seq:
        return False
    if len(seq) != count:
        extra = " or 0" if optional else ""
        raise fail(
            f"problem: {field} has {len(seq)} entries, expected {count}{extra} (one per {unit})"
        )
    return True


def ints_ok(values: Sequence[Any], low: int, high: int) -> bool:
    """True when every entry is an int in [low, high]; C-level passes only."""
    if not values:
        return True
    if not set(map(type, values)) <= INTS:
        return False
    return bool(low <= min(values) and max(values) <= high)


def vector(
    values: object,
    count: int,
    field: str,
    unit: str,
    what: str,
    low: int,
    high: int,
    optional: bool = False,
) -> None:
    """A [count] vector of ints in [low, high]; messages say '<unit> i: <what> ...'."""
    if not length(values, count, field, unit, optional):
        return
    assert isinstance(values, tuple)
    if ints_ok(values, low, high):
        return
    for i, value in enumerate(values):
        check_int(value, f"{unit} {i}: {what}", low, high)


def indices(
    values: object, count: int, field: str, unit: str, what: str, limit: int, optional: bool = False
) -> None:
    """A [count] vector of indices into something with `limit` entries ('node set', 'group')."""
    if not length(values, count, field, unit, optional):
        return
    assert isinstance(values, tuple)
    if ints_ok(values, 0, limit - 1):
        return
    for i, value in enumerate(values):
        check_index(value, f"{unit} {i}", what, limit)


def check_index(value: object, where: str, what: str, limit: int) -> None:
    if type(value) is not int:
        raise fail(f"{where}: {what} must be an integer, got {value!r}")
    assert isinstance(value, int)
    if not 0 <= value < limit:
        plural = what if what.endswith("s") else f"{what}s"
        raise fail(f"{where}: {what} {value} does not exist ({limit} {plural})")


def bools(values: object, count: int, field: str, unit: str, optional: bool = True) -> None:
    if not length(values, count, field, unit, optional):
        return
    assert isinstance(values, tuple)
    if set(map(type, values)) <= BOOLS:
        return
    for i, value in enumerate(values):
        if type(value) is not bool:
            raise fail(f"{unit} {i}: {field} must be a bool, got {value!r}")


def matrix(
    rows: object,
    count: int,
    width: int,
    field: str,
    unit: str,
    column: Callable[[int], str],
    low: int,
    high: int,
    optional: bool = False,
) -> None:
    """A [count][width] matrix of ints in [low, high]; messages say 'node 7: capacity[gpu] ...'."""
    if not length(rows, count, field, unit, optional):
        return
    assert isinstance(rows, tuple)
    if set(map(type, rows)) <= TUPLES and set(map(len, rows)) <= {width}:
        flat = list(chain.from_iterable(rows))
        if ints_ok(flat, low, high):
            return
    for i, row in enumerate(rows):
        check_row(row, width, f"{unit} {i}", field_name(field), column, low, high)


def field_name(field: str) -> str:
    """'node_capacity' -> 'capacity': messages already say which node or job."""
    for prefix in ("node_", "job_", "group_"):
        if field.startswith(prefix):
            return field[len(prefix) :]
    return field


def check_row(
    row: object,
    width: int,
    where: str,
    what: str,
    column: Callable[[int], str],
    low: int,
    high: int,
) -> None:
    if not isinstance(row, tuple):
        raise fail(f"{where}: {what} must be a tuple, got {type(row).__name__}")
    if len(row) != width:
        raise fail(f"{where}: {what} has {len(row)} entries, expected {width}")
    for r, value in enumerate(row):
        check_int(value, f"{where}: {what}[{column(r)}]", low, high)


def resource_label(p: Problem) -> Callable[[int], str]:
    names = p.resources
    return lambda r: names[r]


def gpu_share_ok(q: int) -> bool:
    return q < SHARES_PER_DEVICE or q % SHARES_PER_DEVICE == 0
