"""A pod's status (the API's JSON) as a run's phase, exit code and a reason a person can read.

| pod | run |
|---|---|
| Pending, scheduled or pulling | PENDING |
| Running (or Unknown: the node stopped reporting, the pod may still run) | RUNNING |
| container exited 0 | SUCCEEDED |
| container exited N | FAILED, exit N; "OOMKilled: ..." when the kernel killed it for memory |
| DeadlineExceeded (activeDeadlineSeconds) | FAILED "max runtime Ns exceeded" |
| Evicted, node shutdown, kubelet admission (OutOfcpu, ...) | LOST: infrastructure, not the job |
| ErrImagePull / ImagePullBackOff | FAILED "image pull failed" once it lasts (see `PULL_ERRORS`) |
| InvalidImageName, CreateContainerConfigError, CreateContainerError | FAILED at once |

LOST requeues the job as a new attempt (agent.proto), which is right for work the cluster took
away; FAILED ends the attempt, which is right when the job or its image is at fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agents.executor import Failure, RunPhase
from agents.kube.manifest import CONTAINER, RUN_ANNOTATION

# The kubelet retries these itself; the executor gives up once they have lasted a while.
PULL_ERRORS = frozenset({"ErrImagePull", "ImagePullBackOff", "RegistryUnavailable"})
# These do not heal: the pod would wait forever holding its node's room.
FATAL_WAITING = frozenset(
    {
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
_NODE_REASONS = frozenset({"NodeLost", "Shutdown", "NodeShutdown"})
_LOST_REASONS = frozenset({"Evicted", "NodeLost", "Shutdown", "Terminated", "NodeShutdown"})
_MAX_MESSAGE = 300


@dataclass(frozen=True)
class PodOutcome:
    phase: RunPhase
    exit_code: int | None = None
    message: str = ""
    # Waiting on an image pull error the kubelet is still retrying.
    pull_error: str = ""
    failure: Failure | None = None


def _short(text: object) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= _MAX_MESSAGE else flat[: _MAX_MESSAGE - 3] + "..."


def _container(pod: dict[str, Any]) -> dict[str, Any]:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if isinstance(status, dict) and status.get("name") == CONTAINER:
            return status
    return {}


def _memory_limit(pod: dict[str, Any]) -> str:
    for container in (pod.get("spec") or {}).get("containers") or []:
        if isinstance(container, dict) and container.get("name") == CONTAINER:
            return str(((container.get("resources") or {}).get("limits") or {}).get("memory", ""))
    return ""


def outcome(pod: dict[str, Any]) -> PodOutcome:
    """What the pod says about its run (see the module table)."""
    status = pod.get("status") or {}
    phase, reason = status.get("phase", ""), status.get("reason", "")
    message = _short(status.get("message"))
    container = _container(pod)
    state = container.get("state") or {}
    terminated = state.get("terminated")
    if isinstance(terminated, dict) and phase in ("Succeeded", "Failed", "Running", ""):
        return _terminated(pod, terminated, reason)
    if phase == "Failed":
        if reason == "DeadlineExceeded":
            deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds", "?")
            return PodOutcome(
                RunPhase.FAILED, None, f"max runtime {deadline}s exceeded", failure=Failure.TIMEOUT
            )
        if (
            reason in _LOST_REASONS
            or str(reason).startswith("OutOf")
            or reason.startswith("Unexpected")
        ):
            text = f"{reason}: {message}" if message else str(reason)
            why = _short(f"the cluster stopped the pod ({text})")
            return PodOutcome(RunPhase.LOST, None, why, failure=_node_failure(reason))
        return PodOutcome(RunPhase.FAILED, None, _short(f"pod failed: {reason} {message}"))
    if phase == "Succeeded":
        return PodOutcome(RunPhase.SUCCEEDED, 0)
    waiting = state.get("waiting")
    if isinstance(waiting, dict):
        why, detail = str(waiting.get("reason", "")), _short(waiting.get("message"))
        if why in FATAL_WAITING:
            kind = "image" if "Image" in why else "container could not be created"
            return PodOutcome(RunPhase.FAILED, None, _short(f"{kind}: {why}: {detail}"))
        if why in PULL_ERRORS:
            return PodOutcome(RunPhase.PENDING, pull_error=_short(f"{why}: {detail}"))
    if phase == "Running" or phase == "Unknown":
        return PodOutcome(RunPhase.RUNNING)
    return PodOutcome(RunPhase.PENDING)


def _terminated(pod: dict[str, Any], terminated: dict[str, Any], pod_reason: str) -> PodOutcome:
    code = terminated.get("exitCode")
    exit_code = code if isinstance(code, int) and not isinstance(code, bool) else None
    reason = str(terminated.get("reason", ""))
    if pod_reason == "DeadlineExceeded":
        deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds", "?")
        why = f"max runtime {deadline}s exceeded"
        return PodOutcome(RunPhase.FAILED, exit_code, why, failure=Failure.TIMEOUT)
    if pod_reason in _LOST_REASONS:
        why = f"the cluster stopped the pod ({pod_reason})"
        return PodOutcome(RunPhase.LOST, exit_code, why, failure=_node_failure(pod_reason))
    if reason == "OOMKilled":
        limit = _memory_limit(pod)
        text = f"OOMKilled: memory limit {limit} exceeded" if limit else "OOMKilled"
        return PodOutcome(RunPhase.FAILED, exit_code, text, failure=Failure.OOM)
    if exit_code == 0:
        return PodOutcome(RunPhase.SUCCEEDED, 0)
    detail = _short(terminated.get("message"))
    text = f"{reason}: {detail}" if detail else reason
    return PodOutcome(RunPhase.FAILED, exit_code, _short(text) if reason != "Error" else "")


def _node_failure(reason: str) -> Failure | None:
    """The node itself went away (lost or shut down), unlike an eviction or admission."""
    return Failure.NODE_FAILURE if reason in _NODE_REASONS else None


def run_id_of(pod: dict[str, Any]) -> str:
    return str(((pod.get("metadata") or {}).get("annotations") or {}).get(RUN_ANNOTATION, ""))


def ended_at(pod: dict[str, Any]) -> float | None:
    """Wall-clock time the replica's container ended, from the pod itself (survives restarts)."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (status.get("state") or {}).get("terminated") or {}
        stamp = terminated.get("finishedAt")
        if isinstance(stamp, str):
            try:
                return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
            except ValueError:
                return None
    return None


def terminal(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
