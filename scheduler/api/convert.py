"""All proto <-> domain conversion, as paired functions. Servicers call nothing else to convert."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from protos.suanchou.v1 import admin_pb2, jobs_pb2, types_pb2
from scheduler.api.budget import Budget, fill
from scheduler.api.convert_placement import (
    choice_from_proto,
    choice_to_proto,
    taints_to_proto,
)
from scheduler.api.convert_resources import resources_from_proto, resources_to_proto
from scheduler.api.convert_retry import retry_from_proto, retry_to_proto
from scheduler.api.convert_topology import topology_from_proto, topology_to_proto
from scheduler.api.status import code_name as grpc_code_name
from scheduler.domain.errors import DomainError, InvalidSpec
from scheduler.domain.models import (
    ClusterSpec,
    ClusterVerdict,
    Constraints,
    Department,
    Explanation,
    JobEvent,
    JobSpec,
    QueuePosition,
    Run,
)
from scheduler.domain.states import ClusterState, JobState, RunState
from scheduler.domain.validation import MAX_SPEC_BYTES
from scheduler.service.job_update import JobUpdate
from scheduler.service.jobs import SubmitOutcome
from scheduler.service.views import ClusterView, JobView, NodeView

# Enum name prefixes in the protos: JOB_STATE_QUEUED <-> JobState.QUEUED, and so on.


def _ts(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def job_state_to_proto(state: JobState) -> types_pb2.JobState.ValueType:
    return types_pb2.JobState.Value(f"JOB_STATE_{state.value}")


def job_state_from_proto(value: int, field: str) -> JobState:
    try:
        name = types_pb2.JobState.Name(value)  # type: ignore[arg-type]
    except ValueError:
        raise InvalidSpec(f"unknown job state {value}", field=field) from None
    if name == "JOB_STATE_UNSPECIFIED":
        raise InvalidSpec("job state must be specified", field=field)
    return JobState(name.removeprefix("JOB_STATE_"))


def run_state_to_proto(state: RunState) -> types_pb2.RunState.ValueType:
    return types_pb2.RunState.Value(f"RUN_STATE_{state.value}")


def run_state_from_proto(value: int, field: str) -> RunState:
    try:
        name = types_pb2.RunState.Name(value)  # type: ignore[arg-type]
    except ValueError:
        raise InvalidSpec(f"unknown run state {value}", field=field) from None
    if name == "RUN_STATE_UNSPECIFIED":
        raise InvalidSpec("run state must be specified", field=field)
    return RunState(name.removeprefix("RUN_STATE_"))


def cluster_state_to_proto(state: ClusterState) -> types_pb2.ClusterState.ValueType:
    return types_pb2.ClusterState.Value(f"CLUSTER_STATE_{state.value}")


# -- jobs ------------------------------------------------------------------------------------


def job_spec_from_proto(msg: types_pb2.JobSpec) -> JobSpec:
    """The domain spec; an explicit `max_runtime_seconds: 0` is refused here, the one place
    that still sees field presence (the domain reads 0 as "the scheduler default")."""
    c = msg.constraints
    required, preferred = _xinchuang(c)
    if msg.HasField("max_runtime_seconds") and msg.max_runtime_seconds == 0:
        raise InvalidSpec(
            "must be 1 or more; leave it unset for the scheduler's default (there is no "
            "'no limit')",
            field="max_runtime_seconds",
        )
    return JobSpec(
        client_id=msg.client_id,
        command=tuple(msg.command),
        resources=resources_from_proto(msg.resources, "resources"),
        job_set=msg.job_set or "default",
        name=msg.name,
        priority=msg.priority,
        priority_class=msg.priority_class,
        replicas=msg.replicas if msg.HasField("replicas") else 1,
        env=dict(msg.env),
        max_runtime_seconds=msg.max_runtime_seconds,
        constraints=choice_from_proto(
            c,
            Constraints(
                min_security_level=c.min_security_level,
                allowed_regions=tuple(c.allowed_regions),
                xinchuang_required=required,
                node_selector=dict(c.node_selector),
                xinchuang_preferred=preferred,
                gpu_models=tuple(c.gpu_models),
            ),
        ),
        labels=dict(msg.labels),
        image=msg.image,
        retry=retry_from_proto(msg),
        topology=topology_from_proto(msg),
    )


def _xinchuang(c: types_pb2.Constraints) -> tuple[bool, bool]:
    """(required, preferred) from `xinchuang` and the older `xinchuang_required`."""
    policy = c.xinchuang
    if policy == types_pb2.XINCHUANG_POLICY_UNSPECIFIED:
        return c.xinchuang_required, False
    if policy not in types_pb2.XinchuangPolicy.values():
        raise InvalidSpec(f"unknown 信创 policy {policy}", field="constraints.xinchuang")
    if c.xinchuang_required and policy != types_pb2.XINCHUANG_POLICY_REQUIRE:
        raise InvalidSpec(
            f"{types_pb2.XinchuangPolicy.Name(policy)} contradicts xinchuang_required: true",
            field="constraints.xinchuang",
        )
    return (
        policy == types_pb2.XINCHUANG_POLICY_REQUIRE,
        policy == types_pb2.XINCHUANG_POLICY_PREFER,
    )


def job_spec_to_proto(spec: JobSpec) -> types_pb2.JobSpec:
    c = spec.constraints
    msg = types_pb2.JobSpec(
        client_id=spec.client_id,
        job_set=spec.job_set,
        name=spec.name,
        priority=spec.priority,
        priority_class=spec.priority_class,
        replicas=spec.replicas,
        resources=resources_to_proto(spec.resources),
        command=list(spec.command),
        env=dict(spec.env),
        constraints=types_pb2.Constraints(
            min_security_level=c.min_security_level,
            allowed_regions=list(c.allowed_regions),
            xinchuang_required=c.xinchuang_required,
            node_selector=dict(c.node_selector),
            gpu_models=list(c.gpu_models),
            xinchuang=(
                types_pb2.XINCHUANG_POLICY_PREFER
                if c.xinchuang_preferred
                else types_pb2.XINCHUANG_POLICY_UNSPECIFIED
            ),
        ),
        labels=dict(spec.labels),
        image=spec.image,
    )
    if spec.max_runtime_seconds:
        msg.max_runtime_seconds = spec.max_runtime_seconds
    choice_to_proto(c, msg.constraints)
    retry_to_proto(spec.retry, msg)
    topology_to_proto(spec.topology, msg)
    return msg


def submit_items_from_proto(req: jobs_pb2.SubmitJobsRequest) -> list[JobSpec | DomainError]:
    out: list[JobSpec | DomainError] = []
    for i, item in enumerate(req.items):
        size = item.ByteSize()
        if size > MAX_SPEC_BYTES:
            out.append(
                InvalidSpec(
                    f"job spec is {size} bytes, at most {MAX_SPEC_BYTES}", field=f"items[{i}]"
                )
            )
            continue
        try:
            out.append(job_spec_from_proto(item))
        except DomainError as exc:
            out.append(exc)
    return out


def item_error_to_proto(error: DomainError) -> jobs_pb2.ItemError:
    return jobs_pb2.ItemError(code=grpc_code_name(error), field=error.field, message=error.message)


def submit_outcome_to_proto(o: SubmitOutcome) -> jobs_pb2.SubmitResult:
    result = jobs_pb2.SubmitResult(
        index=o.index,
        client_id=o.client_id,
        job_id=o.job_id,
        duplicate=o.duplicate,
        reason=o.reason,
        message=o.message,
    )
    if o.state is not None:
        result.state = job_state_to_proto(o.state)
    if o.error is not None:
        result.error.CopyFrom(item_error_to_proto(o.error))
    return result


def run_to_proto(run: Run) -> types_pb2.Run:
    msg = types_pb2.Run(
        run_id=run.run_id,
        job_id=run.job_id,
        attempt=run.attempt,
        replica=run.replica,
        cluster=run.cluster,
        node=run.node,
        state=run_state_to_proto(run.state),
        message=run.message,
        created_at=_ts(run.created_at),
        started_at=_ts(run.started_at),
        finished_at=_ts(run.finished_at),
    )
    if run.exit_code is not None:
        msg.exit_code = run.exit_code
    return msg


def job_view_to_proto(view: JobView) -> types_pb2.Job:
    job = view.job
    return types_pb2.Job(
        job_id=job.job_id,
        department=job.department,
        spec=job_spec_to_proto(job.spec),
        state=job_state_to_proto(job.state),
        attempt=job.attempt,
        cluster=job.cluster,
        reason=job.reason,
        message=job.message,
        created_at=_ts(job.created_at),
        updated_at=_ts(job.updated_at),
        runs=[run_to_proto(r) for r in view.runs],
        queue_position=_position_to_proto(view.position),
    )


def _position_to_proto(p: QueuePosition | None) -> types_pb2.QueuePosition | None:
    if p is None:
        return None
    return types_pb2.QueuePosition(
        department=p.department, pool=p.pool, effective_priority=p.effective_priority
    )


def event_to_proto(e: JobEvent) -> types_pb2.JobEvent:
    msg = types_pb2.JobEvent(
        event_id=e.event_id,
        job_id=e.job_id,
        job_set=e.job_set,
        state=job_state_to_proto(e.state),
        reason=e.reason,
        message=e.message,
        cluster=e.cluster,
        node=e.node,
        attempt=e.attempt,
        created_at=_ts(e.created_at),
    )
    if e.exit_code is not None:
        msg.exit_code = e.exit_code
    return msg


def explanation_to_proto(e: Explanation, budget: Budget) -> jobs_pb2.ExplainJobResponse:
    """The explanation with as many per-cluster verdicts as `budget` holds (all, but in a pool
    of tens of thousands of clusters)."""
    msg = jobs_pb2.ExplainJobResponse(
        job_id=e.job_id,
        state=job_state_to_proto(e.state),
        reason=e.reason,
        message=e.message,
        evaluated_at=_ts(e.evaluated_at),
        queue_position=_position_to_proto(e.position),
    )
    budget.take(msg.ByteSize())
    msg.clusters.extend(fill(e.clusters, _verdict_to_proto, budget))
    return msg


def _verdict_to_proto(v: ClusterVerdict) -> jobs_pb2.ClusterVerdict:
    return jobs_pb2.ClusterVerdict(
        cluster=v.cluster, eligible=v.eligible, reason=v.reason, message=v.message
    )


# -- admin -----------------------------------------------------------------------------------


def cluster_spec_from_proto(msg: admin_pb2.ClusterSpec) -> ClusterSpec:
    return ClusterSpec(
        name=msg.name,
        region=msg.region,
        zone=msg.zone,
        provider=msg.provider,
        security_level=msg.security_level,
        xinchuang=msg.xinchuang,
        price=dict(msg.price),
        labels=dict(msg.labels),
    )


def cluster_view_to_proto(
    v: ClusterView, *, with_nodes: bool = False, budget: Budget | None = None
) -> admin_pb2.Cluster:
    """The cluster; with_nodes adds its nodes, as many as `budget` holds."""
    s = v.cluster.spec
    msg = admin_pb2.Cluster(
        spec=admin_pb2.ClusterSpec(
            name=s.name,
            region=s.region,
            zone=s.zone,
            provider=s.provider,
            security_level=s.security_level,
            xinchuang=s.xinchuang,
            price=dict(s.price),
            labels=dict(s.labels),
        ),
        state=cluster_state_to_proto(v.state),
        capacity=resources_to_proto(v.capacity),
        allocated=resources_to_proto(v.allocated),
        node_count=len(v.nodes),
        last_heartbeat=_ts(v.cluster.last_heartbeat),
        created_at=_ts(v.cluster.created_at),
        active_runs=v.active_runs,
        agent_error=v.cluster.agent_error,
    )
    if with_nodes:
        room = budget or Budget(2**62)
        room.take(msg.ByteSize())
        msg.nodes.extend(fill(v.nodes, _node_to_proto, room))
    return msg


def _node_to_proto(n: NodeView) -> admin_pb2.Node:
    return admin_pb2.Node(
        name=n.node.name,
        capacity=resources_to_proto(n.node.capacity),
        labels=dict(n.node.labels),
        allocated=resources_to_proto(n.allocated),
        taints=taints_to_proto(n.node.taints),
    )


def department_to_proto(d: Department) -> admin_pb2.Department:
    return admin_pb2.Department(
        name=d.name,
        display_name=d.display_name,
        created_at=_ts(d.created_at),
        parent=d.parent,
        priority_classes=list(d.priority_classes),
        fair_share_weight=d.fair_share_weight,
    )


def job_update_from_proto(msg: jobs_pb2.UpdateJobRequest) -> JobUpdate:
    return JobUpdate(
        max_runtime_seconds=msg.max_runtime_seconds if msg.HasField("max_runtime_seconds") else None
    )
