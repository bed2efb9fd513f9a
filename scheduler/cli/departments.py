"""`suanchou department create|list` (admin token); `get` and quotas: scheduler.cli.governance."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from protos.suanchou.v1 import admin_pb2, admin_pb2_grpc
from scheduler.cli import render
from scheduler.cli.connection import CALL_TIMEOUT_SECONDS, bearer, open_channel
from scheduler.cli.errors import EXIT_OK
from scheduler.cli.settings import ENV_TOKEN, Settings

TOKEN_NOTE = (
    "note: this token is shown only this once (the scheduler keeps only its hash); hand it to "
    f"the department now, to be used as --token or {ENV_TOKEN}"
)


def create(args: argparse.Namespace, settings: Settings) -> int:
    token = settings.admin()
    with open_channel(settings) as channel:
        response: admin_pb2.CreateDepartmentResponse = admin_pb2_grpc.DepartmentServiceStub(
            channel
        ).CreateDepartment(
            admin_pb2.CreateDepartmentRequest(
                name=args.name,
                display_name=args.name.rpartition("/")[2]
                if args.display_name is None
                else args.display_name,
                parent=args.parent,
            ),
            metadata=bearer(token),
            timeout=CALL_TIMEOUT_SECONDS,
        )
    department = response.department
    render.token_reply(
        response,
        args.json,
        [
            f"created department {department.name} ({department.display_name})",
            f"token: {response.token}",
        ],
        TOKEN_NOTE,
    )
    return EXIT_OK


def list_departments(args: argparse.Namespace, settings: Settings) -> int:
    token = settings.admin()
    response = admin_pb2.ListDepartmentsResponse()
    with open_channel(settings) as channel:
        stub = admin_pb2_grpc.DepartmentServiceStub(channel)
        page_token = ""
        while True:  # replies are paged (bounded in count and bytes); follow every page
            page: admin_pb2.ListDepartmentsResponse = stub.ListDepartments(
                admin_pb2.ListDepartmentsRequest(page_token=page_token),
                metadata=bearer(token),
                timeout=CALL_TIMEOUT_SECONDS,
            )
            response.departments.extend(page.departments)
            page_token = page.next_page_token
            if not page_token:
                break
    if args.json:
        print(render.dumps(render.message_dict(response)))
    else:
        print(department_table(response.departments))
    return EXIT_OK


def department_table(departments: Sequence[admin_pb2.Department]) -> str:
    rows = [
        [
            d.name,
            render.or_none(d.display_name),
            render.or_none(d.parent),
            render.local_time(d.created_at),
        ]
        for d in departments
    ]
    return render.table(["NAME", "DISPLAY NAME", "PARENT", "CREATED"], rows)
