"""Thin servicers: decode -> use case -> encode. Errors are mapped by the interceptor."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from protos.suanchou.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    agent_pb2,
    agent_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
    types_pb2,
)
from scheduler.api import convert as cv
from scheduler.api import convert_agent as ca
from scheduler.api import convert_governance as cg
from scheduler.api import convert_output as co
from scheduler.api import paging
from scheduler.api.budget import Budget
from scheduler.api.interceptors import current_principal
from scheduler.api.peer_identity import require_certificate_for
from scheduler.service.admin import AdminService
from scheduler.service.agent_sync import AgentSyncService
from scheduler.service.auth import job_scope
from scheduler.service.governance import GovernanceService
from scheduler.service.jobs import JobsService
from scheduler.service.output import OutputService

WATCH_POLL_S = 1.0


class JobServicer(jobs_pb2_grpc.JobServiceServicer):
    def __init__(self, jobs: JobsService, reply_bytes: int, output: OutputService) -> None:
        self._jobs = jobs
        self._reply_bytes = reply_bytes
        self._output = output

    def SubmitJobs(
        self, request: jobs_pb2.SubmitJobsRequest, context: grpc.ServicerContext
    ) -> jobs_pb2.SubmitJobsResponse:
        outcomes = self._jobs.submit(current_principal().name, cv.submit_items_from_proto(request))
        return jobs_pb2.SubmitJobsResponse(
            results=[cv.submit_outcome_to_proto(o) for o in outcomes]
        )

    def GetJob(
        self, request: jobs_pb2.GetJobRequest, context: grpc.ServicerContext
    ) -> types_pb2.Job:
        scope = job_scope(current_principal(), "")
        return cv.job_view_to_proto(self._jobs.get(scope, request.job_id))

    def ListJobs(
        self, request: jobs_pb2.ListJobsRequest, context: grpc.ServicerContext
    ) -> jobs_pb2.ListJobsResponse:
        limit = paging.page_size(request.page_size)
        states = [cv.job_state_from_proto(s, f"states[{i}]") for i, s in enumerate(request.states)]
        views = self._jobs.page(
            job_scope(current_principal(), request.department),
            states=states,
            job_set=request.job_set,
            before_seq=paging.decode_page_token(request.page_token),
            limit=limit,
        )
        jobs, token = paging.page(
            views,
            cv.job_view_to_proto,
            self._reply_bytes,
            limit,
            lambda v: paging.encode_page_token(v.job.seq),
        )
        return jobs_pb2.ListJobsResponse(jobs=jobs, next_page_token=token)

    def CancelJobs(
        self, request: jobs_pb2.CancelJobsRequest, context: grpc.ServicerContext
    ) -> jobs_pb2.CancelJobsResponse:
        results = self._jobs.cancel(current_principal().name, list(request.job_ids), request.reason)
        out = jobs_pb2.CancelJobsResponse()
        for job_id, state, error in results:
            item = out.results.add(job_id=job_id)
            if state is not None:
                item.state = cv.job_state_to_proto(state)
            if error is not None:
                item.error.CopyFrom(cv.item_error_to_proto(error))
        return out

    def UpdateJob(
        self, request: jobs_pb2.UpdateJobRequest, context: grpc.ServicerContext
    ) -> types_pb2.Job:
        view = self._jobs.update(
            current_principal().name, request.job_id, cv.job_update_from_proto(request)
        )
        return cv.job_view_to_proto(view)

    def WatchEvents(
        self, request: jobs_pb2.WatchEventsRequest, context: grpc.ServicerContext
    ) -> Iterator[types_pb2.JobEvent]:
        department = job_scope(current_principal(), request.department)
        after = request.after_event_id
        # Wake the wait below as soon as the client goes away, not at the next poll.
        context.add_callback(self._jobs.wake_watchers)
        while context.is_active():
            # Read the version before the query so a commit in between is never missed.
            version = self._jobs.store_version
            events = self._jobs.events(
                department, after, job_set=request.job_set, job_id=request.job_id
            )
            for event in events:
                yield cv.event_to_proto(event)
                after = event.event_id
            if events:
                continue
            if not request.follow:
                return
            self._jobs.wait_for_events(version, WATCH_POLL_S)

    def ExplainJob(
        self, request: jobs_pb2.ExplainJobRequest, context: grpc.ServicerContext
    ) -> jobs_pb2.ExplainJobResponse:
        scope = job_scope(current_principal(), "")
        explanation = self._jobs.explain(scope, request.job_id)
        return cv.explanation_to_proto(explanation, Budget(self._reply_bytes))

    def ReadLogs(
        self, request: jobs_pb2.ReadLogsRequest, context: grpc.ServicerContext
    ) -> Iterator[jobs_pb2.LogChunk]:
        # Each message holds at most CHUNK_BYTES of output: far inside any reply budget.
        scope = job_scope(current_principal(), "")
        query = co.log_query_from_proto(request)
        context.add_callback(self._output.wake)
        for piece in self._output.read(scope, query, context.is_active):
            yield co.log_piece_to_proto(piece)


class ClusterServicer(admin_pb2_grpc.ClusterServiceServicer):
    def __init__(self, admin: AdminService, reply_bytes: int) -> None:
        self._admin = admin
        self._reply_bytes = reply_bytes

    def RegisterCluster(
        self, request: admin_pb2.RegisterClusterRequest, context: grpc.ServicerContext
    ) -> admin_pb2.RegisterClusterResponse:
        view, token = self._admin.register_cluster(cv.cluster_spec_from_proto(request.spec))
        return admin_pb2.RegisterClusterResponse(
            cluster=cv.cluster_view_to_proto(view), agent_token=token
        )

    def GetCluster(
        self, request: admin_pb2.GetClusterRequest, context: grpc.ServicerContext
    ) -> admin_pb2.Cluster:
        return cv.cluster_view_to_proto(
            self._admin.get_cluster(request.name),
            with_nodes=True,
            budget=Budget(self._reply_bytes),
        )

    def ListClusters(
        self, request: admin_pb2.ListClustersRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ListClustersResponse:
        limit = paging.page_size(request.page_size)
        views = self._admin.list_clusters(
            after=paging.decode_name_token(request.page_token), limit=limit
        )
        clusters, token = paging.page(
            views,
            cv.cluster_view_to_proto,
            self._reply_bytes,
            limit,
            lambda v: paging.encode_name_token(v.cluster.name),
        )
        return admin_pb2.ListClustersResponse(clusters=clusters, next_page_token=token)

    def CordonCluster(
        self, request: admin_pb2.CordonClusterRequest, context: grpc.ServicerContext
    ) -> admin_pb2.Cluster:
        return cv.cluster_view_to_proto(self._admin.cordon(request.name))

    def UncordonCluster(
        self, request: admin_pb2.UncordonClusterRequest, context: grpc.ServicerContext
    ) -> admin_pb2.Cluster:
        return cv.cluster_view_to_proto(self._admin.uncordon(request.name))

    def DeregisterCluster(
        self, request: admin_pb2.DeregisterClusterRequest, context: grpc.ServicerContext
    ) -> admin_pb2.DeregisterClusterResponse:
        result = self._admin.deregister(request.name, request.drain)
        return admin_pb2.DeregisterClusterResponse(
            removed=result.removed, cluster=cv.cluster_view_to_proto(result.view)
        )


class DepartmentServicer(admin_pb2_grpc.DepartmentServiceServicer):
    def __init__(
        self, admin: AdminService, governance: GovernanceService, reply_bytes: int
    ) -> None:
        self._admin = admin
        self._governance = governance
        self._reply_bytes = reply_bytes

    def CreateDepartment(
        self, request: admin_pb2.CreateDepartmentRequest, context: grpc.ServicerContext
    ) -> admin_pb2.CreateDepartmentResponse:
        dept, token = self._admin.create_department(
            request.name, request.display_name, request.parent
        )
        return admin_pb2.CreateDepartmentResponse(
            department=cv.department_to_proto(dept), token=token
        )

    def ListDepartments(
        self, request: admin_pb2.ListDepartmentsRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ListDepartmentsResponse:
        limit = paging.page_size(request.page_size)
        found = self._admin.list_departments(
            after=paging.decode_name_token(request.page_token), limit=limit
        )
        departments, token = paging.page(
            found,
            cv.department_to_proto,
            self._reply_bytes,
            limit,
            lambda d: paging.encode_name_token(d.name),
        )
        return admin_pb2.ListDepartmentsResponse(departments=departments, next_page_token=token)

    def GetDepartment(
        self, request: admin_pb2.GetDepartmentRequest, context: grpc.ServicerContext
    ) -> admin_pb2.Department:
        status = self._governance.get_department(current_principal(), request.name)
        return cg.status_to_proto(status)

    def SetQuota(
        self, request: admin_pb2.SetQuotaRequest, context: grpc.ServicerContext
    ) -> admin_pb2.Department:
        status = self._governance.set_quota(
            request.department,
            dict(request.cluster_selector),
            cg.quotas_from_proto(request.quotas),
        )
        return cg.status_to_proto(status)

    def SetDepartmentPriorityClasses(
        self, request: admin_pb2.SetDepartmentPriorityClassesRequest, context: grpc.ServicerContext
    ) -> admin_pb2.Department:
        dept = self._governance.set_priority_classes(
            request.department, list(request.priority_classes)
        )
        return cv.department_to_proto(dept)

    def SetDepartmentFairShareWeight(
        self, request: admin_pb2.SetDepartmentFairShareWeightRequest, context: grpc.ServicerContext
    ) -> admin_pb2.Department:
        dept = self._governance.set_fair_share_weight(request.department, request.weight)
        return cv.department_to_proto(dept)


class AgentServicer(agent_pb2_grpc.AgentServiceServicer):
    def __init__(
        self,
        sync: AgentSyncService,
        reply_bytes: int,
        output: OutputService,
        *,
        require_client_certificate: bool = False,
    ) -> None:
        self._sync = sync
        self._output = output
        self._reply_bytes = reply_bytes
        # Under mTLS the agent's certificate must also name its cluster (peer_identity.py).
        self._require_certificate = require_client_certificate

    def Sync(
        self, request: agent_pb2.SyncRequest, context: grpc.ServicerContext
    ) -> agent_pb2.SyncResponse:
        cluster = current_principal().name
        if self._require_certificate:
            require_certificate_for(context, cluster)
        nodes, reports = ca.sync_request_from_proto(request, cluster)
        reply = self._sync.sync(
            cluster, request.agent_id, nodes, reports, agent_error=request.last_error
        )
        return ca.sync_reply_to_proto(reply, Budget(self._reply_bytes))

    def AppendLogs(
        self, request: agent_pb2.AppendLogsRequest, context: grpc.ServicerContext
    ) -> agent_pb2.AppendLogsResponse:
        cluster = current_principal().name
        if self._require_certificate:
            require_certificate_for(context, cluster)
        cursors = self._output.append(cluster, co.chunks_from_proto(request))
        return co.cursors_to_proto(cursors)
