"""`suanchou principal ...` and `suanchou token ...`: named principals and tokens
(security-admin; `principal create` also with the bootstrap token)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from protos.suanchou.v1 import security_pb2, security_pb2_grpc
from scheduler.cli import render
from scheduler.cli.connection import CALL_TIMEOUT_SECONDS, bearer, open_channel
from scheduler.cli.errors import EXIT_OK
from scheduler.cli.settings import Settings

TOKEN_NOTE = (
    "note: this token is shown only this once (the scheduler keeps only its hash); store it "
    "in a file readable only by its holder and pass it with --admin-token-file or --token-file"
)


def create_principal(args: argparse.Namespace, settings: Settings) -> int:
    token = settings.admin()
    with open_channel(settings) as channel:
        response = security_pb2_grpc.PrincipalServiceStub(channel).CreatePrincipal(
            security_pb2.CreatePrincipalRequest(name=args.name, role=args.role),
            metadata=bearer(token),
            timeout=CALL_TIMEOUT_SECONDS,
        )
    render.token_reply(
        response,
        args.json,
        [
            f"created {response.principal.role} {response.principal.name}",
            f"token id: {response.token_info.token_id}",
            f"token: {response.token}",
        ],
        TOKEN_NOTE,
    )
    return EXIT_OK


def list_principals(args: argparse.Namespace, settings: Settings) -> int:
    token = settings.admin()
    with open_channel(settings) as channel:
        response = security_pb2_grpc.PrincipalServiceStub(channel).ListPrincipals(
            security_pb2.ListPrincipalsRequest(),
            metadata=bearer(token),
            timeout=CALL_TIMEOUT_SECONDS,
        )
    if args.json:
        print(render.dumps(render.message_dict(response)))
        return EXIT_OK
    rows = [
        [p.name, p.role, p.created_by, render.local_time(p.created_at)] for p in response.principals
    ]
    print(render.table(["NAME", "ROLE", "CREATED BY", "CREATED"], rows))
    return EXIT_OK


def list_tokens(args: argparse.Namespace, settings: Settings) -> int:
    token = settings.admin()
    with open_channel(settings) as channel:
        response = security_pb2_grpc.TokenServiceStub(channel).ListTokens(
            security_pb2.ListTokensRequest(
                kind=args.kind, principal=args.principal, include_revoked=args.all
            ),
            metadata=bearer(token),
            timeout=CALL_TIMEOUT_SECONDS,
        )
    if args.json:
        print(render.dumps(render.message_dict(response)))
    else:
        print(token_table(response.tokens))
    return EXIT_OK


def token_table(tokens: Sequence[security_pb2.TokenInfo]) -> str:
    rows = [
        [
            t.token_id,
            t.kind,
            t.principal,
            t.created_by,
            render.local_time(t.created_at),
            render.local_time(t.revoked_at) if t.HasField("revoked_at") else "-",
        ]
        for t in tokens
    ]
    return render.table(["ID", "KIND", "PRINCIPAL", "CREATED BY", "CREATED", "REVOKED"], rows)


def issue_token(args: argparse.Namespace, settings: Settings) -> int:
    token = settings.admin()
    with open_channel(settings) as channel:
        response = security_pb2_grpc.TokenServiceStub(channel).IssueToken(
            security_pb2.IssueTokenRequest(kind=args.kind, principal=args.principal),
            metadata=bearer(token),
            timeout=CALL_TIMEOUT_SECONDS,
        )
    info = response.token_info
    render.token_reply(
        response,
        args.json,
        [f"issued {info.token_id} for {info.kind} {info.principal}", f"token: {response.token}"],
        TOKEN_NOTE,
    )
    return EXIT_OK


def rotate_token(args: argparse.Namespace, settings: Settings) -> int:
    token = settings.admin()
    with open_channel(settings) as channel:
        response = security_pb2_grpc.TokenServiceStub(channel).RotateToken(
            security_pb2.RotateTokenRequest(token_id=args.token_id),
            metadata=bearer(token),
            timeout=CALL_TIMEOUT_SECONDS,
        )
    info = response.token_info
    render.token_reply(
        response,
        args.json,
        [
            f"revoked {response.revoked.token_id}; issued {info.token_id} for {info.kind} "
            f"{info.principal}",
            f"token: {response.token}",
        ],
        TOKEN_NOTE,
    )
    return EXIT_OK


def revoke_token(args: argparse.Namespace, settings: Settings) -> int:
    token = settings.admin()
    with open_channel(settings) as channel:
        response = security_pb2_grpc.TokenServiceStub(channel).RevokeToken(
            security_pb2.RevokeTokenRequest(token_id=args.token_id),
            metadata=bearer(token),
            timeout=CALL_TIMEOUT_SECONDS,
        )
    if args.json:
        print(render.dumps(render.message_dict(response)))
    else:
        info = response.token_info
        print(f"revoked {info.token_id} of {info.kind} {info.principal}")
    return EXIT_OK
