"""Conversions between the agent's own types and the AgentService wire messages."""

from __future__ import annotations

from collections.abc import Iterable

import grpc

from agents.capacity import NodeInfo
from agents.executor import Failure, Lease, RunPhase, RunStatus
from agents.taints import LeaseToleration
from protos.suanchou.v1 import agent_pb2, types_pb2

# SyncRequest.last_error quotes at most this much of an error's details.
MAX_ERROR_DETAILS = 200
# Logs quote a little more, but never a whole echoed request.
_MAX_LOGGED_DETAILS = 1000

_PHASE_TO_PROTO = {
    RunPhase.PENDING: types_pb2.RUN_STATE_PENDING,
    RunPhase.RUNNING: types_pb2.RUN_STATE_RUNNING,
    RunPhase.SUCCEEDED: types_pb2.RUN_STATE_SUCCEEDED,
    RunPhase.FAILED: types_pb2.RUN_STATE_FAILED,
    RunPhase.CANCELLED: types_pb2.RUN_STATE_CANCELLED,
    RunPhase.LOST: types_pb2.RUN_STATE_LOST,
}


_FAILURE_TO_PROTO = {
    Failure.OOM: types_pb2.FAILURE_CATEGORY_OOM,
    Failure.NODE_FAILURE: types_pb2.FAILURE_CATEGORY_NODE_FAILURE,
    Failure.TIMEOUT: types_pb2.FAILURE_CATEGORY_TIMEOUT,
}


def lease_from_proto(msg: agent_pb2.RunLease) -> Lease:
    return Lease(
        run_id=msg.run_id,
        job_id=msg.job_id,
        command=tuple(msg.command),
        replica=msg.replica,
        replicas=msg.replicas,
        attempt=msg.attempt,
        node=msg.node,
        env=dict(msg.env),
        max_runtime_seconds=msg.max_runtime_seconds,
        resources=dict(msg.resources.quantities),
        image=msg.image,
        shares=dict(msg.resources.shares),
        devices=tuple(msg.devices),
        tolerations=tuple(
            LeaseToleration(t.key, t.operator or "Equal", t.value, t.effect)
            for t in msg.tolerations
        ),
    )


def build_request(
    agent_id: str, nodes: Iterable[NodeInfo], runs: Iterable[RunStatus], last_error: str = ""
) -> agent_pb2.SyncRequest:
    """The full-state report: every node and every run held, finished ones included."""
    request = agent_pb2.SyncRequest(agent_id=agent_id, last_error=last_error)
    for node in nodes:
        report = request.nodes.add(name=node.name, labels=dict(node.labels))
        report.capacity.quantities.update(node.capacity)
        for t in node.taints:
            report.taints.add(key=t.key, value=t.value, effect=t.effect)
    for run in runs:
        request.runs.add(
            run_id=run.run_id,
            state=_PHASE_TO_PROTO[run.phase],
            exit_code=run.exit_code,
            message=run.message,
            failure=_FAILURE_TO_PROTO[run.failure] if run.failure else None,
        )
    return request


def status_code(exc: grpc.RpcError) -> grpc.StatusCode:
    code = getattr(exc, "code", None)
    return code() if callable(code) else grpc.StatusCode.UNKNOWN


def status_details(exc: grpc.RpcError) -> str:
    """The error's details, cut to a length fit for a log line."""
    details = getattr(exc, "details", None)
    text = str(details()) if callable(details) else str(exc)
    return text[:_MAX_LOGGED_DETAILS]


def describe_error(exc: BaseException) -> str:
    """`CODE: details` for SyncRequest.last_error, the details cut to MAX_ERROR_DETAILS."""
    if isinstance(exc, grpc.RpcError):
        code, details = status_code(exc).name, status_details(exc)
    else:
        code, details = f"applying the reply failed ({type(exc).__name__})", str(exc)
    return f"{code}: {details[:MAX_ERROR_DETAILS]}"
