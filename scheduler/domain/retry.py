"""Retries by failure category: which failures of a replica requeue its job as a new attempt.

An application failure (a non-zero exit the job did not list, a max runtime exceeded) fails the
job at once; an infrastructure failure (node failure, lost replica) is retried while the job has
attempts left. Jobs choose with JobSpec.max_attempts, retry_on and retry_exit_codes.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from scheduler.domain.states import RunState


class FailureCategory(enum.StrEnum):
    NODE_FAILURE = "NODE_FAILURE"
    LOST = "LOST"
    OOM = "OOM"
    # Not nameable in retry_on: an exit code is retried by listing it in retry_exit_codes.
    EXIT_CODE = "EXIT_CODE"
    # Never retried: the same program would most likely run out of time again.
    TIMEOUT = "TIMEOUT"


# What retry_on may name.
RETRYABLE = frozenset({FailureCategory.NODE_FAILURE, FailureCategory.LOST, FailureCategory.OOM})
# A job's retry_on when it names none: the infrastructure's failures, as before retry_on existed.
DEFAULT_RETRY_ON = frozenset({FailureCategory.NODE_FAILURE, FailureCategory.LOST})
MAX_ATTEMPTS_LIMIT = 20
MAX_RETRY_EXIT_CODES = 32

# How executors word these failures in a run's message (agents.slurm.states,
# agents.kube.podstatus, agents.executor): read only for runs reported without a cause.
_OOM_MARKERS = ("OOMKilled", "OUT_OF_MEMORY", "out of memory")
_TIMEOUT_MARKER = re.compile(r"^max runtime \S* ?exceeded")
_NODE_MARKERS = ("NODE_FAIL", "BOOT_FAIL", "NodeLost", "NodeShutdown", "Shutdown", "node failed")


@dataclass(frozen=True)
class RetryPolicy:
    """A job's retry settings; `max_attempts` 0 means the scheduler's setting."""

    max_attempts: int = 0
    retry_on: frozenset[FailureCategory] = frozenset()
    exit_codes: frozenset[int] = frozenset()

    @property
    def categories(self) -> frozenset[FailureCategory]:
        return self.retry_on or DEFAULT_RETRY_ON

    def attempts(self, default: int) -> int:
        return self.max_attempts or default


@dataclass(frozen=True)
class Verdict:
    """What to do about a failed attempt: requeue it (`retry`) or fail the job, and why."""

    retry: bool
    category: FailureCategory
    why: str


def classify(
    state: RunState, exit_code: int | None, message: str, failure: str = ""
) -> FailureCategory:
    """The category of a run that ended FAILED, LOST or CANCELLED (by the cluster): the
    agent's own word (`failure`, RunReport.failure) when it gave one, else read from the
    message (older agents)."""
    if failure and state in (RunState.FAILED, RunState.LOST):
        return FailureCategory(failure)
    if state is RunState.FAILED:
        if any(marker in message for marker in _OOM_MARKERS):
            return FailureCategory.OOM
        if _TIMEOUT_MARKER.match(message):
            return FailureCategory.TIMEOUT
        return FailureCategory.EXIT_CODE
    if any(marker in message for marker in _NODE_MARKERS):
        return FailureCategory.NODE_FAILURE
    return FailureCategory.LOST


def decide(
    policy: RetryPolicy,
    category: FailureCategory,
    exit_code: int | None,
    *,
    spent: int,
    default_attempts: int,
) -> Verdict:
    """Whether an attempt that failed with `category` is retried, `spent` attempts used."""
    if category is FailureCategory.TIMEOUT:
        return Verdict(False, category, "not retried: a max runtime exceeded never is")
    if category is FailureCategory.EXIT_CODE:
        covered = exit_code is not None and exit_code in policy.exit_codes
        what = f"exit code {exit_code}"
        if not covered:
            listed = ", ".join(map(str, sorted(policy.exit_codes))) or "none"
            why = f"not retried: {what} is not in retry_exit_codes ({listed})"
            return Verdict(False, category, why)
    else:
        covered = category in policy.categories
        what = category.value
        if not covered:
            listed = ", ".join(sorted(c.value for c in policy.categories))
            return Verdict(False, category, f"not retried: {what} is not in retry_on ({listed})")
    limit = policy.attempts(default_attempts)
    if spent >= limit:
        return Verdict(False, category, f"{what}: gave up after {spent} attempts")
    return Verdict(True, category, f"{what}: retrying, attempt {spent + 1} of {limit}")
