"""`suanchou job get|list|cancel|update|explain` (department token).

`job submit` lives in submit.py and `job watch` in watch.py.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from agents.quantities import format_request
from protos.suanchou.v1 import jobs_pb2, jobs_pb2_grpc, types_pb2
from scheduler.cli import render
from scheduler.cli.connection import (
    CALL_TIMEOUT_SECONDS,
    MAX_BATCH_ITEMS,
    bearer,
    open_channel,
)
from scheduler.cli.errors import EXIT_FAILURE, EXIT_OK, CliError, UsageError
from scheduler.cli.jobfile import parse_duration
from scheduler.cli.jobfile_placement import toleration_text
from scheduler.cli.settings import Settings

# ListJobs allows 1-500 per page.
MAX_PAGE = 500


def _stub(channel: Any) -> jobs_pb2_grpc.JobServiceStub:
    return jobs_pb2_grpc.JobServiceStub(channel)


# --- get / list ---------------------------------------------------------------------------------


def get(args: argparse.Namespace, settings: Settings) -> int:
    metadata = bearer(settings.department_token())
    with open_channel(settings) as channel:
        job: types_pb2.Job = _stub(channel).GetJob(
            jobs_pb2.GetJobRequest(job_id=args.job_id),
            metadata=metadata,
            timeout=CALL_TIMEOUT_SECONDS,
        )
    print(render.dumps(render.message_dict(job)) if args.json else job_detail(job))
    return EXIT_OK


def _constraints(c: types_pb2.Constraints) -> str:
    parts = []
    if c.min_security_level:
        parts.append(f"等保>={c.min_security_level}")
    if c.allowed_regions:
        parts.append(f"regions={','.join(c.allowed_regions)}")
    if c.xinchuang_required:
        parts.append("信创 only")
    elif c.xinchuang == types_pb2.XINCHUANG_POLICY_PREFER:
        parts.append("信创 preferred")
    if c.node_selector:
        parts.append(f"nodes with {render.mapping(c.node_selector)}")
    if c.gpu_models:
        parts.append(f"gpu.model one of {', '.join(c.gpu_models)}")
    parts.extend(_choice(c))
    return "; ".join(parts) or render.NONE


def _choice(c: types_pb2.Constraints) -> list[str]:
    parts = []
    if c.tolerations:
        parts.append("tolerates " + ", ".join(toleration_text(t) for t in c.tolerations))
    if c.clusters:
        parts.append(f"clusters={','.join(c.clusters)}")
    if c.preferred_clusters:
        parts.append(f"prefers {' > '.join(c.preferred_clusters)}")
    if c.cluster_selector:
        parts.append(f"clusters with {render.mapping(c.cluster_selector)}")
    return parts


def _topology(t: types_pb2.Topology) -> str:
    parts = []
    if t.spread_zones >= 2:
        parts.append(f"spread over >= {t.spread_zones} zones")
    if t.anti_affinity:
        parts.append("replicas on distinct nodes")
    if t.spread_group:
        parts.append(f"with spread group {t.spread_group}")
    return "; ".join(parts) or render.NONE


def _retry(spec: types_pb2.JobSpec) -> str:
    names = [
        types_pb2.FailureCategory.Name(c).removeprefix("FAILURE_CATEGORY_") for c in spec.retry_on
    ]
    parts = names or ["NODE_FAILURE", "LOST"]
    if spec.retry_exit_codes:
        parts.append("exit codes " + ",".join(map(str, spec.retry_exit_codes)))
    return ", ".join(parts)


def queue_position(p: types_pb2.QueuePosition, present: bool) -> str:
    """`3rd in its department, 12th in the pool (effective priority 640)`, or '-'."""
    if not present:
        return render.NONE
    return (
        f"{p.department} in its department, {p.pool} in the pool "
        f"(effective priority {p.effective_priority})"
    )


def _reason(reason: str, message: str) -> str:
    return " — ".join(part for part in (reason, message) if part) or render.NONE


def job_detail(job: types_pb2.Job) -> str:
    """The `job get` view: spec and state, then the runs of the current attempt."""
    spec = job.spec
    header = render.fields(
        [
            ("Job", job.job_id),
            ("Name", render.or_none(spec.name)),
            ("Department", job.department),
            ("Job set", spec.job_set),
            ("Client id", spec.client_id),
            ("State", render.job_state(job.state)),
            ("Reason", _reason(job.reason, job.message)),
            ("Priority", str(spec.priority)),
            ("In line", queue_position(job.queue_position, job.HasField("queue_position"))),
            ("Replicas", str(spec.replicas)),
            (
                "Resources",
                f"{format_request(spec.resources.quantities, spec.resources.shares)} per replica",
            ),
            ("Command", shlex.join(spec.command) or render.NONE),
            ("Image", render.or_none(spec.image)),
            ("Env", render.mapping(spec.env)),
            ("Max runtime", f"{spec.max_runtime_seconds}s" if spec.max_runtime_seconds else "-"),
            ("Constraints", _constraints(spec.constraints)),
            ("Topology", _topology(spec.topology)),
            ("Labels", render.mapping(spec.labels)),
            (
                "Attempt",
                f"{job.attempt} of {spec.max_attempts}" if spec.max_attempts else str(job.attempt),
            ),
            ("Retry on", _retry(spec)),
            ("Cluster", render.or_none(job.cluster)),
            ("Created", render.local_time(job.created_at)),
            ("Updated", render.local_time(job.updated_at)),
        ]
    )
    rows = [
        [
            str(run.replica),
            render.or_none(run.node),
            render.run_state(run.state),
            str(run.exit_code) if run.HasField("exit_code") else render.NONE,
            render.local_time(run.started_at),
            render.local_time(run.finished_at),
            render.or_none(run.message),
        ]
        for run in sorted(job.runs, key=lambda r: r.replica)
    ]
    if not rows:
        return f"{header}\n\nRuns: none"
    runs = render.table(
        ["REPLICA", "NODE", "STATE", "EXIT CODE", "STARTED", "FINISHED", "MESSAGE"],
        rows,
        right=(0, 3),
    )
    return f"{header}\n\nRuns (attempt {job.attempt}):\n{runs}"


def parse_states(names: Sequence[str]) -> list[types_pb2.JobState.ValueType]:
    """`--state queued` -> JOB_STATE_QUEUED; the error lists the valid names."""
    valid = [n.removeprefix("JOB_STATE_") for n, number in types_pb2.JobState.items() if number]
    states = []
    for name in names:
        key = name.strip().upper().removeprefix("JOB_STATE_")
        if key not in valid:
            raise UsageError(f"--state {name!r}: expected one of {', '.join(valid)}")
        states.append(types_pb2.JobState.Value(f"JOB_STATE_{key}"))
    return states


def list_jobs(args: argparse.Namespace, settings: Settings) -> int:
    if args.limit < 1 and not args.all:
        raise UsageError("--limit must be at least 1")
    request = jobs_pb2.ListJobsRequest(states=parse_states(args.state), job_set=args.job_set or "")
    metadata = bearer(settings.department_token())
    jobs: list[types_pb2.Job] = []
    more = False
    with open_channel(settings) as channel:
        stub = _stub(channel)
        seen_tokens: set[str] = set()
        while True:
            request.page_size = MAX_PAGE if args.all else min(MAX_PAGE, args.limit - len(jobs))
            page: jobs_pb2.ListJobsResponse = stub.ListJobs(
                request, metadata=metadata, timeout=CALL_TIMEOUT_SECONDS
            )
            jobs.extend(page.jobs)
            token = page.next_page_token
            if not token:
                break
            if not args.all and len(jobs) >= args.limit:
                more = True
                break
            # A server handing out the same token twice would make this loop forever.
            if token in seen_tokens:
                raise CliError(f"scheduler returned page token {token!r} twice")
            seen_tokens.add(token)
            request.page_token = token
    if not args.all and len(jobs) > args.limit:
        jobs, more = jobs[: args.limit], True
    if args.json:
        print(render.dumps({"jobs": [render.message_dict(j) for j in jobs], "more": more}))
        return EXIT_OK
    print(job_table(jobs, datetime.now(UTC)))
    if more:
        print(
            f"(showing the newest {len(jobs)}; more exist: use --limit N or --all)",
            file=sys.stderr,
        )
    return EXIT_OK


def job_table(jobs: Sequence[types_pb2.Job], now: datetime) -> str:
    rows = [
        [
            j.job_id,
            render.or_none(j.spec.name),
            j.spec.job_set,
            render.job_state(j.state),
            str(j.spec.priority),
            str(j.spec.replicas),
            format_request(j.spec.resources.quantities, j.spec.resources.shares),
            render.or_none(j.cluster),
            render.or_none(j.reason),
            render.age(j.created_at, now, unset=render.NONE),
        ]
        for j in jobs
    ]
    headers = [
        "JOB_ID", "NAME", "JOB_SET", "STATE", "PRIO", "REPLICAS", "RESOURCES", "CLUSTER",
        "REASON", "CREATED",
    ]  # fmt: skip
    return render.table(headers, rows, right=(4, 5))


# --- cancel / explain ---------------------------------------------------------------------------


def cancel(args: argparse.Namespace, settings: Settings) -> int:
    metadata = bearer(settings.department_token())
    results: list[jobs_pb2.CancelResult] = []
    with open_channel(settings) as channel:
        stub = _stub(channel)
        for start in range(0, len(args.job_ids), MAX_BATCH_ITEMS):
            request = jobs_pb2.CancelJobsRequest(
                job_ids=args.job_ids[start : start + MAX_BATCH_ITEMS], reason=args.reason
            )
            response: jobs_pb2.CancelJobsResponse = stub.CancelJobs(
                request, metadata=metadata, timeout=CALL_TIMEOUT_SECONDS
            )
            results.extend(response.results)
    if args.json:
        print(render.dumps({"results": [render.message_dict(r) for r in results]}))
    else:
        rows = [
            [
                r.job_id,
                render.job_state(r.state),
                f"{r.error.code}: {r.error.message}" if r.HasField("error") else "",
            ]
            for r in results
        ]
        print(render.table(["JOB_ID", "STATE", "ERROR"], rows))
    return EXIT_FAILURE if any(r.HasField("error") for r in results) else EXIT_OK


def update(args: argparse.Namespace, settings: Settings) -> int:
    seconds = parse_duration(args.max_runtime, "--max-runtime")
    metadata = bearer(settings.department_token())
    with open_channel(settings) as channel:
        job: types_pb2.Job = _stub(channel).UpdateJob(
            jobs_pb2.UpdateJobRequest(job_id=args.job_id, max_runtime_seconds=seconds),
            metadata=metadata,
            timeout=CALL_TIMEOUT_SECONDS,
        )
    print(render.dumps(render.message_dict(job)) if args.json else job_detail(job))
    return EXIT_OK


def explain(args: argparse.Namespace, settings: Settings) -> int:
    metadata = bearer(settings.department_token())
    with open_channel(settings) as channel:
        response: jobs_pb2.ExplainJobResponse = _stub(channel).ExplainJob(
            jobs_pb2.ExplainJobRequest(job_id=args.job_id),
            metadata=metadata,
            timeout=CALL_TIMEOUT_SECONDS,
        )
    if args.json:
        print(render.dumps(render.message_dict(response)))
    else:
        print(explanation(response))
    return EXIT_OK


def explanation(response: jobs_pb2.ExplainJobResponse) -> str:
    """The `job explain` view: the job's verdict, then one row per cluster."""
    header = render.fields(
        [
            ("Job", response.job_id),
            ("State", render.job_state(response.state)),
            ("Reason", render.or_none(response.reason)),
            ("Message", render.or_none(response.message)),
            (
                "In line",
                queue_position(response.queue_position, response.HasField("queue_position")),
            ),
            ("Evaluated", render.local_time(response.evaluated_at)),
        ]
    )
    rows = [
        [v.cluster, "yes" if v.eligible else "no", v.reason, render.or_none(v.message)]
        for v in response.clusters
    ]
    if not rows:
        return f"{header}\n\nClusters: none registered"
    verdicts = render.table(["CLUSTER", "ELIGIBLE", "REASON", "MESSAGE"], rows)
    return f"{header}\n\n{verdicts}"
