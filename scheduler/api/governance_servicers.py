"""Thin servicer for priority classes (quotas are DepartmentService rpcs, in servicers.py)."""

from __future__ import annotations

import grpc

from protos.suanchou.v1 import governance_pb2, governance_pb2_grpc
from scheduler.api import convert_governance as cg
from scheduler.service.governance import GovernanceService


class PriorityClassServicer(governance_pb2_grpc.PriorityClassServiceServicer):
    def __init__(self, governance: GovernanceService) -> None:
        self._governance = governance

    def CreatePriorityClass(
        self, request: governance_pb2.CreatePriorityClassRequest, context: grpc.ServicerContext
    ) -> governance_pb2.PriorityClass:
        created = self._governance.create_priority_class(
            cg.priority_class_from_proto(request.priority_class)
        )
        return cg.priority_class_to_proto(created)

    def ListPriorityClasses(
        self, request: governance_pb2.ListPriorityClassesRequest, context: grpc.ServicerContext
    ) -> governance_pb2.ListPriorityClassesResponse:
        classes = self._governance.list_priority_classes()
        return governance_pb2.ListPriorityClassesResponse(
            priority_classes=[cg.priority_class_to_proto(pc) for pc in classes]
        )
