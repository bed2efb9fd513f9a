"""The authorization table: every rpc of every suanchou service -> the roles that may call it,
whether it is audited as a mutation, and which ids of its request name its targets.

Built from the service descriptors, so a misspelt rpc fails at import; an rpc without a row
is denied to everyone (and tests/integration/test_authorization.py fails).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import ServiceDescriptor

from protos.suanchou.v1 import (
    admin_pb2,
    agent_pb2,
    audit_pb2,
    governance_pb2,
    jobs_pb2,
    security_pb2,
)
from scheduler.domain.security import Role

SERVICES: tuple[ServiceDescriptor, ...] = (
    jobs_pb2.DESCRIPTOR.services_by_name["JobService"],
    admin_pb2.DESCRIPTOR.services_by_name["ClusterService"],
    admin_pb2.DESCRIPTOR.services_by_name["DepartmentService"],
    agent_pb2.DESCRIPTOR.services_by_name["AgentService"],
    security_pb2.DESCRIPTOR.services_by_name["PrincipalService"],
    security_pb2.DESCRIPTOR.services_by_name["TokenService"],
    audit_pb2.DESCRIPTOR.services_by_name["AuditService"],
    governance_pb2.DESCRIPTOR.services_by_name["PriorityClassService"],
)
SERVICE_NAMES = tuple(s.full_name for s in SERVICES)


def _none(request: Any) -> list[str]:
    return []


@dataclass(frozen=True)
class Rule:
    roles: frozenset[Role]
    # Appends an audit record when called (mutations); denied calls are recorded regardless.
    mutating: bool = False
    # Recorded only when the use case reports a change (AgentService.Sync; see service.audit).
    conditional: bool = False
    # The ids in the request the call is about, recorded as audit targets.
    targets: Callable[[Any], list[str]] = _none


def method(service: ServiceDescriptor, name: str) -> str:
    """The full method path gRPC hands the interceptor: "/suanchou.v1.JobService/GetJob"."""
    return f"/{service.full_name}/{service.methods_by_name[name].name}"


_JOB, _CLUSTER, _DEPT, _AGENT, _PRINCIPAL, _TOKEN, _AUDIT, _CLASSES = SERVICES
_READ_JOBS = frozenset({Role.DEPARTMENT, Role.OPERATOR})
_ADMIN = frozenset({Role.ADMIN})
_ADMIN_READ = frozenset({Role.ADMIN, Role.OPERATOR})
_SECURITY = frozenset({Role.SECURITY_ADMIN})
_AUDITOR = frozenset({Role.AUDITOR})
# A department reads its own subtree only (the use case answers NOT_FOUND for the rest).
_DEPT_READ = frozenset({Role.ADMIN, Role.OPERATOR, Role.DEPARTMENT})
# Every named principal and department: the classes a job may name are no secret.
_AUTHENTICATED = frozenset(
    {Role.ADMIN, Role.OPERATOR, Role.DEPARTMENT, Role.SECURITY_ADMIN, Role.AUDITOR}
)


def _job_id(r: Any) -> list[str]:
    return [r.job_id] if r.job_id else []


def _name(r: Any) -> list[str]:
    return [r.name]


def _department(r: Any) -> list[str]:
    return [r.department]


def _token_id(r: Any) -> list[str]:
    return [r.token_id]


RULES: dict[str, Rule] = {
    method(_JOB, "SubmitJobs"): Rule(frozenset({Role.DEPARTMENT}), mutating=True),
    method(_JOB, "GetJob"): Rule(_READ_JOBS, targets=_job_id),
    method(_JOB, "ListJobs"): Rule(_READ_JOBS),
    method(_JOB, "CancelJobs"): Rule(
        frozenset({Role.DEPARTMENT}), mutating=True, targets=lambda r: list(r.job_ids[:50])
    ),
    method(_JOB, "UpdateJob"): Rule(frozenset({Role.DEPARTMENT}), mutating=True, targets=_job_id),
    method(_JOB, "WatchEvents"): Rule(_READ_JOBS, targets=_job_id),
    method(_JOB, "ExplainJob"): Rule(_READ_JOBS, targets=_job_id),
    # A department reads its own jobs' output only (the use case answers NOT_FOUND otherwise).
    method(_JOB, "ReadLogs"): Rule(_READ_JOBS, targets=_job_id),
    method(_CLUSTER, "RegisterCluster"): Rule(
        _ADMIN, mutating=True, targets=lambda r: [r.spec.name]
    ),
    method(_CLUSTER, "GetCluster"): Rule(_ADMIN_READ, targets=_name),
    method(_CLUSTER, "ListClusters"): Rule(_ADMIN_READ),
    method(_CLUSTER, "CordonCluster"): Rule(_ADMIN, mutating=True, targets=_name),
    method(_CLUSTER, "UncordonCluster"): Rule(_ADMIN, mutating=True, targets=_name),
    method(_CLUSTER, "DeregisterCluster"): Rule(_ADMIN, mutating=True, targets=_name),
    method(_DEPT, "CreateDepartment"): Rule(_ADMIN, mutating=True, targets=_name),
    method(_DEPT, "ListDepartments"): Rule(_ADMIN_READ),
    method(_DEPT, "GetDepartment"): Rule(_DEPT_READ, targets=_name),
    method(_DEPT, "SetQuota"): Rule(_ADMIN, mutating=True, targets=_department),
    method(_DEPT, "SetDepartmentPriorityClasses"): Rule(_ADMIN, mutating=True, targets=_department),
    method(_DEPT, "SetDepartmentFairShareWeight"): Rule(_ADMIN, mutating=True, targets=_department),
    method(_CLASSES, "CreatePriorityClass"): Rule(
        _ADMIN, mutating=True, targets=lambda r: [r.priority_class.name]
    ),
    method(_CLASSES, "ListPriorityClasses"): Rule(_AUTHENTICATED),
    method(_AGENT, "Sync"): Rule(frozenset({Role.AGENT}), mutating=True, conditional=True),
    # Job output is data, not a change of state: a record per shipment (every second per
    # agent) would bury the trail. Refused calls are still recorded.
    method(_AGENT, "AppendLogs"): Rule(frozenset({Role.AGENT})),
    # The bootstrap token may call this one rpc and nothing else.
    method(_PRINCIPAL, "CreatePrincipal"): Rule(
        frozenset({Role.SECURITY_ADMIN, Role.BOOTSTRAP}), mutating=True, targets=_name
    ),
    method(_PRINCIPAL, "ListPrincipals"): Rule(_SECURITY),
    method(_TOKEN, "IssueToken"): Rule(_SECURITY, mutating=True, targets=lambda r: [r.principal]),
    method(_TOKEN, "ListTokens"): Rule(_SECURITY),
    method(_TOKEN, "RotateToken"): Rule(_SECURITY, mutating=True, targets=_token_id),
    method(_TOKEN, "RevokeToken"): Rule(_SECURITY, mutating=True, targets=_token_id),
    method(_AUDIT, "ListAuditRecords"): Rule(_AUDITOR),
    method(_AUDIT, "ExportAuditRecords"): Rule(_AUDITOR),
    method(_AUDIT, "VerifyAuditChain"): Rule(_AUDITOR),
}
DENY_ALL = Rule(frozenset())


def rule_for(full_method: str) -> Rule:
    return RULES.get(full_method, DENY_ALL)
