"""Pod statuses, as the API reports them, mapped to run states with reasons a person can read."""

from __future__ import annotations

from typing import Any

import pytest

from agents.executor import Failure, RunPhase
from agents.kube.podstatus import outcome


def pod(
    phase: str,
    *,
    state: dict[str, Any] | None = None,
    reason: str = "",
    message: str = "",
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase}
    if reason:
        status["reason"] = reason
    if message:
        status["message"] = message
    if state is not None:
        status["containerStatuses"] = [{"name": "replica", "state": state}]
    return {
        "spec": {
            "activeDeadlineSeconds": 60,
            "containers": [{"name": "replica", "resources": {"limits": {"memory": "512Mi"}}}],
        },
        "status": status,
    }


def terminated(code: int, reason: str = "Completed", message: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"terminated": {"exitCode": code, "reason": reason}}
    if message:
        out["terminated"]["message"] = message
    return out


def test_exit_codes_come_from_the_container() -> None:
    """Exit 0 succeeds, any other code fails with that code."""
    assert outcome(pod("Succeeded", state=terminated(0))).phase is RunPhase.SUCCEEDED
    failed = outcome(pod("Failed", state=terminated(3, "Error")))
    assert (failed.phase, failed.exit_code) == (RunPhase.FAILED, 3)


def test_oom_killed_names_the_memory_limit() -> None:
    """A kernel OOM kill is FAILED with exit 137 and the limit that was exceeded."""
    result = outcome(pod("Failed", state=terminated(137, "OOMKilled")))
    assert result.phase is RunPhase.FAILED
    assert result.exit_code == 137
    assert result.message == "OOMKilled: memory limit 512Mi exceeded"
    assert result.failure is Failure.OOM  # JobSpec.retry_on: OOM


def test_eviction_is_lost_so_the_job_is_requeued() -> None:
    """An evicted pod is the cluster's doing: LOST, with the kubelet's reason."""
    result = outcome(
        pod("Failed", reason="Evicted", message="The node was low on resource: memory.")
    )
    assert result.phase is RunPhase.LOST
    assert "Evicted: The node was low on resource: memory." in result.message
    assert result.failure is None  # lost, but its node did not fail
    node_down = outcome(pod("Failed", reason="NodeShutdown", message="Node is shutting down"))
    assert (node_down.phase, node_down.failure) == (RunPhase.LOST, Failure.NODE_FAILURE)


def test_kubelet_admission_rejection_is_lost() -> None:
    """A pod the kubelet rejected for room (OutOfcpu) is LOST, not the job's failure."""
    result = outcome(pod("Failed", reason="OutOfcpu", message="Node didn't have enough cpu"))
    assert result.phase is RunPhase.LOST
    assert "OutOfcpu" in result.message


def test_deadline_exceeded_is_the_max_runtime() -> None:
    """activeDeadlineSeconds expiring reads as the max runtime being exceeded."""
    result = outcome(pod("Failed", reason="DeadlineExceeded", message="Pod was active too long"))
    assert (result.phase, result.message) == (RunPhase.FAILED, "max runtime 60s exceeded")
    assert result.failure is Failure.TIMEOUT


@pytest.mark.parametrize("why", ["ErrImagePull", "ImagePullBackOff"])
def test_image_pull_errors_wait_for_the_executor_to_give_up(why: str) -> None:
    """A pull error stays PENDING but is flagged, with the kubelet's message."""
    waiting = {"waiting": {"reason": why, "message": 'Back-off pulling image "nope:1"'}}
    result = outcome(pod("Pending", state=waiting))
    assert result.phase is RunPhase.PENDING
    assert result.pull_error == f'{why}: Back-off pulling image "nope:1"'


@pytest.mark.parametrize(
    ("why", "kind"),
    [
        ("InvalidImageName", "image"),
        ("CreateContainerConfigError", "container could not be created"),
    ],
)
def test_waiting_errors_that_do_not_heal_fail_at_once(why: str, kind: str) -> None:
    """An invalid image name or container config error fails the run without waiting."""
    result = outcome(pod("Pending", state={"waiting": {"reason": why, "message": "bad"}}))
    assert result.phase is RunPhase.FAILED
    assert result.message == f"{kind}: {why}: bad"


def test_pending_and_running_pods() -> None:
    """Scheduled or pulling pods are PENDING; running (or unreachable nodes) are RUNNING."""
    creating = {"waiting": {"reason": "ContainerCreating"}}
    assert outcome(pod("Pending", state=creating)).phase is RunPhase.PENDING
    assert outcome(pod("Running", state={"running": {}})).phase is RunPhase.RUNNING
    assert outcome(pod("Unknown")).phase is RunPhase.RUNNING
