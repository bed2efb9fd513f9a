"""JobSpec.max_attempts, retry_on and retry_exit_codes <-> the domain's RetryPolicy."""

from __future__ import annotations

from protos.suanchou.v1 import types_pb2
from scheduler.domain.errors import InvalidSpec
from scheduler.domain.retry import MAX_RETRY_EXIT_CODES, FailureCategory, RetryPolicy

_FROM_PROTO = {
    types_pb2.FAILURE_CATEGORY_NODE_FAILURE: FailureCategory.NODE_FAILURE,
    types_pb2.FAILURE_CATEGORY_LOST: FailureCategory.LOST,
    types_pb2.FAILURE_CATEGORY_OOM: FailureCategory.OOM,
}
_TO_PROTO = {category: value for value, category in _FROM_PROTO.items()}
# What an agent may report as a run's cause (RunReport.failure).
_REPORTED = {**_FROM_PROTO, types_pb2.FAILURE_CATEGORY_TIMEOUT: FailureCategory.TIMEOUT}


def failure_from_proto(value: types_pb2.FailureCategory.ValueType, field: str) -> str:
    """A FailureCategory value, or "" for UNSPECIFIED."""
    if value == types_pb2.FAILURE_CATEGORY_UNSPECIFIED:
        return ""
    if value not in _REPORTED:
        raise InvalidSpec(f"unknown failure category {value}", field=field)
    return _REPORTED[value].value


def retry_from_proto(msg: types_pb2.JobSpec) -> RetryPolicy:
    """Bounds the lists before reading them (the domain validates the values)."""
    if len(msg.retry_on) > len(_FROM_PROTO):
        raise InvalidSpec(f"at most {len(_FROM_PROTO)} categories", field="retry_on")
    categories = set()
    for i, value in enumerate(msg.retry_on):
        if value not in _FROM_PROTO:
            raise InvalidSpec(
                f"must be NODE_FAILURE, LOST or OOM, got {value}", field=f"retry_on[{i}]"
            )
        categories.add(_FROM_PROTO[value])
    if len(msg.retry_exit_codes) > MAX_RETRY_EXIT_CODES:
        raise InvalidSpec(f"at most {MAX_RETRY_EXIT_CODES} codes", field="retry_exit_codes")
    return RetryPolicy(
        max_attempts=msg.max_attempts,
        retry_on=frozenset(categories),
        exit_codes=frozenset(msg.retry_exit_codes),
    )


def retry_to_proto(policy: RetryPolicy, msg: types_pb2.JobSpec) -> None:
    msg.max_attempts = policy.max_attempts
    msg.retry_on.extend(_TO_PROTO[c] for c in sorted(policy.retry_on))
    msg.retry_exit_codes.extend(sorted(policy.exit_codes))
