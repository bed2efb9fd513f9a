"""Proto <-> domain conversion of the agent protocol (Sync): node reports, run reports,
leases and the reply within its byte budget."""

from __future__ import annotations

from protos.suanchou.v1 import agent_pb2
from scheduler.api.budget import Budget, fill, fill_strings
from scheduler.api.convert import run_state_from_proto
from scheduler.api.convert_placement import taints_from_proto, tolerations_to_proto
from scheduler.api.convert_resources import resources_from_proto, resources_to_proto
from scheduler.api.convert_retry import failure_from_proto
from scheduler.domain.models import Node
from scheduler.service.agent_sync import Lease, RunReport, SyncReply


def sync_request_from_proto(
    req: agent_pb2.SyncRequest, cluster: str
) -> tuple[list[Node], list[RunReport]]:
    nodes = [
        Node(
            cluster=cluster,
            name=n.name,
            capacity=resources_from_proto(n.capacity, f"nodes[{i}].capacity"),
            labels=dict(n.labels),
            taints=taints_from_proto(n.taints, f"nodes[{i}].taints"),
        )
        for i, n in enumerate(req.nodes)
    ]
    reports = [
        RunReport(
            run_id=r.run_id,
            state=run_state_from_proto(r.state, f"runs[{i}].state"),
            exit_code=r.exit_code if r.HasField("exit_code") else None,
            message=r.message[:4096],
            failure=failure_from_proto(r.failure, f"runs[{i}].failure"),
        )
        for i, r in enumerate(req.runs)
    ]
    return nodes, reports


def lease_to_proto(lease: Lease) -> agent_pb2.RunLease:
    run, job = lease.run, lease.job
    return agent_pb2.RunLease(
        run_id=run.run_id,
        job_id=job.job_id,
        attempt=run.attempt,
        replica=run.replica,
        replicas=job.spec.replicas,
        node=run.node,
        resources=resources_to_proto(job.spec.resources),
        command=list(job.spec.command),
        env=dict(job.spec.env),
        max_runtime_seconds=job.spec.max_runtime_seconds,
        department=job.department,
        job_set=job.spec.job_set,
        image=job.spec.image,
        devices=list(run.devices),
        tolerations=tolerations_to_proto(job.spec.constraints.tolerations),
    )


# Leases per Sync reply, whatever their size: bounds the agent's work per exchange too.
MAX_LEASES_PER_SYNC = 500
# Run ids per `cancel` and per `acknowledged` list of one reply.
MAX_IDS_PER_SYNC = 5000


def sync_reply_to_proto(reply: SyncReply, budget: Budget) -> agent_pb2.SyncResponse:
    """The reply within `budget`: stops and cancels first (they free capacity and end work the
    scheduler no longer wants), then acknowledgements, then new leases. What is left out comes
    on the next sync (the agent still reports those runs, and unsent leases stay LEASED);
    `more` tells the agent to sync again at once."""
    cancel = fill_strings(reply.cancel, budget, MAX_IDS_PER_SYNC)
    acknowledged = fill_strings(reply.acknowledged, budget, MAX_IDS_PER_SYNC)
    start = fill(reply.start, lease_to_proto, budget, MAX_LEASES_PER_SYNC)
    more = budget.full
    # Last, and never a reason for `more`: they are sent again with every reply anyway.
    limits = fill(reply.runtime_limits, _limit_to_proto, budget, MAX_IDS_PER_SYNC)
    return agent_pb2.SyncResponse(
        cluster=reply.cluster,
        start=start,
        cancel=cancel,
        acknowledged=acknowledged,
        sync_interval_seconds=reply.sync_interval_s,
        lease_timeout_seconds=reply.lease_timeout_s,
        more=more,
        runtime_limits=limits,
    )


def _limit_to_proto(limit: tuple[str, int]) -> agent_pb2.RuntimeLimit:
    return agent_pb2.RuntimeLimit(run_id=limit[0], max_runtime_seconds=limit[1])
