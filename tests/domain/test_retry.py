"""The retry decision table: application failures fail fast, infrastructure failures retry."""

from __future__ import annotations

import pytest

from scheduler.domain.errors import InvalidSpec
from scheduler.domain.retry import FailureCategory, RetryPolicy, classify, decide
from scheduler.domain.states import RunState
from scheduler.domain.validation import validate_retry

NODE, LOST, OOM, EXIT, TIMEOUT = (
    FailureCategory.NODE_FAILURE,
    FailureCategory.LOST,
    FailureCategory.OOM,
    FailureCategory.EXIT_CODE,
    FailureCategory.TIMEOUT,
)


def test_an_agents_cause_is_taken_as_given() -> None:
    """RunReport.failure decides over the message for FAILED and LOST runs."""
    assert classify(RunState.FAILED, 137, "killed by SIGKILL", "OOM") is OOM
    assert classify(RunState.LOST, None, "", "NODE_FAILURE") is NODE
    assert classify(RunState.FAILED, 143, "", "TIMEOUT") is TIMEOUT


@pytest.mark.parametrize(
    ("state", "exit_code", "message", "category"),
    [
        (RunState.FAILED, 4, "", EXIT),
        (RunState.FAILED, 137, "OOMKilled: memory limit 256Mi exceeded", OOM),
        (RunState.FAILED, None, "out of memory (Slurm OUT_OF_MEMORY)", OOM),
        (RunState.FAILED, 143, "max runtime 30s exceeded", TIMEOUT),
        (RunState.FAILED, None, "max runtime exceeded (Slurm TIMEOUT)", TIMEOUT),
        (RunState.LOST, None, "the Slurm node failed (NODE_FAIL)", NODE),
        (RunState.LOST, None, "the cluster stopped the pod (NodeShutdown)", NODE),
        (RunState.LOST, None, "cluster a lost: no sync from its agent for 15s", LOST),
        (RunState.CANCELLED, None, "gang member lost; attempt abandoned", LOST),
    ],
)
def test_runs_are_classified_by_how_they_ended(
    state: RunState, exit_code: int | None, message: str, category: FailureCategory
) -> None:
    """FAILED is an exit code unless the executor said OOM; LOST is a node failure when the
    cluster said so, else lost."""
    assert classify(state, exit_code, message) is category


@pytest.mark.parametrize(
    ("policy", "category", "exit_code", "spent", "retry", "why"),
    [
        (RetryPolicy(), EXIT, 4, 1, False, "not retried: exit code 4 is not in retry_exit_codes"),
        (RetryPolicy(exit_codes=frozenset({3})), EXIT, 3, 1, True, "exit code 3: retrying"),
        (RetryPolicy(exit_codes=frozenset({3})), EXIT, 3, 3, False, "gave up after 3 attempts"),
        (RetryPolicy(exit_codes=frozenset({3})), EXIT, 4, 1, False, "not in retry_exit_codes (3)"),
        (RetryPolicy(), LOST, None, 2, True, "LOST: retrying, attempt 3 of 3"),
        (RetryPolicy(), NODE, None, 1, True, "NODE_FAILURE: retrying"),
        (RetryPolicy(), OOM, 137, 1, False, "OOM is not in retry_on (LOST, NODE_FAILURE)"),
        (RetryPolicy(retry_on=frozenset({OOM})), OOM, 137, 1, True, "OOM: retrying"),
        (RetryPolicy(retry_on=frozenset({OOM})), LOST, None, 1, False, "not in retry_on (OOM)"),
        (RetryPolicy(max_attempts=1), LOST, None, 1, False, "LOST: gave up after 1 attempts"),
        (RetryPolicy(max_attempts=5), LOST, None, 4, True, "attempt 5 of 5"),
        (RetryPolicy(exit_codes=frozenset({143})), TIMEOUT, 143, 1, False, "never is"),
    ],
)
def test_the_decision_table(
    policy: RetryPolicy,
    category: FailureCategory,
    exit_code: int | None,
    spent: int,
    retry: bool,
    why: str,
) -> None:
    """Each (policy, category, exit code, attempts spent) gives retry or fail with its reason;
    the scheduler's max_attempts (3) applies when the job sets none."""
    verdict = decide(policy, category, exit_code, spent=spent, default_attempts=3)
    assert verdict.retry is retry and why in verdict.why, verdict


@pytest.mark.parametrize(
    ("policy", "field", "text"),
    [
        (RetryPolicy(max_attempts=21), "max_attempts", "got 21"),
        (RetryPolicy(max_attempts=-1), "max_attempts", "got -1"),
        (RetryPolicy(retry_on=frozenset({EXIT})), "retry_on", "NODE_FAILURE, LOST and OOM"),
        (RetryPolicy(exit_codes=frozenset({0})), "retry_exit_codes", "got 0"),
        (RetryPolicy(exit_codes=frozenset({256})), "retry_exit_codes", "got 256"),
        (RetryPolicy(exit_codes=frozenset(range(1, 40))), "retry_exit_codes", "at most 32"),
    ],
)
def test_bad_policies_name_the_field(policy: RetryPolicy, field: str, text: str) -> None:
    """Out-of-range attempts, categories and exit codes are refused naming the field."""
    with pytest.raises(InvalidSpec) as caught:
        validate_retry(policy)
    assert caught.value.field == field and text in str(caught.value)
