"""A real gRPC server on 127.0.0.1:0 with small fake servicers that record what the CLI sends.

The fakes check the authorization metadata the way the real scheduler does (department token
for JobService, admin token for ClusterService and DepartmentService) and abort with
UNAUTHENTICATED otherwise, so every end-to-end test also checks which token a command sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from protos.suanchou.v1 import admin_pb2, admin_pb2_grpc, jobs_pb2, jobs_pb2_grpc, types_pb2

DEPARTMENT_TOKEN = "dept-token-1"
ADMIN_TOKEN = "admin-token"
# The fake serves at most this many jobs per ListJobs page, whatever page_size asks, so that
# following next_page_token is exercised with few jobs.
FAKE_PAGE_CAP = 3
T0 = Timestamp(seconds=1_790_000_000)


@dataclass
class Recorder:
    """Requests and metadata the fakes received, by method name."""

    requests: dict[str, list[Message]] = field(default_factory=dict)
    tokens: dict[str, list[str]] = field(default_factory=dict)

    def record(self, method: str, request: Message, context: Any, expected: str) -> None:
        metadata = dict(context.invocation_metadata())
        authorization = metadata.get("authorization", "")
        self.requests.setdefault(method, []).append(request)
        self.tokens.setdefault(method, []).append(authorization)
        if authorization != f"Bearer {expected}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong token")


def make_job(n: int) -> types_pb2.Job:
    return types_pb2.Job(
        job_id=f"job-{n}",
        department="公安局",
        state=types_pb2.JOB_STATE_QUEUED,
        reason="INSUFFICIENT_CAPACITY",
        spec=types_pb2.JobSpec(
            client_id=f"c-{n}",
            job_set="nightly",
            name=f"报表-{n}",
            replicas=1,
            resources=types_pb2.Resources(quantities={"cpu": 1000}),
            command=["echo", str(n)],
        ),
        created_at=T0,
    )


class FakeJobService(jobs_pb2_grpc.JobServiceServicer):
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.jobs = [make_job(n) for n in range(7)]
        self.events = [
            types_pb2.JobEvent(
                event_id=i,
                job_id="job-1",
                job_set="nightly",
                state=state,
                cluster="hz-gov-1" if i > 1 else "",
                node="node-a" if i > 1 else "",
                created_at=T0,
            )
            for i, state in enumerate(
                [
                    types_pb2.JOB_STATE_QUEUED,
                    types_pb2.JOB_STATE_LEASED,
                    types_pb2.JOB_STATE_RUNNING,
                    types_pb2.JOB_STATE_SUCCEEDED,
                ],
                start=1,
            )
        ]
        self.events[-1].exit_code = 0
        # The first WatchEvents call fails with UNAVAILABLE after this many events.
        self.fail_watch_after: int | None = None
        self.submitted = 0
        # SubmitJobs calls with this 0-based number fail with UNAVAILABLE; with
        # fail_submit_after, every later call too (a scheduler that stays down).
        self.fail_submit_call: int | None = None
        self.fail_submit_after = False

    def SubmitJobs(self, request: Any, context: Any) -> jobs_pb2.SubmitJobsResponse:
        self.recorder.record("SubmitJobs", request, context, DEPARTMENT_TOKEN)
        call = len(self.recorder.requests["SubmitJobs"]) - 1
        failing = self.fail_submit_call
        if failing is not None and (call == failing or (self.fail_submit_after and call > failing)):
            context.abort(grpc.StatusCode.UNAVAILABLE, "scheduler restarting")
        results = []
        for index, item in enumerate(request.items):
            result = jobs_pb2.SubmitResult(index=index, client_id=item.client_id)
            if not item.command:
                result.error.CopyFrom(
                    jobs_pb2.ItemError(
                        code="INVALID_ARGUMENT", field="command", message="at least one element"
                    )
                )
            elif item.client_id == "seen-before":
                result.job_id, result.duplicate = "job-0", True
                result.state = types_pb2.JOB_STATE_QUEUED
            else:
                self.submitted += 1
                result.job_id = f"job-new-{self.submitted}"
                level = item.constraints.min_security_level
                if level == 4:
                    result.state = types_pb2.JOB_STATE_REJECTED
                    result.reason = "NO_ELIGIBLE_CLUSTER"
                    result.message = "no cluster has 等保 level 4"
                elif level > 4:
                    # The real server's shape: a recorded REJECTED job that also carries an error.
                    result.state = types_pb2.JOB_STATE_REJECTED
                    result.error.CopyFrom(
                        jobs_pb2.ItemError(
                            code="FAILED_PRECONDITION",
                            field="constraints",
                            message="no cluster can ever run this job",
                        )
                    )
                else:
                    result.state = types_pb2.JOB_STATE_QUEUED
            results.append(result)
        return jobs_pb2.SubmitJobsResponse(results=results)

    def GetJob(self, request: Any, context: Any) -> types_pb2.Job:
        self.recorder.record("GetJob", request, context, DEPARTMENT_TOKEN)
        for job in self.jobs:
            if job.job_id == request.job_id:
                return job
        context.abort(grpc.StatusCode.NOT_FOUND, f"job {request.job_id} not found")
        raise AssertionError("unreachable")

    def ListJobs(self, request: Any, context: Any) -> jobs_pb2.ListJobsResponse:
        self.recorder.record("ListJobs", request, context, DEPARTMENT_TOKEN)
        start = int(request.page_token or "0")
        size = min(request.page_size or 100, FAKE_PAGE_CAP)
        page = self.jobs[start : start + size]
        end = start + len(page)
        return jobs_pb2.ListJobsResponse(
            jobs=page, next_page_token=str(end) if end < len(self.jobs) else ""
        )

    def CancelJobs(self, request: Any, context: Any) -> jobs_pb2.CancelJobsResponse:
        self.recorder.record("CancelJobs", request, context, DEPARTMENT_TOKEN)
        known = {job.job_id for job in self.jobs}
        results = []
        for job_id in request.job_ids:
            if job_id in known:
                results.append(
                    jobs_pb2.CancelResult(job_id=job_id, state=types_pb2.JOB_STATE_CANCELLED)
                )
            else:
                results.append(
                    jobs_pb2.CancelResult(
                        job_id=job_id,
                        error=jobs_pb2.ItemError(code="NOT_FOUND", message="no such job"),
                    )
                )
        return jobs_pb2.CancelJobsResponse(results=results)

    def WatchEvents(self, request: Any, context: Any) -> Iterator[types_pb2.JobEvent]:
        self.recorder.record("WatchEvents", request, context, DEPARTMENT_TOKEN)
        fail_after, self.fail_watch_after = self.fail_watch_after, None
        sent = 0
        for event in self.events:
            if event.event_id <= request.after_event_id:
                continue
            if fail_after is not None and sent == fail_after:
                context.abort(grpc.StatusCode.UNAVAILABLE, "scheduler restarting")
            yield event
            sent += 1

    def ExplainJob(self, request: Any, context: Any) -> jobs_pb2.ExplainJobResponse:
        self.recorder.record("ExplainJob", request, context, DEPARTMENT_TOKEN)
        return jobs_pb2.ExplainJobResponse(
            job_id=request.job_id,
            state=types_pb2.JOB_STATE_QUEUED,
            reason="INSUFFICIENT_CAPACITY",
            message="eligible clusters are full",
            evaluated_at=T0,
            clusters=[
                jobs_pb2.ClusterVerdict(
                    cluster="hz-gov-1",
                    eligible=True,
                    reason="INSUFFICIENT_CAPACITY",
                    message="needs 2 more cpu",
                ),
                jobs_pb2.ClusterVerdict(
                    cluster="sh-cloud",
                    eligible=False,
                    reason="REGION",
                    message="region sh not in [hz]",
                ),
            ],
        )


def make_cluster(name: str) -> admin_pb2.Cluster:
    return admin_pb2.Cluster(
        spec=admin_pb2.ClusterSpec(
            name=name, region="hz", zone="hz-a", provider="gov-cloud", security_level=3
        ),
        state=types_pb2.CLUSTER_STATE_ACTIVE,
        capacity=types_pb2.Resources(
            quantities={"cpu": 16000, "memory": 65536, "nvidia.com/gpu": 8}
        ),
        allocated=types_pb2.Resources(
            quantities={"cpu": 2500, "memory": 4096, "nvidia.com/gpu": 1}
        ),
        node_count=1,
        active_runs=2,
        nodes=[
            admin_pb2.Node(
                name="node-a",
                capacity=types_pb2.Resources(
                    quantities={"cpu": 16000, "memory": 65536, "nvidia.com/gpu": 8}
                ),
                allocated=types_pb2.Resources(quantities={"cpu": 2500}),
                labels={"arch": "x86_64"},
            )
        ],
    )


class FakeClusterService(admin_pb2_grpc.ClusterServiceServicer):
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def RegisterCluster(self, request: Any, context: Any) -> admin_pb2.RegisterClusterResponse:
        self.recorder.record("RegisterCluster", request, context, ADMIN_TOKEN)
        cluster = admin_pb2.Cluster(spec=request.spec, state=types_pb2.CLUSTER_STATE_ACTIVE)
        return admin_pb2.RegisterClusterResponse(cluster=cluster, agent_token="agent-secret-1")

    def GetCluster(self, request: Any, context: Any) -> admin_pb2.Cluster:
        self.recorder.record("GetCluster", request, context, ADMIN_TOKEN)
        return make_cluster(request.name)

    def ListClusters(self, request: Any, context: Any) -> admin_pb2.ListClustersResponse:
        self.recorder.record("ListClusters", request, context, ADMIN_TOKEN)
        return admin_pb2.ListClustersResponse(clusters=[make_cluster("hz-gov-1")])

    def CordonCluster(self, request: Any, context: Any) -> admin_pb2.Cluster:
        self.recorder.record("CordonCluster", request, context, ADMIN_TOKEN)
        cluster = make_cluster(request.name)
        cluster.state = types_pb2.CLUSTER_STATE_CORDONED
        return cluster

    def UncordonCluster(self, request: Any, context: Any) -> admin_pb2.Cluster:
        self.recorder.record("UncordonCluster", request, context, ADMIN_TOKEN)
        return make_cluster(request.name)

    def DeregisterCluster(self, request: Any, context: Any) -> admin_pb2.DeregisterClusterResponse:
        self.recorder.record("DeregisterCluster", request, context, ADMIN_TOKEN)
        cluster = make_cluster(request.name)
        if not request.drain:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "cluster has 2 active runs")
        cluster.state = types_pb2.CLUSTER_STATE_DRAINING
        return admin_pb2.DeregisterClusterResponse(removed=False, cluster=cluster)


class FakeDepartmentService(admin_pb2_grpc.DepartmentServiceServicer):
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.departments: list[admin_pb2.Department] = []

    def CreateDepartment(self, request: Any, context: Any) -> admin_pb2.CreateDepartmentResponse:
        self.recorder.record("CreateDepartment", request, context, ADMIN_TOKEN)
        department = admin_pb2.Department(
            name=request.name, display_name=request.display_name, created_at=T0
        )
        self.departments.append(department)
        return admin_pb2.CreateDepartmentResponse(department=department, token="dept-secret-9")

    def ListDepartments(self, request: Any, context: Any) -> admin_pb2.ListDepartmentsResponse:
        self.recorder.record("ListDepartments", request, context, ADMIN_TOKEN)
        return admin_pb2.ListDepartmentsResponse(departments=self.departments)


@dataclass
class FakeScheduler:
    address: str
    recorder: Recorder
    jobs: FakeJobService
    departments: FakeDepartmentService

    department_token: str = DEPARTMENT_TOKEN
    admin_token: str = ADMIN_TOKEN

    def job_args(self, *args: str) -> list[str]:
        return ["--scheduler", self.address, "--token", DEPARTMENT_TOKEN, *args]

    def admin_args(self, *args: str) -> list[str]:
        return ["--scheduler", self.address, "--admin-token", ADMIN_TOKEN, *args]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer settings leak into a test: no SUANCHOU_* variables, an empty home."""
    for name in ("SUANCHOU_SCHEDULER", "SUANCHOU_TOKEN", "SUANCHOU_ADMIN_TOKEN", "SUANCHOU_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))


@pytest.fixture
def scheduler() -> Iterator[FakeScheduler]:
    recorder = Recorder()
    jobs = FakeJobService(recorder)
    departments = FakeDepartmentService(recorder)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    jobs_pb2_grpc.add_JobServiceServicer_to_server(jobs, server)
    admin_pb2_grpc.add_ClusterServiceServicer_to_server(FakeClusterService(recorder), server)
    admin_pb2_grpc.add_DepartmentServiceServicer_to_server(departments, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield FakeScheduler(f"127.0.0.1:{port}", recorder, jobs, departments)
    finally:
        server.stop(grace=None)
