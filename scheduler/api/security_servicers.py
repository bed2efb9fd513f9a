"""Thin servicers for principals, tokens and the audit log. Errors are mapped by the
interceptor; who may call what is the table in scheduler.api.authz."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from protos.suanchou.v1 import audit_pb2, audit_pb2_grpc, security_pb2, security_pb2_grpc
from scheduler.api import convert_security as cs
from scheduler.service.audit import AuditService
from scheduler.service.credentials import CredentialsService


class PrincipalServicer(security_pb2_grpc.PrincipalServiceServicer):
    def __init__(self, credentials: CredentialsService) -> None:
        self._credentials = credentials

    def CreatePrincipal(
        self, request: security_pb2.CreatePrincipalRequest, context: grpc.ServicerContext
    ) -> security_pb2.CreatePrincipalResponse:
        principal, token, info = self._credentials.create_principal(request.name, request.role)
        return security_pb2.CreatePrincipalResponse(
            principal=cs.principal_to_proto(principal),
            token=token,
            token_info=cs.token_to_proto(info),
        )

    def ListPrincipals(
        self, request: security_pb2.ListPrincipalsRequest, context: grpc.ServicerContext
    ) -> security_pb2.ListPrincipalsResponse:
        return security_pb2.ListPrincipalsResponse(
            principals=[cs.principal_to_proto(p) for p in self._credentials.list_principals()]
        )


class TokenServicer(security_pb2_grpc.TokenServiceServicer):
    def __init__(self, credentials: CredentialsService) -> None:
        self._credentials = credentials

    def IssueToken(
        self, request: security_pb2.IssueTokenRequest, context: grpc.ServicerContext
    ) -> security_pb2.IssueTokenResponse:
        token, info = self._credentials.issue(request.kind, request.principal)
        return security_pb2.IssueTokenResponse(token=token, token_info=cs.token_to_proto(info))

    def ListTokens(
        self, request: security_pb2.ListTokensRequest, context: grpc.ServicerContext
    ) -> security_pb2.ListTokensResponse:
        tokens = self._credentials.list_tokens(
            request.kind, request.principal, request.include_revoked
        )
        return security_pb2.ListTokensResponse(tokens=[cs.token_to_proto(t) for t in tokens])

    def RotateToken(
        self, request: security_pb2.RotateTokenRequest, context: grpc.ServicerContext
    ) -> security_pb2.RotateTokenResponse:
        token, info, revoked = self._credentials.rotate(request.token_id)
        return security_pb2.RotateTokenResponse(
            token=token, token_info=cs.token_to_proto(info), revoked=cs.token_to_proto(revoked)
        )

    def RevokeToken(
        self, request: security_pb2.RevokeTokenRequest, context: grpc.ServicerContext
    ) -> security_pb2.RevokeTokenResponse:
        info = self._credentials.revoke(request.token_id)
        return security_pb2.RevokeTokenResponse(token_info=cs.token_to_proto(info))


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    def __init__(self, audits: AuditService) -> None:
        self._audits = audits

    def ListAuditRecords(
        self, request: audit_pb2.ListAuditRecordsRequest, context: grpc.ServicerContext
    ) -> audit_pb2.ListAuditRecordsResponse:
        limit = request.page_size or 100
        records = self._audits.page(
            since=cs.time_from_proto(request.since, request.HasField("since"), "since"),
            until=cs.time_from_proto(request.until, request.HasField("until"), "until"),
            principal=request.principal,
            target=request.target,
            after_seq=cs.decode_audit_page(request.page_token),
            limit=limit,
        )
        token = cs.encode_audit_page(records[-1].seq) if len(records) == limit else ""
        return audit_pb2.ListAuditRecordsResponse(
            records=[cs.record_to_proto(r) for r in records], next_page_token=token
        )

    def ExportAuditRecords(
        self, request: audit_pb2.ExportAuditRecordsRequest, context: grpc.ServicerContext
    ) -> Iterator[audit_pb2.AuditRecord]:
        records = self._audits.export(
            since=cs.time_from_proto(request.since, request.HasField("since"), "since"),
            until=cs.time_from_proto(request.until, request.HasField("until"), "until"),
            principal=request.principal,
            target=request.target,
        )
        for record in records:
            if not context.is_active():
                return
            yield cs.record_to_proto(record)

    def VerifyAuditChain(
        self, request: audit_pb2.VerifyAuditChainRequest, context: grpc.ServicerContext
    ) -> audit_pb2.VerifyAuditChainResponse:
        check = self._audits.verify()
        return audit_pb2.VerifyAuditChainResponse(
            ok=check.ok,
            checked=check.checked,
            first_broken_seq=check.first_broken_seq,
            message=check.message,
            anchor_seq=check.anchor_seq,
        )
